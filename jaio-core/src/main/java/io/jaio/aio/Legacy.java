package io.jaio.aio;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The state behind QEMU's legacy API, in one place (aio-semantics.md §1.5, §15): the recursive
 * context lock ({@code aio_context_acquire/release}) and the external-client disable count
 * ({@code aio_disable_external}, the {@code is_external} flag of fd handlers). QEMU has since
 * removed both; jaio keeps them because the seed API has them,
 * and {@link AioContext}'s methods for them are deprecated.
 */
final class Legacy {
    private final ReentrantLock lock = new ReentrantLock();
    /** Any thread: CAS loops; read by the home thread while dispatching. */
    private final AtomicInteger externalDisableCnt = new AtomicInteger();

    void acquire() {
        lock.lock();
    }

    void release() {
        lock.unlock();
    }

    void disableExternal() {
        externalDisableCnt.incrementAndGet();
    }

    /** Returns true if this was the last disable (the caller wakes the loop). */
    boolean enableExternal() {
        int v;
        do {
            v = externalDisableCnt.get();
            if (v == 0) {
                throw new IllegalStateException("enableExternal() without a matching disableExternal()");
            }
        } while (!externalDisableCnt.compareAndSet(v, v - 1));
        return v == 1;
    }

    boolean externalDisabled() {
        return externalDisableCnt.get() > 0;
    }
}
