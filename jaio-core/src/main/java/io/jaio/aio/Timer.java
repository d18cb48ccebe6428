package io.jaio.aio;

import java.util.concurrent.TimeUnit;

/**
 * A one-shot timer in a context's timer list (QEMU's {@code QEMUTimer}). Created by
 * {@link AioContext#newTimer}; its callback runs in the home thread, inside {@code poll}, after
 * the fd handlers. Expiry times are in the timer's scale (ns, µs, ms or s) on its clock.
 *
 * <p>Every method is safe from any thread. A timer must not be armed when its context closes.
 */
public final class Timer {
    /** Attribute: drives something outside the guest (QEMU's {@code QEMU_TIMER_ATTR_EXTERNAL}). */
    public static final int ATTR_EXTERNAL = 1;

    final TimerList list;
    final long scaleNs;
    final int attributes;
    final Runnable cb;
    final String name;
    /** Deadline in ns, -1 when not armed. Written under the list's lock; volatile for readers. */
    volatile long expireNs = -1;
    /** Next in the sorted list; guarded by the list's lock. */
    Timer next;

    Timer(TimerList list, String name, TimeUnit scale, int attributes, Runnable cb) {
        this.list = list;
        this.name = name;
        this.scaleNs = scale.toNanos(1);
        this.attributes = attributes;
        this.cb = cb;
    }

    /** {@return the clock this timer runs on} */
    public ClockType clock() {
        return list.clock;
    }

    /** {@return the name given at creation (or a generated one), used in leak reports} */
    public String name() {
        return name;
    }

    /** {@return the attribute bits given at creation ({@link #ATTR_EXTERNAL})} */
    public int attributes() {
        return attributes;
    }

    /**
     * Arms (or re-arms) the timer for {@code expireTime} in its scale (QEMU's {@code timer_mod}).
     * Equal deadlines run in the order they were armed. If this becomes the earliest timer the
     * loop is woken to recompute its timeout.
     *
     * @param expireTime the deadline, in the timer's scale on its clock
     */
    public void mod(long expireTime) {
        list.mod(this, toNs(expireTime), false);
    }

    /**
     * Arms the timer for {@code expireNs} nanoseconds on its clock (QEMU's {@code timer_mod_ns}).
     *
     * @param expireNs the deadline in ns on the timer's clock
     */
    public void modNs(long expireNs) {
        list.mod(this, expireNs, false);
    }

    /**
     * Arms the timer only if it is not armed or would fire later (QEMU's {@code timer_mod_anticipate}).
     *
     * @param expireTime the deadline, in the timer's scale on its clock
     */
    public void modAnticipate(long expireTime) {
        list.mod(this, toNs(expireTime), true);
    }

    /**
     * {@link #modAnticipate} in nanoseconds.
     *
     * @param expireNs the deadline in ns on the timer's clock
     */
    public void modAnticipateNs(long expireNs) {
        list.mod(this, expireNs, true);
    }

    /** Disarms the timer (QEMU's {@code timer_del}); harmless if not armed. */
    public void del() {
        list.del(this);
    }

    /** {@return true while armed} (QEMU's {@code timer_pending}) */
    public boolean isPending() {
        return expireNs >= 0;
    }

    /**
     * True if armed with a deadline at or before {@code currentTime}, given in the timer's scale
     * (QEMU's {@code timer_expired}).
     *
     * @param currentTime the time to compare with, in the timer's scale
     * @return whether the timer is armed and due
     */
    public boolean isExpired(long currentTime) {
        long e = expireNs;
        return e >= 0 && e <= toNs(currentTime);
    }

    /** {@return the deadline in ns, or -1 if not armed} (QEMU's {@code timer_expire_time_ns}) */
    public long expireTimeNs() {
        return expireNs;
    }

    private long toNs(long t) {
        long ns = t * scaleNs;
        if (scaleNs != 1 && ns / scaleNs != t) {
            return t < 0 ? Long.MIN_VALUE : Long.MAX_VALUE; // saturate instead of wrapping
        }
        return ns;
    }

    @Override
    public String toString() {
        return "Timer[" + name + ", " + list.clock + ", expire=" + expireNs + "ns]";
    }
}
