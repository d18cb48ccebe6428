package io.jaio.coroutine;

import io.jaio.aio.OneShot;
import io.jaio.aio.Throwables;

/**
 * A one-shot result that a coroutine waits for: completed once, with a value or a failure, by a
 * callback in the coroutine's context, which then wakes the coroutine. This is the pattern QEMU
 * writes by hand in every coroutine-facing completion ({@code thread_pool_submit_co},
 * {@code luring_co_submit}: store {@code ret}, then {@code aio_co_wake} unless
 * {@code qemu_coroutine_entered}); jaio writes it once, on {@link OneShot}, whose release/acquire
 * pair is the ordering argument.
 *
 * <pre>{@code
 * CoCompletion<Integer> c = new CoCompletion<>();   // inside the coroutine that will wait
 * pool.submitAio(work, c);                          // the callback completes it in the home thread
 * int v = c.await();                                // yields until then
 * }</pre>
 *
 * <p>The waiter is the coroutine that created the completion (none when it was created outside a
 * coroutine: then a thread polls {@link #isDone()}, e.g. through {@code AioWait.waitWhile}).
 *
 * <p>Threads: {@link #complete}, {@link #fail} and {@link #accept} run in the home thread of the
 * waiter's context (so never while the waiter runs); {@link #await()} in the waiting coroutine;
 * {@link #isDone()}, {@link #value()} and {@link #failure()} in any thread.
 *
 * @param <T> the value's type
 */
public class CoCompletion<T> extends OneShot<T> {
    /*
     * Wake-up. Completion runs in the waiter's home thread, so not while the waiter runs (on the
     * virtual-thread engine the home thread is parked in resume() while it does). Either the
     * waiter has yielded in await() — it is not entered, and wake() enters it exactly once — or
     * it has not reached await() yet, or is entered (suspended inside a coroutine it entered):
     * then it checks DONE itself before it yields, and a wake() would be spurious, so none is
     * made (QEMU's "wake unless entered"). Memory ordering: OneShot's, nothing more.
     */

    /** The coroutine to wake, or null (a polling waiter). */
    private final Coroutine waiter;

    /** A pending completion whose waiter is the calling coroutine (none outside coroutines). Any thread. */
    public CoCompletion() {
        this.waiter = Coroutine.self();
    }

    /** Wakes the waiter unless it is entered (see the overview). The completing (home) thread. */
    @Override
    protected final void onCompleted() {
        Coroutine co = waiter;
        if (co != null && !co.isEntered()) {
            co.wake();
        }
    }

    /**
     * Yields until completed (a wake-up from anyone else just yields again), then returns the
     * value or throws the failure as is, checked ones included although none is declared.
     * The waiting coroutine only.
     *
     * @return the value
     * @throws IllegalStateException outside the coroutine that created the completion
     */
    public final T await() {
        if (waiter == null || Coroutine.self() != waiter) {
            throw new IllegalStateException("CoCompletion.await() must run in the coroutine that created it");
        }
        while (!isDone()) {
            Coroutine.yield();
        }
        Throwable failure = failure();
        if (failure != null) {
            throw Throwables.sneakyThrow(failure);
        }
        return value();
    }
}
