package io.jaio.aio;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A context's bottom halves (QEMU's {@code bh_list} + {@code bh_slice_list}, §2 of
 * docs/design/aio-semantics.md): a lock-free stack that any thread pushes to, a plain stack and a
 * plain oneshot queue that only the home thread fills, the cross-thread oneshot ring, and the chain
 * of slices the home thread drains.
 *
 * <p>Protocol:
 * <ol>
 *   <li>schedule of a {@link BottomHalf} from another thread (QEMU's {@code aio_bh_enqueue}):
 *       atomically OR {@code PENDING|flags} into the BH's shared word; only if PENDING was clear,
 *       CAS-push it onto {@link #head}; then call the wake-up hook. The OR happens before the
 *       push, so the CAS stack holds a BH at most once.
 *   <li>schedule from the home thread (beyond QEMU): no atomic instruction. Plain stores set
 *       {@code QUEUED|flags} in the BH's home word {@code local} and, only if QUEUED was clear,
 *       push it onto {@link #localHead} (linked through {@code localNext}). No wake-up for
 *       {@code schedule()} (scheduleIdle still notifies, as QEMU): the home thread is not
 *       blocked while it runs, and the next pass's timeout ({@link #timeoutNs}) sees the local
 *       stack. The shared word is only read (DELETED; a CANCELLED left by
 *       another thread's cancel is cleared, the one atomic on this path, and only then).
 *       A BH may so be on both stacks at once, once on each; whichever entry a pass reaches first
 *       runs it for both schedules (they collapse, as in QEMU), and the other finds nothing.
 *   <li>oneshots allocate nothing in steady state: the home thread appends the callback to
 *       {@link #localCbs} (plain stores, grown by doubling), any other thread offers it to the
 *       {@link OneshotRing} (one CAS) and wakes the loop; only when the ring is full does it fall
 *       back to a {@link BottomHalf} of its own on {@link #head}.
 *   <li>{@link #poll} (home thread): numbers the pass, fixes this pass's oneshot limits (the local
 *       queue's end; for the ring, the run of items published now, found by walking their slots),
 *       then takes both stacks into a new slice at the chain's tail (the CAS stack by a swap with
 *       null, skipped when it is empty); then repeatedly takes the first BH of the first slice and
 *       unlinks it. An entry from the CAS stack then clears {@code PENDING|SCHEDULED|IDLE|CANCELLED}
 *       atomically (after the unlink, so a concurrent schedule that sees PENDING clear pushes it
 *       again) and also takes the home schedule, unless a cancel from another thread withdrew it;
 *       an entry from the home stack clears {@code local} (plain) and touches the shared word
 *       only if another thread left SCHEDULED or CANCELLED there. It runs the BH if it was
 *       scheduled, not DELETED, and did not run in this pass yet: a BH that already ran in this
 *       pass (through its other entry) and was scheduled again meanwhile goes back onto the home
 *       stack for the next pass. Then it runs the oneshots below the limits, in order. A ring
 *       item claimed but not yet published when the limits were fixed (its schedule has not
 *       returned) runs in a later pass.
 *   <li>A nested poll appends its own slice but drains from the chain's head, and runs oneshots
 *       from the queues' current positions, so it finishes the outer pass's work first and each
 *       BH or oneshot runs exactly once per pass, whoever gets there. What is scheduled during a
 *       pass lies beyond that pass's limits and slices: it runs in the next pass (QEMU's rule).
 *   <li>cancel from the home thread clears SCHEDULED in both words (the shared one only if set);
 *       from another thread it sets CANCELLED, then clears the shared SCHEDULED (two fetch-ops), which
 *       voids a home schedule made before it. delete sets DELETED in the shared word (atomic);
 *       from another thread it also enqueues the BH as QEMU does; every dequeue skips DELETED.
 * </ol>
 * Inside one pass the order is unspecified (stacks run most-recently-scheduled first, oneshot
 * queues first-in first-out); nothing may depend on it.
 *
 * <p>Layout: the fields other threads read on every schedule ({@link BhListShared}) and those
 * the home thread writes on every pass ({@link BhListHome}) are 128 bytes apart and padded from
 * neighbouring objects (see {@link OneshotRing}'s layout note and {@code PaddingLayoutTest});
 * sharing a cache line, they cost a line transfer per pass and per schedule.
 *
 * <p>Beyond QEMU, which always notifies: the home thread's {@code schedule()} and oneshots do
 * not call the wake-up hook. The home thread is not blocked while it runs them, and the next
 * pass's timeout ({@link #timeoutNs}) sees the local stack and queue, so it does not block either.
 * And beyond QEMU, whose every schedule and dequeue is an atomic read-modify-write of the flag
 * word: the home thread's schedule and dequeue of a BH that only it schedules are plain loads
 * and stores (two atomics less per pass for a self-rescheduling BH), see the protocol above.
 */
@SuppressWarnings("unused")
final class BhList extends BhListHome {
    // 128 bytes after the home thread's fields: the objects the heap puts next (the ring, its
    // arrays) are read by other threads on every schedule.
    long q00, q01, q02, q03, q04, q05, q06, q07;
    long q08, q09, q10, q11, q12, q13, q14, q15;

    /** Runs a callback with the context's error containment. */
    interface Runner {
        void run(Runnable cb, Object source);
    }

    private static final VarHandle HEAD;
    /** Cross-thread oneshots waiting in the ring at most; beyond, each gets its own BH. */
    static final int RING_CAPACITY = 2048;

    static {
        try {
            HEAD = MethodHandles.lookup().findVarHandle(BhListShared.class, "head", BottomHalf.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * A list without a home thread: every enqueue takes the cross-thread path (jcstress tests).
     *
     * @param owner  the context's name, for error messages
     * @param wakeup called after every cross-thread enqueue (the context's {@code wakeup})
     */
    BhList(String owner, Runnable wakeup) {
        this(owner, wakeup, null);
    }

    /**
     * @param owner  the context's name, for error messages
     * @param wakeup called after every cross-thread enqueue (the context's {@code wakeup})
     * @param home   the only thread that polls, or null
     */
    BhList(String owner, Runnable wakeup, Thread home) {
        this(owner, wakeup, home, RING_CAPACITY);
    }

    /** As above with a ring of {@code ringCapacity} (a power of two) oneshots: tests fill it. */
    BhList(String owner, Runnable wakeup, Thread home, int ringCapacity) {
        this(owner, wakeup, wakeup, home, ringCapacity);
    }

    /**
     * @param ringWakeup called after a oneshot went into the ring: may be lighter than
     *     {@code wakeup} when every poller checks {@link #ringClaimed()} after announcing that it
     *     may block (the context's {@code wakeupRing}, see there)
     */
    BhList(String owner, Runnable wakeup, Runnable ringWakeup, Thread home, int ringCapacity) {
        super(owner, wakeup, ringWakeup, home, new OneshotRing(ringCapacity));
    }

    /** A batch of BHs taken by one poll (QEMU's {@code BHListSlice}). Home thread. */
    static final class Slice {
        /** Taken from the CAS stack. */
        BottomHalf head;
        /** Taken from the home thread's stack. */
        BottomHalf local;
        Slice next;
    }

    BottomHalf newBottomHalf(String name, Runnable cb) {
        checkOpen("create bottom half '" + name + "'");
        BottomHalf bh = new BottomHalf(this, name, cb);
        live.add(bh);
        return bh;
    }

    /** QEMU's {@code aio_bh_schedule_oneshot_full}; allocates nothing in steady state. Any thread. */
    void scheduleOneshot(String name, Runnable cb) {
        if (closed) {
            checkOpen("schedule oneshot bottom half '" + name + "'");
        }
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(cb, "callback");
        if (Thread.currentThread() == home) {
            long put = localPut;
            if (put - localTake == localCbs.length) {
                growLocal();
            }
            int i = (int) put & (localCbs.length - 1);
            localCbs[i] = cb;
            localNames[i] = name;
            localPut = put + 1;
        } else if (ring.offer(name, cb)) {
            if (closed) {
                // Volatile, after offer's claiming CAS: with close()'s store of closed then its
                // read of the ring's tail, a Dekker pair. Either close saw the claim (and names
                // the oneshot as never run) or this caller sees closed here and is refused (close
                // may have named it too): a oneshot is never accepted and silently dropped.
                checkOpen("schedule oneshot bottom half '" + name + "'");
            }
            ringWakeup.run();
        } else {
            enqueueRemote(new BottomHalf(this, name, cb), BottomHalf.SCHEDULED | BottomHalf.ONESHOT);
        }
    }

    /** Doubles the home thread's oneshot queue, keeping every entry at its absolute index. */
    private void growLocal() {
        int n = localCbs.length * 2;
        Runnable[] cbs = new Runnable[n];
        String[] names = new String[n];
        for (long k = localTake; k < localPut; k++) {
            int from = (int) k & (localCbs.length - 1);
            int to = (int) k & (n - 1);
            cbs[to] = localCbs[from];
            names[to] = localNames[from];
        }
        localCbs = cbs;
        localNames = names;
    }

    private void checkOpen(String what) {
        if (closed) {
            throw new IllegalStateException("context '" + owner + "' is closed; cannot " + what);
        }
    }

    /**
     * {@link BottomHalf#schedule()} and {@link BottomHalf#scheduleIdle()}: {@code newFlags} is
     * SCHEDULED, or SCHEDULED|IDLE. Any thread.
     */
    void schedule(BottomHalf bh, int newFlags, String op) {
        if (closed) {
            checkOpen(op + " bottom half '" + bh.name + "'");
        }
        int f = bh.flagsNow(); // volatile: pairs with another thread's delete or cancel
        if ((f & BottomHalf.DELETED) != 0) {
            throw new IllegalStateException("bottom half '" + bh.name + "' was deleted; cannot " + op + " it");
        }
        if (Thread.currentThread() != home) {
            enqueueRemote(bh, newFlags);
            return;
        }
        if ((f & BottomHalf.CANCELLED) != 0) {
            bh.clearFlags(BottomHalf.CANCELLED); // the cancel came before this schedule: it must not void it
        }
        int l = bh.local; // home thread only: plain
        bh.local = l | BottomHalf.QUEUED | newFlags;
        if ((l & BottomHalf.QUEUED) == 0) {
            bh.localNext = localHead;
            localHead = bh;
        }
        if (newFlags != BottomHalf.SCHEDULED) {
            wakeup.run(); // idle: as QEMU, which notifies on every schedule
        }
    }

    /** {@link BottomHalf#cancel()}. Any thread; reliable only from the home thread. */
    void cancel(BottomHalf bh) {
        if (Thread.currentThread() == home) {
            bh.local &= ~BottomHalf.SCHEDULED;
            if ((bh.flagsNow() & BottomHalf.SCHEDULED) != 0) {
                bh.clearFlags(BottomHalf.SCHEDULED);
            }
        } else {
            // CANCELLED first, for the home word's schedule, then SCHEDULED: two wait-free
            // fetch-ops; a dequeue between them sees a cancel that raced it, as QEMU's may.
            bh.orFlags(BottomHalf.CANCELLED);
            bh.clearFlags(BottomHalf.SCHEDULED);
        }
    }

    /** {@link BottomHalf#delete()}, once DELETED was found clear. Any thread. */
    void delete(BottomHalf bh) {
        live.remove(bh);
        if (Thread.currentThread() != home) {
            enqueueRemote(bh, BottomHalf.DELETED);
            return;
        }
        if (closed) {
            checkOpen("delete bottom half '" + bh.name + "'"); // as from another thread
        }
        bh.orFlags(BottomHalf.DELETED); // atomic: other threads may be scheduling it
        // Nothing to enqueue: every dequeue and the timeout skip DELETED; the GC frees it.
    }

    /** QEMU's {@code aio_bh_enqueue}, from a thread other than the home thread. */
    private void enqueueRemote(BottomHalf bh, int newFlags) {
        if (closed) {
            checkOpen("schedule bottom half '" + bh.name + "'");
        }
        int old = bh.orFlags(BottomHalf.PENDING | newFlags); // full fence, before the push
        if ((old & BottomHalf.PENDING) == 0) {
            BottomHalf h;
            do {
                h = head;
                bh.next = h; // published by the CAS (release); read after poll's getAndSet (acquire)
            } while (!HEAD.compareAndSet(this, h, bh));
        }
        if (closed) {
            // Volatile, after the full fence of orFlags/the push: with close()'s store of closed
            // then its swap of the stack, a Dekker pair (as in scheduleOneshot): close took the
            // entry and names it, or this caller is refused; never dropped silently.
            checkOpen("schedule bottom half '" + bh.name + "'");
        }
        wakeup.run();
    }

    /** QEMU's {@code aio_bh_poll}: drains the chain; true if a non-idle BH ran. Home thread. */
    boolean poll(Slice slice, Runner runner) {
        // This pass's oneshot limits, before anything runs: what is scheduled from now on waits.
        // The ring's limit is the run of items published now, found by walking their slots
        // (lines the drain reads next anyway), not the producers' tail: each read of the tail
        // takes its line from the producer that claims next, once per pass while a producer
        // streams. An item published after this walk waits for the next pass, as one claimed
        // but unpublished at the tail's read did before; no callback has run yet, so nothing
        // scheduled because of this pass can be among them.
        pass++; // a BH runs at most once per pass (ranInPass), nested passes included
        long localLimit = localPut;
        long ringLimit = ringTake;
        for (long end = ringTake + ring.capacity; ringLimit != end && ring.published(ringLimit) != null; ) {
            ringLimit++; // acquire reads: pair with offer's setRelease
        }

        BottomHalf taken = head; // volatile read, so an empty stack costs no swap: pairs with enqueue's CAS
        if (taken != null) {
            taken = (BottomHalf) HEAD.getAndSet(this, (BottomHalf) null); // pairs with enqueue's CAS
        }
        BottomHalf local = localHead;
        boolean progress = false;
        if (taken != null || local != null || sliceHead != null) {
            localHead = null;
            slice.head = taken;
            slice.local = local;
            slice.next = null;
            if (sliceTail == null) {
                sliceHead = slice;
            } else {
                sliceTail.next = slice;
            }
            sliceTail = slice;
            progress = drainSlices(runner);
        }

        while (localTake < localLimit) {
            int i = (int) localTake & (localCbs.length - 1);
            Runnable cb = localCbs[i];
            String name = localNames[i];
            localCbs[i] = null;
            localNames[i] = null;
            localTake++; // before the call: a nested poll continues after it
            progress = true;
            runner.run(cb, name);
        }

        long t;
        Runnable cb;
        while ((t = ringTake) < ringLimit && (cb = ring.published(t)) != null) {
            String name = ring.name(t);
            ring.release(t);
            ringTake = t + 1; // before the call: a nested poll continues after it
            progress = true;
            runner.run(cb, name);
        }
        return progress;
    }

    private boolean drainSlices(Runner runner) {
        boolean progress = false;
        Slice s;
        while ((s = sliceHead) != null) {
            BottomHalf bh = s.head;
            int run; // SCHEDULED and IDLE bits of the schedules this entry answers (IDLE: as QEMU, sticky)
            if (bh != null) {
                s.head = bh.next; // unlink before clearing PENDING
                int f = bh.clearFlags(BottomHalf.PENDING | BottomHalf.SCHEDULED | BottomHalf.IDLE
                        | BottomHalf.CANCELLED);
                run = f & (BottomHalf.SCHEDULED | BottomHalf.IDLE);
                int l = bh.local;
                if ((f & BottomHalf.CANCELLED) != 0) {
                    l &= ~(BottomHalf.SCHEDULED | BottomHalf.IDLE); // withdrawn by another thread's cancel
                }
                // The home schedule collapses into this entry (or, below, both go to the next pass);
                // QUEUED stays: the home entry finds nothing.
                run |= l & (BottomHalf.SCHEDULED | BottomHalf.IDLE);
                bh.local = l & ~(BottomHalf.SCHEDULED | BottomHalf.IDLE);
                if ((f & BottomHalf.DELETED) != 0) {
                    continue; // dropped here; the GC frees it once unreachable
                }
            } else if ((bh = s.local) != null) {
                s.local = bh.localNext;
                int l = bh.local & ~BottomHalf.QUEUED;
                int f = bh.flagsNow(); // volatile: pairs with other threads' atomics on the word
                if ((f & (BottomHalf.SCHEDULED | BottomHalf.CANCELLED | BottomHalf.DELETED)) != 0) {
                    // Another thread scheduled, cancelled or deleted it: take that too, from the value
                    // the fetch-and returns (PENDING stays with its CAS-stack entry, which finds nothing).
                    f = bh.clearFlags(BottomHalf.SCHEDULED | BottomHalf.IDLE | BottomHalf.CANCELLED);
                    if ((f & BottomHalf.DELETED) != 0) {
                        bh.local = 0;
                        continue;
                    }
                    if ((f & BottomHalf.CANCELLED) != 0) {
                        l &= ~(BottomHalf.SCHEDULED | BottomHalf.IDLE);
                    }
                    l |= f & (BottomHalf.SCHEDULED | BottomHalf.IDLE);
                }
                run = l & (BottomHalf.SCHEDULED | BottomHalf.IDLE);
                bh.local = 0;
            } else {
                sliceHead = s.next;
                if (sliceHead == null) {
                    sliceTail = null;
                }
                s.next = null;
                continue;
            }
            if ((run & BottomHalf.SCHEDULED) == 0) {
                continue; // cancelled: skipped, no progress
            }
            if (bh.ranInPass == pass) {
                // It ran in this pass through its other entry and was scheduled again since: the
                // next pass runs it (QEMU's rule), from the home stack.
                int l = bh.local;
                bh.local = l | run | BottomHalf.QUEUED;
                if ((l & BottomHalf.QUEUED) == 0) {
                    bh.localNext = localHead;
                    localHead = bh;
                }
                continue;
            }
            bh.ranInPass = pass;
            if ((run & BottomHalf.IDLE) == 0) {
                progress = true;
            }
            runner.run(bh.cb, bh);
        }
        return progress;
    }

    /**
     * Whether a oneshot is claimed in the ring and not yet taken: the poller's check after it
     * announced that it may block (a volatile read of the tail, which pairs with the producer's
     * claiming CAS: with the context's {@code wakeupRing} the two are a Dekker pair, see there).
     * Home thread.
     */
    boolean ringClaimed() {
        return ring.tail() != ringTake; // volatile: pairs with offer's CAS
    }

    /**
     * Whether the next oneshot in the ring is published: the busy-poll check, which reads the
     * line the consumer reads next anyway (not the producers' tail). Home thread.
     */
    boolean ringPublished() {
        return ring.published(ringTake) != null; // acquire: pairs with offer's setRelease
    }

    /** The BH part of {@code aio_compute_timeout}: 0, 10 ms (idle) or -1. Home thread. */
    long timeoutNs() {
        return timeoutNs(true);
    }

    /**
     * {@link #timeoutNs()}; with {@code claims} false a oneshot claimed in the ring but not yet
     * published does not count, and the producers' tail is not read: for a poller that asks
     * {@link #ringClaimed()} after raising notifyMe anyway (poll()), the read would only move
     * the tail's line on every pass. Home thread.
     */
    long timeoutNs(boolean claims) {
        // The home thread's own queues first, then the ring: its published item before the
        // producers' tail, whose cache line each read takes from the producer that claims next.
        // Answering 0 early is always safe (it only keeps the loop from blocking).
        if (localPut != localTake) {
            return 0;
        }
        long timeout = timeoutLocal(localHead, -1);
        if (timeout == 0) {
            return 0;
        }
        if (ringPublished() || claims && ringClaimed()) {
            // A oneshot is published, or claimed and being written: do not block. The claim, not
            // the publication, must decide: the claim is a CAS, which with the producer's later
            // load of notifyMe (the context's wakeupRing) and a poller's raise before this read
            // (sourcePrepare; poll() asks ringClaimed() after raise()) is a Dekker pair, while
            // the publication is only a release store that may still sit in the producer's store
            // buffer when the producer finds notifyMe 0 and writes nothing.
            return 0;
        }
        timeout = timeout(head, timeout); // volatile read: pairs with enqueue's CAS
        for (Slice s = sliceHead; s != null && timeout != 0; s = s.next) {
            timeout = timeout(s.head, timeout);
            if (timeout != 0) {
                timeout = timeoutLocal(s.local, timeout);
            }
        }
        return timeout;
    }

    /** {@link #timeout} for a home list (linked through localNext): both words count. Home thread. */
    private static long timeoutLocal(BottomHalf first, long timeout) {
        for (BottomHalf bh = first; bh != null; bh = bh.localNext) {
            int l = bh.local;
            int f = bh.flagsNow();
            if ((f & BottomHalf.CANCELLED) != 0) {
                l &= ~(BottomHalf.SCHEDULED | BottomHalf.IDLE);
            }
            int sched = (l | f) & (BottomHalf.SCHEDULED | BottomHalf.IDLE);
            if ((sched & BottomHalf.SCHEDULED) != 0 && (f & BottomHalf.DELETED) == 0) {
                if ((sched & BottomHalf.IDLE) == 0) {
                    return 0;
                }
                timeout = AioContext.IDLE_BH_TIMEOUT_NS;
            }
        }
        return timeout;
    }

    private static long timeout(BottomHalf first, long timeout) {
        for (BottomHalf bh = first; bh != null; bh = bh.next) {
            int f = bh.flagsNow();
            if ((f & (BottomHalf.SCHEDULED | BottomHalf.DELETED)) == BottomHalf.SCHEDULED) {
                if ((f & BottomHalf.IDLE) == 0) {
                    return 0;
                }
                timeout = AioContext.IDLE_BH_TIMEOUT_NS;
            }
        }
        return timeout;
    }

    /**
     * Closes the list: later enqueues throw. Returns a description of every BH that was never
     * deleted (scheduled or not), for the context's leak report, and adds every pending
     * {@link Droppable} oneshot to {@code dropped} instead. An enqueue from another thread
     * that races this call either is named here or throws (sometimes both, never neither; jcstress
     * {@code BhCloseVsOneshotTest}, {@code BhCloseVsRingFullOneshotTest}). Home thread.
     */
    Set<String> close(List<Droppable> dropped) {
        closed = true;
        Set<String> leaks = new java.util.LinkedHashSet<>();
        for (BottomHalf bh = (BottomHalf) HEAD.getAndSet(this, (BottomHalf) null); bh != null; bh = bh.next) {
            int f = bh.flagsNow();
            if ((f & BottomHalf.DELETED) == 0) {
                if ((f & BottomHalf.ONESHOT) != 0) {
                    pendingOneshot(bh.name, bh.cb, leaks, dropped);
                } else {
                    leaks.add("bottom half '" + bh.name + "'");
                }
            }
        }
        localHead = null; // named BHs on it are in live; oneshots never go there (localCbs)
        for (; localTake < localPut; localTake++) {
            int i = (int) localTake & (localCbs.length - 1);
            pendingOneshot(localNames[i], localCbs[i], leaks, dropped);
            localCbs[i] = null;
            localNames[i] = null;
        }
        // closed is set (volatile) before the tail is read: a producer whose claim this read
        // misses sees closed after its claim and is refused (scheduleOneshot). Every claim below
        // the tail is named, waiting for its producer's publication (a few instructions after
        // the claim, which no producer abandons).
        for (long t = ringTake, end = ring.tail(); t < end; t++) {
            while (ring.published(t) == null) {
                Thread.onSpinWait();
            }
            pendingOneshot(ring.name(t), ring.published(t), leaks, dropped);
            ring.release(t);
            ringTake = t + 1;
        }
        for (BottomHalf bh : live) {
            if ((bh.flagsNow() & BottomHalf.DELETED) == 0) {
                leaks.add("bottom half '" + bh.name + "'");
            }
        }
        live.clear();
        return leaks;
    }

    /** A oneshot close() found pending: told, if it can be ({@link Droppable}), else named as a leak. */
    private static void pendingOneshot(String name, Runnable cb, Set<String> leaks, List<Droppable> dropped) {
        if (cb instanceof Droppable d) {
            dropped.add(d);
        } else {
            leaks.add("bottom half '" + name + "' (oneshot, never ran)");
        }
    }

    /**
     * A oneshot callback with someone waiting for it (the context's callOnHomeThread): if the
     * context closes with it pending, close() calls {@link #dropped()} instead of naming it as a
     * leak, so the waiter fails at once rather than finding out later.
     */
    interface Droppable extends Runnable {
        /** The oneshot will never run. Called once, by close(), outside its locks. */
        void dropped();
    }
}

/**
 * {@link BhList}'s fields that other threads read on every schedule (see its layout note). Only
 * {@code head} and {@code closed} are written after construction.
 */
abstract class BhListShared extends LeadingPad {
    final String owner;
    final Runnable wakeup;
    /** Called after a oneshot went into the ring (see BhList's constructors). */
    final Runnable ringWakeup;
    /**
     * The home thread, or null (then every caller takes the cross-thread paths). Only compared
     * with {@code Thread.currentThread()}, so a stale read can only send a caller down the
     * cross-thread path, which is correct from any thread. Set at construction; the jcstress tests
     * set it from the actor that plays the home thread.
     */
    Thread home;
    /** Treiber stack of enqueued BHs: CAS-pushed by other threads, taken whole by the home thread. */
    volatile BottomHalf head;
    /** Oneshots from other threads. */
    final OneshotRing ring;
    /** Named BHs not yet deleted, for the leak check at close. */
    final Set<BottomHalf> live = ConcurrentHashMap.newKeySet();
    /**
     * Set by {@link BhList#close} (home thread); read by every schedule, from any thread: the
     * volatile pair makes a schedule that starts after close returned refuse. One that races
     * close reads it again after its enqueue: close names it, or it refuses (see close).
     */
    volatile boolean closed;

    BhListShared(String owner, Runnable wakeup, Runnable ringWakeup, Thread home, OneshotRing ring) {
        this.owner = owner;
        this.wakeup = wakeup;
        this.ringWakeup = ringWakeup;
        this.home = home;
        this.ring = ring;
    }
}

/** 128 bytes between the shared fields and the home thread's (two lines: adjacent-line prefetch). */
@SuppressWarnings("unused")
abstract class BhListPad extends BhListShared {
    // Fills a 4-byte hole the shared references may leave before this pad's longs, which the
    // JVM would otherwise give to a home-thread reference.
    int p;
    long p00, p01, p02, p03, p04, p05, p06, p07;
    long p08, p09, p10, p11, p12, p13, p14, p15;

    BhListPad(String owner, Runnable wakeup, Runnable ringWakeup, Thread home, OneshotRing ring) {
        super(owner, wakeup, ringWakeup, home, ring);
    }
}

/** {@link BhList}'s fields that only the home thread reads and writes, on every pass. */
abstract class BhListHome extends BhListPad {
    /** Stack of BHs the home thread enqueued; home thread only (plain). */
    BottomHalf localHead;
    /** Slice chain; home thread only. */
    BhList.Slice sliceHead;
    BhList.Slice sliceTail;
    /** Oneshots the home thread scheduled: a FIFO ring of absolute indices; home thread only. */
    Runnable[] localCbs = new Runnable[64];
    String[] localNames = new String[64];
    long localPut;
    long localTake;
    /** The consumer's position in the ring; home thread only. */
    long ringTake;
    /** Passes of {@link BhList#poll} so far, nested ones included: BottomHalf.ranInPass compares with it. */
    long pass;

    BhListHome(String owner, Runnable wakeup, Runnable ringWakeup, Thread home, OneshotRing ring) {
        super(owner, wakeup, ringWakeup, home, ring);
    }
}
