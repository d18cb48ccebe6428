package io.jaio.aio;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The two words of QEMU's wake-up protocol (§3 of docs/design/aio-semantics.md), apart from the eventfd so
 * the protocol can be model-tested (jaio-stress) exactly as the context runs it.
 *
 * <ul>
 *   <li>{@code notified}: someone called wakeup since the last accept (may be a stale true);
 *   <li>{@code notifyMe}: twice the number of poll() calls of the home thread that may block now,
 *       plus 1 while an embedding host loop may block on the context's fd ({@link AioSource}).
 * </ul>
 *
 * <p>Why no wake-up is lost: the waker does "store notified=true; load notifyMe" and the poller
 * does "store notifyMe+2; load notified" — a Dekker pair. Both accesses are volatile, so the JMM
 * totally orders them: at least one side sees the other's store, i.e. either the waker writes the
 * eventfd or the poller does not block. The eventfd write depends on {@code notifyMe} only, never
 * on {@code notified} (which may be stale-true while the eventfd is clear: QEMU's BUG2 case).
 */
@SuppressWarnings("unused")
final class WakeState extends WakeStateFields {
    // 128 bytes after the fields (LeadingPad puts 128 before them): the waker reads these
    // words on every wake-up, so no object the heap puts beside them may be one the loop writes.
    long q00, q01, q02, q03, q04, q05, q06, q07;
    long q08, q09, q10, q11, q12, q13, q14, q15;

    private static final VarHandle NOTIFY_ME;
    private static final VarHandle PENDING;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            NOTIFY_ME = l.findVarHandle(WakeStateFields.class, "notifyMe", int.class);
            PENDING = l.findVarHandle(WakeStateFields.class, "eventfdPending", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * Waker side (any thread): records the notification and returns whether a poller may be
     * blocked, i.e. whether the caller must write the eventfd.
     */
    boolean notifyAndCheck() {
        if (notified) {
            // Fast path, no store to the shared line: the latest write of `notified` is a waker's
            // true, after the poller's last accept (else we would read that accept's false). That
            // waker is bound to check notifyMe and write the eventfd for any poller that raised
            // before its store; a poller raising later reads true and does not block; and the
            // caller's earlier work is seen by the dispatch that follows the next accept (our CAS,
            // our read, that accept and its dispatch are ordered by the volatile total order).
            return false;
        }
        notified = true;                               // volatile store ...
        return (int) NOTIFY_ME.getVolatile(this) != 0; // ... then volatile load: pairs with raise()
    }

    /**
     * Waker side (any thread) for a producer whose work the poller checks itself after raising
     * (the oneshot ring, see AioContext.wakeupRing): whether a poller may be blocked, without
     * recording a notification. A volatile load: pairs with raise() and raiseExternal().
     */
    boolean mayBlock() {
        return (int) NOTIFY_ME.getVolatile(this) != 0;
    }

    /**
     * Poller side (home thread), before a wait that may block: announces it and returns whether a
     * notification already arrived (then the wait must not block).
     */
    boolean raise() {
        NOTIFY_ME.setVolatile(this, notifyMe + 2); // volatile store ...
        return notified;                            // ... then volatile load: pairs with notifyAndCheck()
    }

    /** Poller side, after the wait: withdraws the announcement (release, as QEMU). */
    void lower() {
        NOTIFY_ME.setRelease(this, notifyMe - 2);
    }

    /**
     * Poller side (home thread), for an embedding host loop ({@link AioSource#prepare()}, QEMU's
     * {@code aio_ctx_prepare}): sets bit 0 of {@code notifyMe} for the external waiter — poll()
     * only ever adds and subtracts 2, so the bit is the host loop's alone — and returns whether a
     * notification already arrived (then the host must not block). Volatile store then volatile
     * load: the same Dekker pair as {@link #raise()}, paired with {@link #notifyAndCheck()}.
     */
    boolean raiseExternal() {
        NOTIFY_ME.setVolatile(this, notifyMe | 1); // volatile store ...
        return notified;                            // ... then volatile load: pairs with notifyAndCheck()
    }

    /**
     * Poller side (home thread), once the host loop's wait is over ({@link AioSource#check()} or
     * {@link AioSource#dispatch()}, QEMU's {@code aio_ctx_check}): clears bit 0 (release, as QEMU's
     * {@code qatomic_store_release}: the timeout computed before is finished first).
     */
    void lowerExternal() {
        NOTIFY_ME.setRelease(this, notifyMe & ~1);
    }

    /**
     * QEMU's {@code aio_notify_accept} (home thread): clears {@code notified} before anything is
     * dispatched; the fence keeps the dispatcher's later reads (BH flags, handler state) from
     * being satisfied before the clear, so a wake-up during dispatch is seen by the next wait.
     * When {@code notified} is already false there is nothing to clear and no store to order: a
     * waker that sets it after our load keeps it set for the next wait, and our load (volatile)
     * already precedes every later read of the dispatch. So a pass that nobody woke (the loop's
     * own work) pays one volatile load here instead of a store and a fence.
     */
    void accept() {
        if (notified) {
            notified = false;
            VarHandle.fullFence();
        }
    }

    /**
     * Waker side, after {@link #notifyAndCheck()} returned true: whether this caller must write
     * the eventfd (false if another write is pending and undrained). A successful claim obliges
     * the caller to write.
     */
    boolean claimWrite() {
        return !eventfdPending && PENDING.compareAndSet(this, false, true);
    }

    /** Home thread, immediately after draining the eventfd: later wake-ups must write again. */
    void drained() {
        eventfdPending = false;
    }

    /** The claimer of an eventfd write records when it wrote (see writeStampNs). Any thread. */
    void stampWrite(long nowNs) {
        writeStampNs = nowNs;
    }

    /** When the last eventfd write was made (System.nanoTime), or 0. Home thread. */
    long writeStampNs() {
        return writeStampNs;
    }

    /** Whether a notification is pending (the context notifier's poll function). */
    boolean notified() {
        return notified;
    }
}


/** {@link WakeState}'s words, between its two pads. */
abstract class WakeStateFields extends LeadingPad {
    volatile boolean notified;
    /**
     * System.nanoTime() of the last eventfd write, taken by the waker that claimed it, before
     * the write. Read by the poller after that write woke it, for adaptive polling only: a stale
     * value (from an earlier write) lies before the pass began and is ignored, so no ordering
     * beyond the volatile access itself is needed.
     */
    volatile long writeStampNs;
    /** The eventfd has been written and not yet drained (see class comment). */
    volatile boolean eventfdPending;
    /** Written only by the home thread (plain read, ordered write); read by any thread. */
    volatile int notifyMe;
}
