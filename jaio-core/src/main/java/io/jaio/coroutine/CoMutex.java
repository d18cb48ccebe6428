package io.jaio.coroutine;

import io.jaio.aio.AioContext;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A mutex for coroutines (QEMU's {@code CoMutex}): a coroutine that finds it locked yields
 * instead of blocking its thread. Fair: waiters get the lock in arrival order, and it is handed
 * to the next waiter directly on unlock, which wakes that waiter in its own context (so the
 * coroutines sharing a mutex may run in different threads). Not reentrant.
 *
 * <pre>{@code
 * mutex.lock();
 * try {
 *     ... // may yield; other coroutines of this context keep running
 * } finally {
 *     mutex.unlock();
 * }
 * }</pre>
 *
 * <p>Both methods must be called inside a coroutine, from any thread; a coroutine that ends
 * while holding the mutex fails (see {@link Coroutine}).
 */
public final class CoMutex {
    /*
     * Implementation overview (for maintainers): QEMU's lock-free CoMutex (util/qemu-coroutine-lock.c,
     * derived from OSv), docs/design/aio-semantics.md 12.6.
     *
     * `locked` counts the holder plus every coroutine between lock()'s increment and the end of
     * its wait. Waiters push a WaitRecord on the multi-producer stack `fromPush`; the single
     * consumer of the moment (an unlocker, or a locker that took the hand-off token) moves the
     * stack reversed onto `toPop`, so records pop in FIFO order.
     *
     * lock():
     *  1. CAS locked 0 -> 1: owned. If it was held by exactly one coroutine, spin up to 1000
     *     rounds, stopping early if the holder runs in our context (it cannot release while we
     *     spin) and retrying the CAS if locked drops to 0.
     *  2. getAndAdd(locked, 1); 0 -> owned. Else slow path:
     *  3. push our record (CAS: full fence), then read `handoff`. If a token is published, there
     *     are waiters, and we win the CAS token -> 0, we are the consumer: pop the oldest record;
     *     ours -> owned; another's -> wake it (it owns the lock now) and wait for our turn.
     *  4. Yield until an unlocker (or a token winner) pops our record and wakes us: we own it.
     * unlock():
     *  1. getAndAdd(locked, -1) == 1: no one waits, done.
     *  2. Loop: pop a record -> wake it (ownership passes directly), done. None yet (a locker
     *     incremented `locked` but has not pushed): publish a fresh non-zero token in `handoff`
     *     (volatile store), then if there are still no waiters, stop (that locker will take the
     *     token in its step 3). Else try to withdraw the token (CAS token -> 0): failing means a
     *     locker took it and is responsible; succeeding means loop and pop.
     * Correctness: step 3 of lock (push, then read handoff) and step 2 of unlock (store handoff,
     * then read the stacks) are a Dekker pair on volatiles, so either the unlocker sees the
     * record or the locker sees the token; the CAS on `handoff` makes exactly one of them the
     * consumer, so `toPop` (and `sequence`) always has a single writer.
     */

    private static final VarHandle LOCKED;
    private static final VarHandle FROM_PUSH;
    private static final VarHandle HANDOFF;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            LOCKED = l.findVarHandle(CoMutex.class, "locked", int.class);
            FROM_PUSH = l.findVarHandle(CoMutex.class, "fromPush", WaitRecord.class);
            HANDOFF = l.findVarHandle(CoMutex.class, "handoff", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private static final int SPIN_ROUNDS = 1000;

    /**
     * Holder plus waiters. Read-modify-writes via LOCKED (full fences): the decrement in unlock()
     * pairs with the increment in lock(), so a lock() that counted itself before the decrement
     * is either popped or handed the token; plain volatile reads only steer the spin.
     */
    private volatile int locked;
    /** Context of the holder, for the spin heuristic only (a stale value costs some spinning). */
    private volatile AioContext ctx;
    /**
     * Multi-producer stack of waiters; via FROM_PUSH. The push CAS (lockSlowPath) pairs with the
     * consumer's getAndSet in popWaiter(), which therefore sees the record and its coroutine.
     */
    @SuppressWarnings("unused")
    private volatile WaitRecord fromPush;
    /**
     * FIFO of waiters, written only by the consumer of the moment; volatile because
     * hasWaiters() reads it from the other side of the hand-off (pairs with the consumer's
     * writes, ordered before its next volatile store to `handoff` or `locked`).
     */
    private volatile WaitRecord toPop;
    /**
     * Published hand-off token, 0 if none; via HANDOFF. unlock()'s volatile store pairs with
     * lockSlowPath()'s volatile read after its push (Dekker), and the CAS to 0 elects one consumer.
     */
    private volatile int handoff;
    /** Last token; plain: only the consumer of the moment writes it (see the overview). */
    private int sequence;
    /** The coroutine holding the lock; plain: written and checked by the holder itself. */
    private Coroutine holder;

    /** An unlocked mutex (QEMU's {@code qemu_co_mutex_init}). */
    public CoMutex() {}

    private static final class WaitRecord {
        final Coroutine co;
        WaitRecord next;

        WaitRecord(Coroutine co) {
            this.co = co;
        }
    }

    /**
     * Takes the mutex, yielding while another coroutine holds it (QEMU's
     * {@code qemu_co_mutex_lock}). Inside a coroutine, any thread.
     *
     * @throws IllegalStateException outside a coroutine
     */
    public void lock() {
        Coroutine self = Coroutine.requireSelf("CoMutex.lock()");
        AioContext here = Coroutine.currentContext();
        int waiters;
        int i = 0;
        retry:
        while (true) {
            waiters = (int) LOCKED.compareAndExchange(this, 0, 1);
            if (waiters != 0) {
                while (waiters == 1 && ++i < SPIN_ROUNDS) {
                    if (ctx == here) {
                        break; // the holder runs in our context: it cannot unlock while we spin
                    }
                    if (locked == 0) {
                        continue retry;
                    }
                    Thread.onSpinWait();
                }
                waiters = (int) LOCKED.getAndAdd(this, 1);
            }
            break;
        }
        if (waiters == 0) {
            ctx = here; // uncontended
        } else {
            lockSlowPath(self, here);
        }
        holder = self;
        self.locksHeld++;
    }

    private void lockSlowPath(Coroutine self, AioContext here) {
        WaitRecord w = new WaitRecord(self);
        pushWaiter(w); // a CAS: full fence before reading handoff (pairs with unlock's store)
        int oldHandoff = handoff;
        if (oldHandoff != 0 && hasWaiters() && HANDOFF.compareAndSet(this, oldHandoff, 0)) {
            // We took over an unlocker's responsibility to wake someone; no one else pops now.
            WaitRecord toWake = popWaiter();
            if (toWake.co == self) {
                ctx = here;
                return; // our own record: we own the lock
            }
            ctx = toWake.co.lastContext();
            toWake.co.wake();
        }
        Coroutine.yield(); // until whoever pops our record wakes us, handing us the lock
    }

    /**
     * Releases the mutex, handing it to the oldest waiter if there is one; that waiter is woken
     * in its own context (after the current coroutine yields, if it is the same context)
     * (QEMU's {@code qemu_co_mutex_unlock}). Inside the coroutine that holds the mutex.
     *
     * @throws IllegalStateException if the mutex is not locked, or not by the calling coroutine
     */
    public void unlock() {
        Coroutine self = Coroutine.requireSelf("CoMutex.unlock()");
        if (locked == 0) {
            throw new IllegalStateException("CoMutex.unlock() of a mutex that is not locked");
        }
        if (holder != self) {
            throw new IllegalStateException("CoMutex.unlock() by " + self + ", which does not hold it");
        }
        ctx = null;
        holder = null;
        self.locksHeld--;
        if ((int) LOCKED.getAndAdd(this, -1) == 1) {
            return; // no waiting lock()
        }
        while (true) {
            WaitRecord toWake = popWaiter();
            if (toWake != null) {
                ctx = toWake.co.lastContext();
                toWake.co.wake();
                break;
            }
            // A lock() is between its increment and its push. Publish a token for it.
            if (++sequence == 0) {
                sequence = 1;
            }
            int ours = sequence;
            handoff = ours; // volatile store: before reading the stacks (pairs with lockSlowPath)
            if (!hasWaiters()) {
                break; // that lock() will see the token and take over
            }
            if (!HANDOFF.compareAndSet(this, ours, 0)) {
                break; // someone took the token: they are responsible now
            }
        }
    }

    private void pushWaiter(WaitRecord w) {
        WaitRecord h;
        do {
            h = fromPush;
            w.next = h;
        } while (!FROM_PUSH.compareAndSet(this, h, w));
    }

    /** Single consumer only (see the overview). */
    private WaitRecord popWaiter() {
        WaitRecord w = toPop;
        if (w == null) {
            WaitRecord reversed = (WaitRecord) FROM_PUSH.getAndSet(this, (WaitRecord) null);
            while (reversed != null) {
                WaitRecord next = reversed.next;
                reversed.next = w;
                w = reversed;
                reversed = next;
            }
            if (w == null) {
                return null;
            }
        }
        toPop = w.next;
        return w;
    }

    private boolean hasWaiters() {
        return toPop != null || fromPush != null;
    }

    @Override
    public String toString() {
        return "CoMutex[locked=" + locked + ", holder=" + holder + "]";
    }
}
