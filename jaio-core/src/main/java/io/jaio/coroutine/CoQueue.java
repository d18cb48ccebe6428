package io.jaio.coroutine;

/**
 * A FIFO of suspended coroutines, the coroutine equivalent of a condition variable (QEMU's
 * {@code CoQueue}).
 *
 * <pre>{@code
 * mutex.lock();
 * while (!ready) {
 *     queue.await(mutex);   // releases the mutex while waiting, takes it again before returning
 * }
 * mutex.unlock();
 * ...
 * mutex.lock(); ready = true; queue.restartAll(); mutex.unlock();
 * }</pre>
 *
 * <p>The queue itself is not thread-safe: every call must hold the {@link CoMutex} that waiters
 * pass to {@link #await}, or all users must run in one context (then {@code await(null)} is
 * fine). Waking is lost-wake-up free across threads: a waiter in another context is woken
 * through that context's scheduling bottom half, which can only enter it after it has yielded.
 */
public final class CoQueue {

    /** Linked through {@link Coroutine#queueNext}; guarded by the user's lock (see the class comment). */
    private Coroutine head;
    private Coroutine tail;

    /** An empty queue (QEMU's {@code qemu_co_queue_init}). */
    public CoQueue() {}

    /**
     * Appends the calling coroutine, releases {@code lock} (if not null), yields until woken by
     * {@link #next()} or {@link #restartAll()}, then takes {@code lock} again (QEMU's
     * {@code qemu_co_queue_wait}). Inside a coroutine.
     *
     * @param lock a mutex the caller holds, released while waiting; or null
     * @throws IllegalStateException outside a coroutine
     */
    public void await(CoMutex lock) {
        Coroutine self = Coroutine.requireSelf("CoQueue.await()");
        self.queueNext = null;
        if (tail == null) {
            head = self;
        } else {
            tail.queueNext = self;
        }
        tail = self;
        if (lock != null) {
            lock.unlock();
        }
        // No lost wake-up: a waker in another context schedules us in ours, where the
        // scheduling BH can only run after this yield.
        Coroutine.yield();
        if (lock != null) {
            lock.lock();
        }
    }

    /**
     * Wakes the oldest waiter ({@link Coroutine#wake()}) and returns true, or returns false if
     * the queue is empty (QEMU's {@code qemu_co_queue_next}). Inside or outside a coroutine;
     * from outside, in the waiter's own context, the waiter runs before this returns.
     *
     * @return whether a waiter was woken
     */
    public boolean next() {
        Coroutine co = head;
        if (co == null) {
            return false;
        }
        head = co.queueNext;
        if (head == null) {
            tail = null;
        }
        co.queueNext = null;
        co.wake();
        return true;
    }

    /**
     * Wakes every coroutine waiting now, oldest first (QEMU's {@code qemu_co_queue_restart_all}).
     * A woken coroutine that waits again (possible when it runs at once, from outside a
     * coroutine) waits for the next wake-up. Same callers as {@link #next()}.
     */
    public void restartAll() {
        Coroutine co = head;
        head = null;
        tail = null;
        while (co != null) {
            Coroutine next = co.queueNext; // before wake(): waking reuses the link
            co.queueNext = null;
            co.wake();
            co = next;
        }
    }

    /** {@return whether no coroutine waits} (QEMU's {@code qemu_co_queue_empty}) Same callers as {@link #next()}. */
    public boolean isEmpty() {
        return head == null;
    }
}
