package io.jaio.aio;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A context's bottom halves (QEMU's {@code bh_list} + {@code bh_slice_list}, §2 of
 * docs/design/aio-semantics.md): a lock-free stack that any thread pushes to, and the chain of slices the
 * home thread drains.
 *
 * <p>Protocol:
 * <ol>
 *   <li>enqueue (any thread): atomically OR {@code PENDING|flags} into the BH; only if PENDING was
 *       clear, CAS-push it on {@link #head}; then always call the wake-up hook. The OR happens
 *       before the push, so at most one list holds a BH.
 *   <li>{@link #poll} (home thread): swap {@link #head} with null into a new slice at the chain's
 *       tail; then repeatedly take the first BH of the first slice, unlink it, and only then clear
 *       {@code PENDING|SCHEDULED|IDLE} (so a concurrent enqueue that sees PENDING clear pushes it
 *       again, onto the stack). Run it if it was SCHEDULED and not DELETED.
 *   <li>A nested poll appends its own slice but drains from the chain's head: it finishes the
 *       outer pass's BHs first, so each BH runs exactly once per pass, whoever gets there.
 * </ol>
 * Inside one slice BHs run most-recently-scheduled first; nothing may depend on the order.
 */
final class BhList {
    /** Runs a callback with the context's error containment. */
    interface Runner {
        void run(Runnable cb, Object source);
    }

    private static final VarHandle HEAD;

    static {
        try {
            HEAD = MethodHandles.lookup().findVarHandle(BhList.class, "head", BottomHalf.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final String owner;
    private final Runnable wakeup;
    /** Treiber stack of enqueued BHs: CAS-pushed by any thread, taken whole by the home thread. */
    @SuppressWarnings("unused")
    private volatile BottomHalf head;
    /** Slice chain; home thread only. */
    private Slice sliceHead;
    private Slice sliceTail;
    /** Named BHs not yet deleted, for the leak check at close. */
    private final Set<BottomHalf> live = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    /**
     * @param owner  the context's name, for error messages
     * @param wakeup called after every enqueue (the context's {@code wakeup})
     */
    BhList(String owner, Runnable wakeup) {
        this.owner = owner;
        this.wakeup = wakeup;
    }

    /** A batch of BHs taken by one poll (QEMU's {@code BHListSlice}). Home thread. */
    static final class Slice {
        BottomHalf head;
        Slice next;
    }

    BottomHalf newBottomHalf(String name, Runnable cb) {
        checkOpen("create bottom half '" + name + "'");
        BottomHalf bh = new BottomHalf(this, name, cb);
        live.add(bh);
        return bh;
    }

    void scheduleOneshot(String name, Runnable cb) {
        checkOpen("schedule oneshot bottom half '" + name + "'");
        enqueue(new BottomHalf(this, name, cb), BottomHalf.SCHEDULED | BottomHalf.ONESHOT);
    }

    private void checkOpen(String what) {
        if (closed) {
            throw new IllegalStateException("context '" + owner + "' is closed; cannot " + what);
        }
    }

    /** QEMU's {@code aio_bh_enqueue}. Any thread. */
    void enqueue(BottomHalf bh, int newFlags) {
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
        wakeup.run();
    }

    /** A named BH was deleted: no longer a leak candidate. Any thread. */
    void deleted(BottomHalf bh) {
        live.remove(bh);
    }

    /** QEMU's {@code aio_bh_poll}: drains the chain; true if a non-idle BH ran. Home thread. */
    boolean poll(Slice slice, Runner runner) {
        slice.head = (BottomHalf) HEAD.getAndSet(this, (BottomHalf) null); // pairs with enqueue's CAS
        slice.next = null;
        if (sliceTail == null) {
            sliceHead = slice;
        } else {
            sliceTail.next = slice;
        }
        sliceTail = slice;

        boolean progress = false;
        Slice s;
        while ((s = sliceHead) != null) {
            BottomHalf bh = s.head;
            if (bh == null) {
                sliceHead = s.next;
                if (sliceHead == null) {
                    sliceTail = null;
                }
                s.next = null;
                continue;
            }
            s.head = bh.next; // unlink before clearing PENDING
            int flags = bh.clearFlags(BottomHalf.PENDING | BottomHalf.SCHEDULED | BottomHalf.IDLE);
            if ((flags & (BottomHalf.SCHEDULED | BottomHalf.DELETED)) == BottomHalf.SCHEDULED) {
                if ((flags & BottomHalf.IDLE) == 0) {
                    progress = true;
                }
                runner.run(bh.cb, bh);
            }
            // DELETED or ONESHOT: dropped here; the GC frees it once unreachable.
        }
        return progress;
    }

    /** The BH part of {@code aio_compute_timeout}: 0, 10 ms (idle) or -1. Home thread. */
    long timeoutNs() {
        long timeout = timeout(head, -1);
        for (Slice s = sliceHead; s != null && timeout != 0; s = s.next) {
            timeout = timeout(s.head, timeout);
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
     * deleted (scheduled or not), for the context's leak report. Home thread.
     */
    Set<String> close() {
        closed = true;
        Set<String> leaks = new java.util.LinkedHashSet<>();
        for (BottomHalf bh = (BottomHalf) HEAD.getAndSet(this, (BottomHalf) null); bh != null; bh = bh.next) {
            int f = bh.flagsNow();
            if ((f & BottomHalf.DELETED) == 0) {
                leaks.add("bottom half '" + bh.name + "'"
                        + ((f & BottomHalf.ONESHOT) != 0 ? " (oneshot, never ran)" : ""));
            }
        }
        for (BottomHalf bh : live) {
            if ((bh.flagsNow() & BottomHalf.DELETED) == 0) {
                leaks.add("bottom half '" + bh.name + "'");
            }
        }
        live.clear();
        return leaks;
    }
}
