package io.jaio.coroutine;

import io.jaio.aio.Throwables;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.function.BiConsumer;

/**
 * A one-shot result that a coroutine waits for: completed once, with a value or a failure, by a
 * callback in the coroutine's context, which then wakes the coroutine. This is the pattern QEMU
 * writes by hand in every coroutine-facing completion ({@code thread_pool_submit_co},
 * {@code luring_co_submit}: store {@code ret}, then {@code aio_co_wake} unless
 * {@code qemu_coroutine_entered}); jaio writes it once.
 *
 * <pre>{@code
 * CoCompletion<Integer> c = new CoCompletion<>();   // inside the coroutine that will wait
 * pool.submitAio(work, c);                          // the callback completes it in the home thread
 * int v = c.await();                                // yields until then
 * }</pre>
 *
 * <p>The waiter is the coroutine that created the completion (none when it was created outside a
 * coroutine: then a thread polls {@link #isDone()}, e.g. through {@code AioWait.waitWhile}). A
 * subclass may carry further results (a CQE's {@code res}) in plain fields written before
 * {@link #complete}: the ordering argument below covers them too.
 *
 * <p>Threads: {@link #complete}, {@link #fail} and {@link #accept} run in the home thread of the
 * waiter's context (so they never run while the waiter runs); {@link #await()} in the waiting
 * coroutine; {@link #isDone()}, {@link #value()} and {@link #failure()} in any thread.
 */
public class CoCompletion<T> implements BiConsumer<T, Throwable> {
    /*
     * Memory ordering (the one argument). The completer claims the completion with a CAS
     * (PENDING -> COMPLETING; a second completion fails there), writes the outcome plainly
     * (value, failure, a subclass's fields), then publishes it with a release store of DONE. Every
     * reader loads the state with acquire and reads the outcome only after it saw DONE. So whoever
     * sees DONE sees the whole outcome, on whatever thread it runs and however it got there: the
     * same thread, the virtual-thread engine's baton, the scheduling bottom half of another
     * context, or a thread polling isDone().
     *
     * Wake-up. complete() runs in the waiter's home thread, so not while the waiter runs (on the
     * virtual-thread engine the home thread is parked in resume() while it does). Either the waiter
     * has yielded in await() — it is not entered, and wake() enters it exactly once — or it has
     * not reached await() yet, or is entered (suspended inside a coroutine it entered): then it
     * checks DONE itself before it yields, and a wake() would be spurious, so none is made (QEMU's
     * "wake unless entered").
     */

    private static final int PENDING = 0;
    private static final int COMPLETING = 1;
    private static final int DONE = 2;
    private static final VarHandle STATE;

    static {
        try {
            STATE = MethodHandles.lookup().findVarHandle(CoCompletion.class, "state", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** The coroutine to wake, or null (a polling waiter). */
    private final Coroutine waiter;
    /** Via STATE: CAS to claim, setRelease(DONE) to publish, getAcquire to read (see overview). */
    @SuppressWarnings("unused")
    private int state;
    /** Written by the completer before the release of DONE; read after the acquire of DONE. */
    private T value;
    private Throwable failure;

    /** A pending completion whose waiter is the calling coroutine (none outside coroutines). Any thread. */
    public CoCompletion() {
        this.waiter = Coroutine.self();
    }

    /**
     * Completes with {@code value} and wakes the waiter unless it is entered. The waiter's home thread.
     *
     * @throws IllegalStateException if it was already completed
     */
    public final void complete(T value) {
        finish(value, null);
    }

    /**
     * Completes with {@code failure}, which {@link #await()} throws. The waiter's home thread.
     *
     * @throws IllegalStateException if it was already completed
     */
    public final void fail(Throwable failure) {
        finish(null, java.util.Objects.requireNonNull(failure, "failure"));
    }

    /**
     * Completes with {@code value} if {@code failure} is null, else fails: the shape of a
     * {@code ThreadPool.submitAio} callback. The waiter's home thread.
     */
    @Override
    public final void accept(T value, Throwable failure) {
        finish(value, failure);
    }

    private void finish(T value, Throwable failure) {
        if (!STATE.compareAndSet(this, PENDING, COMPLETING)) {
            throw new IllegalStateException("CoCompletion completed twice");
        }
        this.value = value;
        this.failure = failure;
        STATE.setRelease(this, DONE); // publishes the outcome: pairs with getAcquire in isDone()
        Coroutine co = waiter;
        if (co != null && !co.isEntered()) { // QEMU: wake unless entered (it sees DONE on its own)
            co.wake();
        }
    }

    /** Whether it was completed (acquire: the outcome is visible once this is true). Any thread. */
    public final boolean isDone() {
        return (int) STATE.getAcquire(this) == DONE;
    }

    /**
     * Yields until completed (a wake-up from anyone else just yields again), then returns the
     * value or throws the failure as is, checked ones included although none is declared.
     * The waiting coroutine only.
     *
     * @throws IllegalStateException outside the coroutine that created the completion
     */
    public final T await() {
        if (waiter == null || Coroutine.self() != waiter) {
            throw new IllegalStateException("CoCompletion.await() must run in the coroutine that created it");
        }
        while (!isDone()) {
            Coroutine.yield();
        }
        if (failure != null) {
            throw Throwables.sneakyThrow(failure);
        }
        return value;
    }

    /** The value, once {@link #isDone()} returned true (else null). Any thread. */
    public final T value() {
        return isDone() ? value : null;
    }

    /** The failure, once {@link #isDone()} returned true (else null). Any thread. */
    public final Throwable failure() {
        return isDone() ? failure : null;
    }
}
