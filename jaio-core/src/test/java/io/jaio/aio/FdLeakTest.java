package io.jaio.aio;

import static io.jaio.aio.TestSupport.openFdCount;
import static io.jaio.aio.TestSupport.openFdTargets;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

/** Creating and closing contexts (and the other fd owners) must give every fd back. */
class FdLeakTest {

    private static void assertNoLeak(long before, String what) {
        long after = openFdCount();
        if (after != before) {
            assertEquals(before, after, what + " leaked fds; open now: " + openFdTargets());
        }
    }

    @ParameterizedTest
    @EnumSource(value = FdMonitorKind.class, names = {"POLL", "EPOLL", "AUTO", "IO_URING"})
    void thousandContextsDoNotLeakFds(FdMonitorKind kind) {
        for (int i = 0; i < 10; i++) { // warm-up: class loading, lazily opened files
            AioContext c = AioContext.builder().fdMonitor(kind).build();
            c.poll(false);
            c.close();
        }
        long before = openFdCount();
        for (int i = 0; i < 1000; i++) {
            AioContext c = AioContext.builder().fdMonitor(kind).build();
            c.poll(false);
            c.close();
        }
        assertNoLeak(before, "1000 " + kind + " contexts");
    }

    /** AUTO after its switch to epoll (a second fd monitor fd) still closes everything. */
    @Test
    void autoContextsUpgradedToEpollDoNotLeakFds() {
        List<EventNotifier> ns = new ArrayList<>();
        for (int i = 0; i < 70; i++) {
            ns.add(EventNotifier.create());
        }
        try {
            Runnable once = () -> {
                AioContext c;
                System.setProperty(io.jaio.aio.fdmon.IoUringFdMonitor.FORCE_FAILURE_PROPERTY, "true");
                try {
                    c = AioContext.builder().fdMonitor(FdMonitorKind.AUTO).build();
                } finally {
                    System.clearProperty(io.jaio.aio.fdmon.IoUringFdMonitor.FORCE_FAILURE_PROPERTY);
                }
                assertEquals(FdMonitorKind.POLL, c.fdMonitorKind());
                for (EventNotifier n : ns) {
                    c.setEventNotifier(n, EventNotifier::testAndClear, null, null);
                }
                ns.get(0).set();
                c.poll(true);
                for (EventNotifier n : ns) {
                    c.setEventNotifier(n, null, null, null);
                }
                c.close();
            };
            once.run();
            long before = openFdCount();
            for (int i = 0; i < 50; i++) {
                once.run();
            }
            assertNoLeak(before, "AUTO contexts after the epoll switch");
        } finally {
            ns.forEach(EventNotifier::close);
        }
    }

    /** close() that throws for a leaked BH still releases the context's fds (API: "after releasing fds"). */
    @Test
    void closeThatReportsALeakedBhStillReleasesFds() {
        Runnable once = () -> {
            AioContext c = AioContext.builder().fdMonitor(FdMonitorKind.EPOLL).build();
            c.newBottomHalf("leaked", () -> {}).schedule();
            assertThrows(IllegalStateException.class, c::close);
        };
        once.run();
        long before = openFdCount();
        for (int i = 0; i < 200; i++) {
            once.run();
        }
        assertNoLeak(before, "contexts closed with a leaked BH");
    }

    @Test
    void eventNotifiersDoNotLeakFds() {
        EventNotifier.create().close();
        long before = openFdCount();
        for (int i = 0; i < 1000; i++) {
            EventNotifier n = EventNotifier.create();
            n.set();
            n.testAndClear();
            n.close();
        }
        assertNoLeak(before, "1000 event notifiers");
    }

    @Test
    void ioThreadsDoNotLeakFds() {
        IoThread.start("jaio-leak-warmup").close();
        long before = openFdCount();
        for (int i = 0; i < 20; i++) {
            IoThread.start("jaio-leak-" + i).close();
        }
        assertNoLeak(before, "20 IoThreads");
    }
}
