package io.jaio.coroutine;

/**
 * A fair readers-writer lock for coroutines (QEMU's ticket-based {@code CoRwlock}): any number
 * of readers or one writer; coroutines that must wait queue in arrival order, and a reader
 * arriving while anyone is queued queues too, so writers are not starved. Waiters are woken in
 * their own contexts.
 *
 * <p>Every method must be called inside a coroutine, from any thread. {@link #unlock()},
 * {@link #upgrade()} and {@link #downgrade()} must be called by a coroutine holding the lock in
 * the matching mode. A coroutine that ends while holding it fails (see {@link Coroutine}).
 */
public final class CoRwLock {
    /*
     * Implementation overview (for maintainers; docs/design/aio-semantics.md 12.7, QEMU >= 6.1).
     *
     * `owners` > 0: that many readers; -1: a writer; 0: free. `tickets` is a FIFO of waiting
     * coroutines with the mode they want. Both are guarded by the internal CoMutex `mutex`.
     * Whoever wakes a ticket has already counted it in `owners` (maybeWakeOne), so the woken
     * coroutine owns the lock when it resumes and nothing can sneak in between unlock and wake.
     * A woken reader wakes the next ticket if it is compatible, which chains readers.
     */

    private final CoMutex mutex = new CoMutex();
    /** Guarded by {@link #mutex}. */
    private int owners;
    private Ticket head;
    private Ticket tail;

    /** An unlocked readers-writer lock (QEMU's {@code qemu_co_rwlock_init}). */
    public CoRwLock() {}

    private static final class Ticket {
        final boolean read;
        final Coroutine co;
        Ticket next;

        Ticket(boolean read, Coroutine co) {
            this.read = read;
            this.co = co;
        }
    }

    /**
     * Takes a read share, yielding while a writer holds the lock or anyone is queued (QEMU's
     * {@code qemu_co_rwlock_rdlock}). Inside a coroutine.
     */
    public void readLock() {
        Coroutine self = Coroutine.requireSelf("CoRwLock.readLock()");
        mutex.lock();
        if (owners == 0 || (owners > 0 && head == null)) { // for fairness, wait if a writer is in line
            owners++;
            mutex.unlock();
        } else {
            enqueue(new Ticket(true, self));
            mutex.unlock();
            Coroutine.yield();
            assert owners >= 1;
            mutex.lock();
            maybeWakeOne(); // possibly the next reader, which wakes the one after it
        }
        self.locksHeld++;
    }

    /**
     * Takes the lock exclusively, yielding while anyone holds it (QEMU's
     * {@code qemu_co_rwlock_wrlock}). Inside a coroutine.
     */
    public void writeLock() {
        Coroutine self = Coroutine.requireSelf("CoRwLock.writeLock()");
        mutex.lock();
        if (owners == 0) {
            owners = -1;
            mutex.unlock();
        } else {
            enqueue(new Ticket(false, self));
            mutex.unlock();
            Coroutine.yield();
            assert owners == -1;
        }
        self.locksHeld++;
    }

    /**
     * Releases a read share or the write lock, then wakes the next ticket if it can run (QEMU's
     * {@code qemu_co_rwlock_unlock}). Inside a coroutine that holds the lock.
     *
     * @throws IllegalStateException if the lock is free
     */
    public void unlock() {
        Coroutine self = Coroutine.requireSelf("CoRwLock.unlock()");
        mutex.lock();
        if (owners > 0) {
            owners--;
        } else if (owners == -1) {
            owners = 0;
        } else {
            mutex.unlock();
            throw new IllegalStateException("CoRwLock.unlock() of a lock that is not held");
        }
        self.locksHeld--;
        maybeWakeOne();
    }

    /**
     * Turns the caller's write lock into a read share and admits the next queued reader, if any
     * (QEMU's {@code qemu_co_rwlock_downgrade}). Inside the coroutine holding the write lock.
     *
     * @throws IllegalStateException if the lock is not held for writing
     */
    public void downgrade() {
        Coroutine.requireSelf("CoRwLock.downgrade()");
        mutex.lock();
        if (owners != -1) {
            mutex.unlock();
            throw new IllegalStateException("CoRwLock.downgrade() without the write lock");
        }
        owners = 1;
        maybeWakeOne();
    }

    /**
     * Turns the caller's read share into the write lock (QEMU's {@code qemu_co_rwlock_upgrade}):
     * at once if it is the only reader and no one is queued; otherwise it gives up its share,
     * queues for the write lock behind everyone already queued, and yields until granted.
     * Inside a coroutine holding a read share.
     *
     * @throws IllegalStateException if the lock is not held for reading
     */
    public void upgrade() {
        Coroutine self = Coroutine.requireSelf("CoRwLock.upgrade()");
        mutex.lock();
        if (owners <= 0) {
            mutex.unlock();
            throw new IllegalStateException("CoRwLock.upgrade() without a read share");
        }
        if (owners == 1 && head == null) { // for fairness, wait if a writer is in line
            owners = -1;
            mutex.unlock();
        } else {
            owners--;
            enqueue(new Ticket(false, self));
            maybeWakeOne();
            Coroutine.yield();
            assert owners == -1;
        }
    }

    /** Holding {@link #mutex}. */
    private void enqueue(Ticket t) {
        if (tail == null) {
            head = t;
        } else {
            tail.next = t;
        }
        tail = t;
    }

    /**
     * Grants the head ticket if it is compatible, then releases {@link #mutex} and wakes it
     * (QEMU's {@code qemu_co_rwlock_maybe_wake_one}). Holding {@link #mutex}; releases it.
     */
    private void maybeWakeOne() {
        Ticket t = head;
        Coroutine co = null;
        if (t != null) {
            if (t.read) {
                if (owners >= 0) {
                    owners++;
                    co = t.co;
                }
            } else if (owners == 0) {
                owners = -1;
                co = t.co;
            }
        }
        if (co != null) {
            head = t.next;
            if (head == null) {
                tail = null;
            }
            mutex.unlock();
            co.wake();
        } else {
            mutex.unlock();
        }
    }

    @Override
    public String toString() {
        return "CoRwLock[owners=" + owners + "]";
    }
}
