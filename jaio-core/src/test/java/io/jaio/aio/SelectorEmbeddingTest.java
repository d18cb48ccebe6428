package io.jaio.aio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * {@link SelectorEmbedding}: a context inside a plain {@link Selector} loop on a thread of its
 * own. Bottom halves, timers, fd handlers, thread-pool completions and cross-thread wake-ups all
 * run in the loop's thread, the loop's own channels keep working, and closing releases every fd.
 */
class SelectorEmbeddingTest {
    private static final long T = EmbeddedWork.T;

    /** The host: a Selector loop that owns the context. */
    private static final class Host implements Runnable {
        final CompletableFuture<AioContext> ready = new CompletableFuture<>();
        final CountDownLatch ownChannelSeen = new CountDownLatch(1);
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        final java.nio.channels.Pipe hostPipe;
        volatile boolean stop;
        volatile Thread thread;
        volatile long progressDispatches;

        Host() throws Exception {
            hostPipe = java.nio.channels.Pipe.open();
        }

        @Override
        public void run() {
            thread = Thread.currentThread();
            try (Selector selector = Selector.open()) {
                AioContext ctx = AioContext.builder().fdMonitor(FdMonitorKind.EPOLL).name("in-selector").build();
                try (SelectorEmbedding emb = SelectorEmbedding.register(ctx, selector)) {
                    hostPipe.source().configureBlocking(false);
                    SelectionKey own = hostPipe.source().register(selector, SelectionKey.OP_READ);
                    ready.complete(ctx);
                    while (!stop) {
                        emb.select(-1);
                        assertTrue(!selector.selectedKeys().contains(emb.key()), "the context's key is taken out");
                        for (SelectionKey k : selector.selectedKeys()) {
                            assertSame(own, k);
                            hostPipe.source().read(ByteBuffer.allocate(16));
                            ownChannelSeen.countDown();
                        }
                        selector.selectedKeys().clear();
                    }
                    own.cancel();
                } finally {
                    ctx.close();
                }
            } catch (Throwable t) {
                failure.set(t);
                ready.completeExceptionally(t);
            }
        }
    }

    @Test
    void everyKindOfWorkRunsInTheSelectorLoop() throws Exception {
        warmUpUnixChannels();
        long fdsBefore = TestSupport.openFdCount();
        Host host = new Host();
        Thread loop = TestSupport.startThread("selector-loop", host);
        AioContext ctx = host.ready.get(T, TimeUnit.SECONDS);
        EmbeddedWork.runsEveryKindInTheLoop(ctx, "selector-loop");

        // the loop's own channel still works beside the context
        host.hostPipe.sink().write(ByteBuffer.wrap(new byte[] {1}));
        assertTrue(host.ownChannelSeen.await(T, TimeUnit.SECONDS));

        ctx.scheduleOneshot("stop", () -> host.stop = true);
        assertTrue(TestSupport.join(loop, T * 1000), "the loop ends");
        assertNull(host.failure.get(), () -> "loop failed: " + host.failure.get());
        host.hostPipe.sink().close();
        host.hostPipe.source().close();
        assertEquals(fdsBefore, TestSupport.openFdCount(), () -> "fds leaked: " + TestSupport.openFdTargets());
    }

    @Test
    void registerRefusesAnUnembeddableContextAndLeaksNothing() throws Exception {
        long fdsBefore = TestSupport.openFdCount();
        try (Selector selector = Selector.open();
             AioContext ctx = AioContext.builder().fdMonitor(FdMonitorKind.POLL).build()) {
            UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                    () -> SelectorEmbedding.register(ctx, selector));
            assertTrue(e.getMessage().contains("POLL"), e.getMessage());
        }
        assertEquals(fdsBefore, TestSupport.openFdCount(), () -> "fds leaked: " + TestSupport.openFdTargets());
    }

    /**
     * The fd trick's failure path after the duplicate exists: a closed selector refuses the
     * channel, and register must close the channel (the duplicate of the epoll fd) and leave no
     * socket file behind.
     */
    @Test
    void registerWithAClosedSelectorLeaksNeitherFdNorSocketFile() throws Exception {
        String prefix = "jaio-sel-" + ProcessHandle.current().pid() + "-";
        Path tmp = Path.of(System.getProperty("java.io.tmpdir", "/tmp"));
        try (AioContext ctx = AioContext.builder().fdMonitor(FdMonitorKind.EPOLL).build()) {
            Selector selector = Selector.open();
            selector.close();
            warmUpUnixChannels();
            long fdsBefore = TestSupport.openFdCount();
            assertThrows(ClosedSelectorException.class, () -> SelectorEmbedding.register(ctx, selector));
            assertEquals(fdsBefore, TestSupport.openFdCount(), () -> "fds leaked: " + TestSupport.openFdTargets());
            try (Stream<Path> files = Files.list(tmp)) {
                assertEquals(List.of(), files.filter(f -> f.getFileName().toString().startsWith(prefix)).toList());
            }
            ctx.scheduleOneshot("one", () -> { });
            assertTrue(ctx.poll(true), "the context's epoll fd survives");
        }
    }

    /**
     * The JDK opens some fds for good on the first Unix-domain channel (the pre-close socket, the
     * SecureRandom devices): open one before counting, so a count taken first is comparable.
     */
    private static void warmUpUnixChannels() throws IOException {
        ServerSocketChannel.open(StandardProtocolFamily.UNIX).close();
    }

    @Test
    void closeKeepsTheContextUsableAndSelectAfterCloseIsRefused() throws Exception {
        try (Selector selector = Selector.open();
             AioContext ctx = AioContext.builder().fdMonitor(FdMonitorKind.EPOLL).build()) {
            SelectorEmbedding emb = SelectorEmbedding.register(ctx, selector);
            int[] ran = {0};
            ctx.scheduleOneshot("one", () -> ran[0]++);
            assertEquals(0, emb.select(-1), "the context's own key is not counted");
            assertEquals(1, ran[0]);
            emb.close();
            emb.close(); // idempotent
            assertTrue(selector.keys().isEmpty(), "the key is gone after close");
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> emb.select(0));
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
            e = assertThrows(IllegalStateException.class, emb::afterSelect, "a loop that selects itself is refused too");
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
            ctx.scheduleOneshot("two", () -> ran[0]++);
            assertTrue(ctx.poll(true), "the context's epoll fd survives the channel's close");
            assertEquals(2, ran[0]);
        }
    }
}
