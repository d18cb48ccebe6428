package io.jaio.aio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jaio.aio.fdmon.IoUringFdMonitor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * AUTO monitor selection (docs/design/aio-semantics.md 7.1–7.3): AUTO picks io_uring where the kernel allows
 * it; without io_uring (forced here with {@link IoUringFdMonitor#FORCE_FAILURE_PROPERTY}) it starts
 * on poll and switches one way to epoll when a poll wait would watch 64 or more fds (the
 * context's own notifier counts).
 */
@SuppressWarnings("deprecation") // disableExternal(): the legacy API, deprecated but kept
class FdMonitorAutoTest {

    private AioContext ctx;
    private Watchdog watchdog;
    private final List<EventNotifier> notifiers = new ArrayList<>();

    @BeforeEach
    void setUp() {
        System.setProperty(IoUringFdMonitor.FORCE_FAILURE_PROPERTY, "true");
        try {
            ctx = AioContext.builder().fdMonitor(FdMonitorKind.AUTO).build();
        } finally {
            System.clearProperty(IoUringFdMonitor.FORCE_FAILURE_PROPERTY);
        }
        watchdog = Watchdog.start(Duration.ofSeconds(20)).watch(ctx);
        assertEquals(FdMonitorKind.POLL, ctx.fdMonitorKind(), "io_uring refused: QEMU's poll/epoll fallback");
        ctx.poll(false);
    }

    @AfterEach
    void tearDown() {
        watchdog.close();
        try {
            for (EventNotifier n : notifiers) {
                ctx.setEventNotifier(n, null, null, null);
            }
            assertEquals(0, ctx.stats().callbackErrors());
        } finally {
            ctx.close();
            notifiers.forEach(EventNotifier::close);
        }
    }

    private EventNotifier register() {
        EventNotifier n = EventNotifier.create();
        notifiers.add(n);
        ctx.setEventNotifier(n, EventNotifier::testAndClear, null, null);
        return n;
    }

    private void setFirstAndPoll() {
        notifiers.get(0).set();
        watchdog.check();
        assertTrue(ctx.poll(true));
        watchdog.check();
    }

    @Test
    void createPicksIoUringWithBareContextDefaults() {
        try (AioContext c = AioContext.create()) {
            assertEquals(FdMonitorKind.IO_URING, c.fdMonitorKind(), "this kernel allows io_uring, so AUTO uses it");
            assertTrue(c.hasIoUring());
            assertEquals(0, c.pollMaxNs());
            assertEquals(0, c.pollGrow());
            assertEquals(0, c.pollShrink());
            assertEquals(0, c.maxBatch());
            assertEquals(1, c.handlerCount());
        }
    }

    /** test-fdmon-epoll.c shape: 100 notifiers, set one, blocking poll returns true, now on epoll. */
    @Test
    void hundredNotifiersSwitchAutoToEpoll() {
        assertEquals(FdMonitorKind.POLL, ctx.fdMonitorKind());
        for (int i = 0; i < 100; i++) {
            register();
        }
        setFirstAndPoll();
        assertEquals(FdMonitorKind.EPOLL, ctx.fdMonitorKind());

        ctx.disableExternal();
        setFirstAndPoll(); // non-external handlers still dispatch
        ctx.enableExternal();

        notifiers.get(77).set();
        assertTrue(ctx.poll(true), "dispatch keeps working on epoll");
    }

    /** The threshold is exactly 64 watched fds, the context's own notifier included. */
    @Test
    void switchHappensAtSixtyFourWatchedFds() {
        for (int i = 0; i < 62; i++) {
            register();
        }
        assertEquals(63, ctx.handlerCount());
        setFirstAndPoll();
        assertEquals(FdMonitorKind.POLL, ctx.fdMonitorKind(), "63 watched fds: still poll");

        register();
        assertEquals(64, ctx.handlerCount());
        setFirstAndPoll();
        assertEquals(FdMonitorKind.EPOLL, ctx.fdMonitorKind(), "64 watched fds: epoll");
    }

    /** The switch is one way: removing handlers does not go back to poll; registrations are kept. */
    @Test
    void switchIsOneWayAndKeepsRegistrations() {
        for (int i = 0; i < 70; i++) {
            register();
        }
        setFirstAndPoll();
        assertEquals(FdMonitorKind.EPOLL, ctx.fdMonitorKind());
        for (int i = 69; i >= 2; i--) {
            ctx.setEventNotifier(notifiers.get(i), null, null, null);
        }
        assertEquals(3, ctx.handlerCount());
        setFirstAndPoll();
        notifiers.get(1).set();
        assertTrue(ctx.poll(true));
        assertEquals(FdMonitorKind.EPOLL, ctx.fdMonitorKind());
    }
}
