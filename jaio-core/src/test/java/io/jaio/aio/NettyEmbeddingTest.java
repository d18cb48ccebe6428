package io.jaio.aio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.IoEventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/**
 * {@link NettyEmbedding}: a context inside a Netty 4.2 epoll EventLoop. Bottom halves, timers,
 * fd handlers, thread-pool completions and cross-thread wake-ups all run in the loop's thread,
 * between the loop's own tasks, and nothing leaks once the context is closed.
 */
class NettyEmbeddingTest {
    private static final long T = EmbeddedWork.T;

    @Test
    void everyKindOfWorkRunsInTheNettyLoop() throws Exception {
        MultiThreadIoEventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        try {
            IoEventLoop loop = group.next();
            CompletableFuture<AioContext> made = new CompletableFuture<>();
            CompletableFuture<NettyEmbedding> embedded = new CompletableFuture<>();
            loop.execute(() -> {
                AioContext c = AioContext.builder().fdMonitor(FdMonitorKind.EPOLL).name("in-netty").build();
                made.complete(c);
                NettyEmbedding.register(loop, c).whenComplete((e, err) -> {
                    if (err != null) {
                        embedded.completeExceptionally(err);
                    } else {
                        embedded.complete(e);
                    }
                });
            });
            AioContext ctx = made.get(T, TimeUnit.SECONDS);
            NettyEmbedding emb = embedded.get(T, TimeUnit.SECONDS);
            String[] loopThread = new String[1];
            loop.submit(() -> loopThread[0] = Thread.currentThread().getName()).get(T, TimeUnit.SECONDS);

            EmbeddedWork.runsEveryKindInTheLoop(ctx, loopThread[0]);

            // Netty's own tasks still run, on the same thread
            assertEquals(loopThread[0], loop.submit(() -> Thread.currentThread().getName()).get(T, TimeUnit.SECONDS));

            long fdsBeforeClose = TestSupport.openFdCount();
            loop.submit(() -> {
                emb.cancel();
                ctx.close();
            }).get(T, TimeUnit.SECONDS);
            assertTrue(ctx.isClosed());
            // the context's eventfd and epoll fd, and the thread pool's notifier if it has one, are gone
            assertTrue(TestSupport.openFdCount() < fdsBeforeClose, () -> "nothing closed: " + TestSupport.openFdTargets());
        } finally {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).await(T, TimeUnit.SECONDS);
        }
    }
}
