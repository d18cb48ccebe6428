package io.jaio.coroutine;

import io.jaio.aio.ThreadPool;

import java.util.Objects;
import java.util.concurrent.Callable;

/**
 * Coroutine-side use of a context's {@link ThreadPool} (QEMU's {@code thread_pool_submit_co}).
 * It lives here, not on {@code ThreadPool}, so that {@code io.jaio.aio} does not depend on
 * coroutines.
 */
public final class ThreadPools {
    private ThreadPools() {}

    /**
     * Runs {@code work} in a worker thread of {@code pool} and returns its result to the calling
     * coroutine (QEMU's {@code thread_pool_submit_co}): submits it with
     * {@link ThreadPool#submitAio}, yields, and is woken by the completion callback in the home
     * thread. An exception thrown by {@code work} is rethrown as is, checked ones included
     * although the method declares none (so that it matches QEMU's call shape); catch
     * {@code Exception} to see checked ones.
     *
     * <p>Inside a coroutine running in the pool's home thread only.
     *
     * @param <T> the work's result type
     * @param pool the home context's thread pool
     * @param work the blocking work; runs in a worker thread
     * @return what {@code work} returned
     * @throws IllegalStateException outside a coroutine, off the home thread, or once closed
     */
    public static <T> T submitCo(ThreadPool pool, Callable<T> work) {
        Objects.requireNonNull(pool, "pool");
        if (!Coroutine.inCoroutine()) {
            throw new IllegalStateException("ThreadPool.submitCo() must run inside a coroutine; use submitAio()");
        }
        CoCompletion<T> done = new CoCompletion<>();
        pool.submitAio(work, done); // the callback never runs inside submitAio
        return done.await();
    }
}
