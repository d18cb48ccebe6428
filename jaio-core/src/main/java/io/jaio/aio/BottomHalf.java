package io.jaio.aio;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;

/**
 * A callback that runs in its context's home thread "as soon as possible" (QEMU's
 * {@code QEMUBH}). Scheduling never runs the callback synchronously; any number of schedules
 * before the next run collapse into one run. From another thread it is wait-free (one atomic
 * OR, at most one CAS-push); from the home thread {@link #schedule()} and the run of a BH only
 * that thread schedules take no atomic instruction (plain stores on a stack only that thread
 * touches, see {@link BhList}); cancel, delete and a schedule after another thread's cancel do.
 *
 * <p>Every method is safe from any thread, virtual threads included. {@link #cancel()} is only
 * reliable from the home thread (it races with a run already dequeued). A bottom half must be
 * {@link #delete() deleted} before its context is closed; closing names any that are not.
 */
public final class BottomHalf {
    // Flag bits (QEMU's BH_PENDING .. BH_IDLE), in the shared word that other threads change.
    static final int PENDING = 1;   // on the context's CAS stack or a slice taken from it
    static final int SCHEDULED = 2; // run the callback when dequeued
    static final int DELETED = 4;   // free without running
    static final int ONESHOT = 8;   // free after running
    static final int IDLE = 16;     // run at least every 10 ms; not progress
    /**
     * Beyond QEMU: a cancel() from another thread, which cannot clear the home thread's own
     * schedule (that lives in {@link #local}, plain), withdraws it through this bit: the dequeue
     * ignores a home schedule made before the cancel, and the home thread's next schedule clears
     * it. See BhList's protocol.
     */
    static final int CANCELLED = 32;

    /**
     * Bit of the home thread's word {@link #local} (which also uses SCHEDULED and IDLE above): on
     * the home thread's stack or a slice's home list (QEMU's PENDING for that list).
     */
    static final int QUEUED = 1;

    private static final VarHandle FLAGS;

    static {
        try {
            FLAGS = MethodHandles.lookup().findVarHandle(BottomHalf.class, "flags", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final BhList list;
    final String name;
    final Runnable cb;
    /** Atomic via {@link #FLAGS}; every read-modify-write is a full fence. */
    @SuppressWarnings("unused")
    private volatile int flags;
    /**
     * Next on the context's CAS stack or a slice's list taken from it. Written before the CAS that
     * publishes this BH (the CAS's release orders it); read by the home thread after taking the
     * list (acquire).
     */
    BottomHalf next;
    /**
     * The home thread's schedule of this BH: {@link #QUEUED}, {@link #SCHEDULED}, {@link #IDLE}.
     * Home thread only (plain), where "home thread" is whoever holds the context's home role: a
     * coroutine's virtual thread that polls takes it over through the coroutine baton's volatile
     * hand-off, which orders these plain accesses. toString's read elsewhere is racy and only
     * informative.
     */
    int local;
    /** Next on the home thread's stack or a slice's home list. Home thread only (plain, as {@link #local}). */
    BottomHalf localNext;
    /**
     * BhList's pass number of the last run, so that a BH runs at most once per pass (passes count
     * from 1, so the initial 0 is no pass). Home thread only (plain, as {@link #local}).
     */
    long ranInPass;

    BottomHalf(BhList list, String name, Runnable cb) {
        this.list = list;
        this.name = Objects.requireNonNull(name, "name");
        this.cb = Objects.requireNonNull(cb, "callback");
    }

    /** {@return the name given at creation, used in logs and leak reports} */
    public String name() {
        return name;
    }

    /**
     * Runs the callback once in the home thread at the next {@code poll} (QEMU's
     * {@code qemu_bh_schedule}). Wakes the loop (from the home thread there is nothing to wake:
     * the loop is running, and its next pass sees the schedule). Any thread.
     *
     * @throws IllegalStateException if the bottom half was deleted, or its context closed
     */
    public void schedule() {
        list.schedule(this, SCHEDULED, "schedule");
    }

    /**
     * Like {@link #schedule()}, but the run does not count as progress and may wait up to 10 ms
     * (QEMU's {@code qemu_bh_schedule_idle}). Any thread.
     *
     * @throws IllegalStateException if the bottom half was deleted, or its context closed
     */
    public void scheduleIdle() {
        list.schedule(this, SCHEDULED | IDLE, "scheduleIdle");
    }

    /**
     * Withdraws a pending schedule (QEMU's {@code qemu_bh_cancel}); the bottom half stays on the
     * list and is skipped. Does not wake the loop. Any thread; reliable only from the home thread.
     */
    public void cancel() {
        list.cancel(this);
    }

    /**
     * Deletes the bottom half (QEMU's {@code qemu_bh_delete}): its callback never runs after this
     * returns in the home thread, and it is released at the next {@code poll}. Allowed from inside
     * its own callback. Idempotent. Any thread.
     */
    public void delete() {
        if ((flagsNow() & DELETED) != 0) {
            return;
        }
        list.delete(this);
    }

    int flagsNow() {
        return (int) FLAGS.getVolatile(this);
    }

    /** Atomically ORs {@code bits} in; returns the old flags. Full fence. */
    int orFlags(int bits) {
        return (int) FLAGS.getAndBitwiseOr(this, bits);
    }

    /** Atomically clears {@code bits}; returns the old flags. Full fence. */
    int clearFlags(int bits) {
        return (int) FLAGS.getAndBitwiseAnd(this, ~bits);
    }

    @Override
    public String toString() {
        return "BottomHalf[" + name + ", flags=0x" + Integer.toHexString(flagsNow()) + ", local=0x"
                + Integer.toHexString(local) + "]";
    }
}
