package io.jaio.aio;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;
import java.util.function.BiConsumer;

/**
 * A one-shot result: completed once, with a value or a failure, and read by whoever waits for
 * it. jaio's one primitive for "complete a result, then let the waiter go on": the coroutine form
 * ({@code CoCompletion} of the coroutine package, which wakes the waiting coroutine) extends it, and
 * {@link AioContext#callOnHomeThread} uses it to release a blocked thread. A subclass may carry
 * further results (a CQE's {@code res}) in plain fields written before {@link #complete}: the
 * ordering argument below covers them too, and {@link #onCompleted()} is its wake-up hook.
 *
 * <p>Threads: completion from any thread, at most once; the readers from any thread.
 *
 * @param <T> the value's type
 */
public class OneShot<T> implements BiConsumer<T, Throwable> {
    /*
     * Memory ordering (the one argument). The completer claims the result with a CAS
     * (PENDING -> COMPLETING; a second completion fails there), writes the outcome plainly
     * (value, failure, a subclass's fields), then publishes it with a release store of DONE.
     * Every reader loads the state with acquire and reads the outcome only after it saw DONE. So
     * whoever sees DONE sees the whole outcome, on whatever thread it runs and however it got
     * there: the same thread, the virtual-thread engine's baton, another context's scheduling
     * bottom half, a thread polling isDone(), or a parked thread that onCompleted() unparked.
     */

    private static final int PENDING = 0;
    private static final int COMPLETING = 1;
    private static final int DONE = 2;
    private static final VarHandle STATE;

    static {
        try {
            STATE = MethodHandles.lookup().findVarHandle(OneShot.class, "state", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Via STATE: CAS to claim, setRelease(DONE) to publish, getAcquire to read (see overview). */
    @SuppressWarnings("unused")
    private int state;
    /** Written by the completer before the release of DONE; read after the acquire of DONE. */
    private T value;
    private Throwable failure;

    /** A pending result. Any thread. */
    public OneShot() {
    }

    /**
     * Completes with {@code value}, then runs {@link #onCompleted()}. Any thread, once.
     *
     * @param value the result, may be null
     * @throws IllegalStateException if it was already completed
     */
    public final void complete(T value) {
        finish(value, null);
    }

    /**
     * Completes with {@code failure}, then runs {@link #onCompleted()}. Any thread, once.
     *
     * @param failure what went wrong
     * @throws IllegalStateException if it was already completed
     */
    public final void fail(Throwable failure) {
        finish(null, Objects.requireNonNull(failure, "failure"));
    }

    /**
     * Completes with {@code value} if {@code failure} is null, else fails: the shape of a
     * {@code ThreadPool.submitAio} callback. Any thread, once.
     */
    @Override
    public final void accept(T value, Throwable failure) {
        finish(value, failure);
    }

    private void finish(T value, Throwable failure) {
        if (!STATE.compareAndSet(this, PENDING, COMPLETING)) {
            throw new IllegalStateException(getClass().getSimpleName() + " completed twice");
        }
        this.value = value;
        this.failure = failure;
        STATE.setRelease(this, DONE); // publishes the outcome: pairs with getAcquire in isDone()
        onCompleted();
    }

    /**
     * Runs in the completing thread right after the outcome was published: a subclass wakes its
     * waiter here. Does nothing by default.
     */
    protected void onCompleted() {
    }

    /** {@return whether it was completed} Acquire: the outcome is visible once this is true. Any thread. */
    public final boolean isDone() {
        return (int) STATE.getAcquire(this) == DONE;
    }

    /** {@return the value, once {@link #isDone()} returned true (else null)} Any thread. */
    public final T value() {
        return isDone() ? value : null;
    }

    /** {@return the failure, once {@link #isDone()} returned true (else null)} Any thread. */
    public final Throwable failure() {
        return isDone() ? failure : null;
    }
}
