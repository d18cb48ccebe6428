package io.jaio.aio;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * Test-side helpers for the bottom-half tests: a polling runner, and a bounded walk of a
 * {@link BhList}'s stack so that a corrupted list (a BH pushed twice, which links it to itself)
 * is reported as an outcome instead of making {@link BhList#poll} spin forever.
 *
 * <p>Reads BhList's private {@code head} through a private lookup (same unnamed module on the
 * class path), so it depends on that field's name; jaio-core keeps no other view of the stack.
 */
final class BhProbe {
    /** The context's runner without error containment: just call the callback. */
    static final BhList.Runner RUN = (cb, source) -> cb.run();

    /** Returned by {@link #stackLength} when the walk exceeds its bound (a cycle). */
    static final int CORRUPT = -1;

    private static final VarHandle HEAD;

    static {
        try {
            HEAD = MethodHandles.privateLookupIn(BhList.class, MethodHandles.lookup())
                    .findVarHandle(BhList.class, "head", BottomHalf.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private BhProbe() {
    }

    /**
     * Number of BHs on the list's stack (not yet taken by a poll), or {@link #CORRUPT} if there
     * are more than {@code bound} (with at most {@code bound} distinct BHs: a cycle). Call only
     * while nobody pushes (the arbiter).
     */
    static int stackLength(BhList list, int bound) {
        int n = 0;
        for (BottomHalf bh = (BottomHalf) HEAD.getVolatile(list); bh != null; bh = bh.next) {
            if (++n > bound) {
                return CORRUPT;
            }
        }
        return n;
    }

    /**
     * Schedules the oneshot {@code "late"} from this (another) thread, as the close-race tests'
     * scheduler does: 1 if the schedule was refused (the list was closed), else 0.
     */
    static int scheduleLate(BhList list) {
        try {
            list.scheduleOneshot("late", () -> { });
            return 0;
        } catch (IllegalStateException refused) {
            return 1;
        }
    }

    /** The named oneshots of {@link BhList#close}'s leak report ({@code dropped} ones aside). */
    static java.util.Set<String> close(BhList list) {
        return list.close(new java.util.ArrayList<>());
    }

    /** 1 if a leak report of {@link BhList#close} names the oneshot {@code name}, else 0. */
    static int named(java.util.Set<String> leaks, String name) {
        return leaks.contains("bottom half '" + name + "' (oneshot, never ran)") ? 1 : 0;
    }

    /** Polls once if the stack is sane; returns the poll's progress as 0/1, or -1 if not polled. */
    static int pollIfSane(BhList list, int bound) {
        if (stackLength(list, bound) == CORRUPT) {
            return -1;
        }
        return list.poll(new BhList.Slice(), RUN) ? 1 : 0;
    }
}
