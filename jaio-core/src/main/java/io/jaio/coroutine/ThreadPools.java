package io.jaio.coroutine;

import io.jaio.aio.ThreadPool;

import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.function.BiConsumer;

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
     * @throws IllegalStateException outside a coroutine, off the home thread, or once closed
     */
    public static <T> T submitCo(ThreadPool pool, Callable<T> work) {
        Objects.requireNonNull(pool, "pool");
        if (!Coroutine.inCoroutine()) {
            throw new IllegalStateException("ThreadPool.submitCo() must run inside a coroutine; use submitAio()");
        }
        CoWaiter<T> w = new CoWaiter<>(Coroutine.self());
        pool.submitAio(work, w);
        while (!w.done) { // the callback never runs inside submitAio; a foreign wake just re-yields
            Coroutine.yield();
        }
        if (w.error != null) {
            throw ThreadPools.<RuntimeException>sneakyThrow(w.error);
        }
        return w.value;
    }

    /**
     * submitCo's completion callback: store the outcome, then wake the coroutine. Runs in the home
     * thread; the fields are plain because the coroutine reads them only after this wake resumed it
     * (same thread, or the virtual-thread engine's baton hand-off, which orders them).
     */
    private static final class CoWaiter<T> implements BiConsumer<T, Throwable> {
        private final Coroutine co;
        T value;
        Throwable error;
        boolean done;

        CoWaiter(Coroutine co) {
            this.co = co;
        }

        @Override
        public void accept(T value, Throwable error) {
            this.value = value;
            this.error = error;
            this.done = true;
            co.wake();
        }
    }

    @SuppressWarnings("unchecked")
    private static <E extends Throwable> E sneakyThrow(Throwable t) throws E {
        throw (E) t;
    }
}
