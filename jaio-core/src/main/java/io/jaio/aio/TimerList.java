package io.jaio.aio;

/**
 * One clock's armed timers of one context, sorted by deadline (QEMU's {@code QEMUTimerList}).
 *
 * <p>Arming and disarming take the list's monitor from any thread; running takes it around each
 * unlink and releases it while the callback runs. {@link #head} is volatile so the loop can see
 * "no timers" without locking.
 */
final class TimerList {
    final ClockType clock;
    private final AioContext ctx;
    /** Earliest timer or null. Written under the monitor (then headChanged); volatile for the lock-free peek. */
    private volatile Timer head;
    /**
     * One bit per clock whose list holds a timer, shared by the context's lists, so that a poll
     * pass reads one word instead of one head per clock when no timer is armed (beyond QEMU, whose
     * {@code timerlistgroup_run_timers} walks every list). A list's bit changes only with its
     * head's emptiness, under that list's monitor, so the changes of one list are ordered. Set
     * after the head is stored: a pass that reads 0 is one that could have read the old, empty
     * head, and the arming thread's wake-up covers it as before.
     */
    private final BitWord armedLists;
    /** This list's bit in {@link #armedLists}. */
    private final int bit;

    TimerList(AioContext ctx, ClockType clock, BitWord armed) {
        this.ctx = ctx;
        this.clock = clock;
        this.armedLists = armed;
        this.bit = 1 << clock.ordinal();
    }

    /**
     * Brings this list's bit in {@link #armedLists} up to date with the head, at the end of a
     * change that found the list armed ({@code wasArmed}) or empty: once per change, so re-arming
     * the only timer (unlinked, then inserted again) flips nothing. Monitor held.
     */
    private void headChanged(boolean wasArmed) {
        boolean armed = head != null;
        if (armed != wasArmed) {
            armedLists.set(bit, armed);
        }
    }

    void mod(Timer t, long whenNs, boolean anticipate) {
        if (ctx.isClosed()) {
            throw new IllegalStateException("context '" + ctx.name() + "' is closed; cannot arm timer '" + t.name + "'");
        }
        boolean rearm;
        long when = Math.max(whenNs, 0);
        synchronized (this) {
            if (anticipate && t.expireNs >= 0 && t.expireNs <= when) {
                return;
            }
            boolean wasArmed = head != null;
            unlinkLocked(t);
            // Insert after every timer with a deadline <= when: equal deadlines stay FIFO.
            Timer prev = null;
            Timer cur = head;
            while (cur != null && cur.expireNs <= when) {
                prev = cur;
                cur = cur.next;
            }
            t.next = cur;
            t.expireNs = when;
            if (prev == null) {
                head = t;
            } else {
                prev.next = t;
            }
            rearm = prev == null;
            headChanged(wasArmed);
        }
        if (rearm) {
            ctx.wakeup(); // a new earliest deadline: the loop must recompute its timeout
        }
    }

    void del(Timer t) {
        synchronized (this) {
            boolean wasArmed = head != null;
            unlinkLocked(t);
            headChanged(wasArmed);
        }
    }

    private void unlinkLocked(Timer t) {
        if (t.expireNs < 0) {
            return;
        }
        Timer prev = null;
        for (Timer cur = head; cur != null; prev = cur, cur = cur.next) {
            if (cur == t) {
                if (prev == null) {
                    head = t.next;
                } else {
                    prev.next = t.next;
                }
                break;
            }
        }
        t.next = null;
        t.expireNs = -1;
    }

    /** ns until the earliest deadline (0 if due), or -1 if none. Any thread. */
    long deadlineNs(ClockSource clocks) {
        Timer h = head;
        if (h == null) {
            return -1;
        }
        long e = h.expireNs;
        if (e < 0) {
            return deadlineLocked(clocks);
        }
        return Math.max(0, e - clocks.nowNs(clock));
    }

    private synchronized long deadlineLocked(ClockSource clocks) {
        Timer h = head;
        return h == null ? -1 : Math.max(0, h.expireNs - clocks.nowNs(clock));
    }

    /**
     * Runs every timer due at the time read once at the start (QEMU's
     * {@code timerlist_run_timers}). A callback that re-arms its timer at or before that time
     * runs again in this pass. Home thread.
     */
    boolean run(ClockSource clocks) {
        if (head == null) {
            return false;
        }
        long now = clocks.nowNs(clock);
        boolean progress = false;
        for (;;) {
            Timer t;
            synchronized (this) {
                t = head;
                if (t == null || t.expireNs > now) {
                    break;
                }
                head = t.next;
                headChanged(true);
                t.next = null;
                t.expireNs = -1;
            }
            ctx.runCallback(t.cb, t);
            progress = true;
        }
        return progress;
    }

    /** The armed timers, for leak reports at close. */
    synchronized java.util.List<Timer> armed() {
        java.util.List<Timer> out = new java.util.ArrayList<>();
        for (Timer t = head; t != null; t = t.next) {
            out.add(t);
        }
        return out;
    }
}
