package io.jaio.aio;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;

import org.junit.jupiter.api.Test;
import org.openjdk.jol.info.ClassLayout;
import org.openjdk.jol.info.FieldLayout;

/**
 * The cross-thread hand-off's words other threads touch on every schedule are padded away from
 * whatever the loop writes on every pass and from neighbouring heap objects (OneshotRing's layout
 * note): at least 128 bytes (two cache lines, the adjacent-line prefetch pair) between the hot
 * fields and the object's start and end, and between BhList's shared and home-thread fields.
 * The padding is done by inheritance (superclass fields are laid out first); this test fails if a
 * field moved out of its padded class or the JVM's layout stopped honouring that order.
 */
class PaddingLayoutTest {
    private static final int PAD = 128;

    @Test
    void wakeStateWordsArePadded() {
        assertPadded(WakeState.class, Set.of("notified", "writeStampNs", "eventfdPending", "notifyMe"));
    }

    @Test
    void oneshotRingFieldsArePadded() {
        assertPadded(OneshotRing.class, Set.of("mask", "capacity", "slots", "index"));
    }

    @Test
    void homeCountersArePadded() {
        assertPadded(HomeCounters.class, Set.of("pollCalls", "depth"));
    }

    @Test
    void bhListSharedAndHomeFieldsAreApart() {
        Set<String> shared = Set.of("owner", "wakeup", "ringWakeup", "home", "head", "ring", "live", "closed");
        Set<String> home = Set.of("localHead", "sliceHead", "sliceTail", "localCbs", "localNames", "localPut", "localTake",
                "ringTake", "pass");
        ClassLayout l = ClassLayout.parseClass(BhList.class);
        long sharedStart = Long.MAX_VALUE;
        long sharedEnd = 0;
        long homeStart = Long.MAX_VALUE;
        long homeEnd = 0;
        for (FieldLayout f : l.fields()) {
            if (shared.contains(f.name())) {
                sharedStart = Math.min(sharedStart, f.offset());
                sharedEnd = Math.max(sharedEnd, f.offset() + f.size());
            } else if (home.contains(f.name())) {
                homeStart = Math.min(homeStart, f.offset());
                homeEnd = Math.max(homeEnd, f.offset() + f.size());
            }
        }
        String table = l.toPrintable();
        assertTrue(sharedStart >= PAD, "shared fields start at " + sharedStart + "\n" + table);
        assertTrue(homeStart - sharedEnd >= PAD, "shared fields end at " + sharedEnd + ", home at " + homeStart + "\n" + table);
        assertTrue(l.instanceSize() - homeEnd >= PAD, "home fields end at " + homeEnd + "\n" + table);
    }

    private static void assertPadded(Class<?> c, Set<String> hot) {
        ClassLayout l = ClassLayout.parseClass(c);
        long start = Long.MAX_VALUE;
        long end = 0;
        int found = 0;
        for (FieldLayout f : l.fields()) {
            if (hot.contains(f.name())) {
                found++;
                start = Math.min(start, f.offset());
                end = Math.max(end, f.offset() + f.size());
            }
        }
        String table = l.toPrintable();
        assertTrue(found == hot.size(), "found " + found + " of " + hot + "\n" + table);
        assertTrue(start >= PAD, c.getSimpleName() + ": hot fields start at " + start + "\n" + table);
        assertTrue(l.instanceSize() - end >= PAD, c.getSimpleName() + ": hot fields end at " + end + " of "
                + l.instanceSize() + "\n" + table);
    }
}
