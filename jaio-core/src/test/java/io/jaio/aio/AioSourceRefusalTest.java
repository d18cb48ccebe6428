package io.jaio.aio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jaio.aio.fdmon.IoUringFdMonitor;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The fd monitors without one fd a host loop can wait on (poll, io_uring) are refused by
 * {@link AioSource#of} with a message that names the monitor and the way out; so is AUTO where
 * it ends on poll (io_uring refused by the kernel).
 */
class AioSourceRefusalTest {
    @ParameterizedTest
    @EnumSource(value = FdMonitorKind.class, names = {"POLL", "IO_URING"})
    void monitorsWithoutOneFdAreRefused(FdMonitorKind kind) {
        try (AioContext ctx = AioContext.builder().fdMonitor(kind).name("refused").build()) {
            assertRefused(ctx, kind);
        }
    }

    @Test
    void autoOnPollBecauseIoUringIsRefusedIsRefusedToo() {
        AioContext ctx;
        System.setProperty(IoUringFdMonitor.FORCE_FAILURE_PROPERTY, "true");
        try {
            ctx = AioContext.builder().fdMonitor(FdMonitorKind.AUTO).name("refused").build();
        } finally {
            System.clearProperty(IoUringFdMonitor.FORCE_FAILURE_PROPERTY);
        }
        try (ctx) {
            assertEquals(FdMonitorKind.POLL, ctx.fdMonitorKind());
            assertRefused(ctx, FdMonitorKind.POLL);
        }
    }

    @Test
    void nullAndOffThreadAndClosed() throws Exception {
        assertThrows(NullPointerException.class, () -> AioSource.of(null));
        AioContext ctx = AioContext.builder().fdMonitor(FdMonitorKind.EPOLL).name("emb").build();
        Throwable[] off = new Throwable[1];
        Thread t = Thread.ofPlatform().start(() -> {
            try {
                AioSource.of(ctx);
            } catch (Throwable x) {
                off[0] = x;
            }
        });
        t.join();
        assertTrue(off[0] instanceof IllegalStateException && off[0].getMessage().contains("home thread of context 'emb'"),
                String.valueOf(off[0]));
        ctx.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> AioSource.of(ctx));
        assertTrue(e.getMessage().contains("context 'emb' is closed"), e.getMessage());
    }

    private static void assertRefused(AioContext ctx, FdMonitorKind kind) {
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, () -> AioSource.of(ctx));
        assertTrue(e.getMessage().contains("runs on the " + kind + " fd monitor"), e.getMessage());
        assertTrue(e.getMessage().contains("fdMonitor(FdMonitorKind.EPOLL)"), e.getMessage());
    }
}
