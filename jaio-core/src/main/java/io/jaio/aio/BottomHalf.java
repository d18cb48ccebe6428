package io.jaio.aio;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;

/**
 * A callback that runs in its context's home thread "as soon as possible" (QEMU's
 * {@code QEMUBH}). Scheduling is wait-free (one atomic OR, at most one CAS-push) and never runs
 * the callback synchronously; any number of schedules before the next run collapse into one run.
 *
 * <p>Every method is safe from any thread, virtual threads included. {@link #cancel()} is only
 * reliable from the home thread (it races with a run already dequeued). A bottom half must be
 * {@link #delete() deleted} before its context is closed; closing names any that are not.
 */
public final class BottomHalf {
    // Flag bits (QEMU's BH_PENDING .. BH_IDLE).
    static final int PENDING = 1;   // on the context's list or a slice
    static final int SCHEDULED = 2; // run the callback when dequeued
    static final int DELETED = 4;   // free without running
    static final int ONESHOT = 8;   // free after running
    static final int IDLE = 16;     // run at least every 10 ms; not progress

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
     * Next on the context list or a slice. Written before the CAS that publishes this BH (the
     * CAS's release orders it); read by the home thread after taking the list (acquire).
     */
    BottomHalf next;

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
     * {@code qemu_bh_schedule}). Wakes the loop. Any thread.
     *
     * @throws IllegalStateException if the bottom half was deleted
     */
    public void schedule() {
        checkNotDeleted("schedule");
        list.enqueue(this, SCHEDULED);
    }

    /**
     * Like {@link #schedule()}, but the run does not count as progress and may wait up to 10 ms
     * (QEMU's {@code qemu_bh_schedule_idle}). Any thread.
     */
    public void scheduleIdle() {
        checkNotDeleted("scheduleIdle");
        list.enqueue(this, SCHEDULED | IDLE);
    }

    /**
     * Withdraws a pending schedule (QEMU's {@code qemu_bh_cancel}); the bottom half stays on the
     * list and is skipped. Does not wake the loop. Any thread; reliable only from the home thread.
     */
    public void cancel() {
        FLAGS.getAndBitwiseAnd(this, ~SCHEDULED);
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
        list.deleted(this);
        list.enqueue(this, DELETED);
    }

    private void checkNotDeleted(String op) {
        if ((flagsNow() & DELETED) != 0) {
            throw new IllegalStateException("bottom half '" + name + "' was deleted; cannot " + op + " it");
        }
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
        return "BottomHalf[" + name + ", flags=0x" + Integer.toHexString(flagsNow()) + "]";
    }
}
