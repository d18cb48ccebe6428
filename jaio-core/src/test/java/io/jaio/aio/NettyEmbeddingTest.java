package io.jaio.aio;

import static java.util.concurrent.TimeUnit.MILLISECONDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.IoEventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/**
 * {@link NettyEmbedding}: a context inside a Netty 4.2 epoll EventLoop. Bottom halves, timers,
 * fd handlers, thread-pool completions and cross-thread wake-ups all run in the loop's thread,
 * between the loop's own tasks, and nothing leaks once the context is closed.
 */
class NettyEmbeddingTest {
    private static final long T = 20; // s: a bound for a lost wake-up, never a timing assertion

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
            List<String> where = new CopyOnWriteArrayList<>();
            String[] loopThread = new String[1];
            loop.submit(() -> loopThread[0] = Thread.currentThread().getName()).get(T, TimeUnit.SECONDS);

            CountDownLatch oneshot = new CountDownLatch(1);
            ctx.scheduleOneshot("x-thread", () -> {
                where.add("oneshot:" + loop.inEventLoop());
                oneshot.countDown();
            });
            assertTrue(oneshot.await(T, TimeUnit.SECONDS));

            CountDownLatch bhRan = new CountDownLatch(1);
            BottomHalf bh = ctx.newBottomHalf("bh", () -> {
                where.add("bh:" + loop.inEventLoop());
                bhRan.countDown();
            });
            bh.schedule();
            assertTrue(bhRan.await(T, TimeUnit.SECONDS));

            CountDownLatch timerRan = new CountDownLatch(1);
            Timer timer = ctx.newTimer(ClockType.REALTIME, MILLISECONDS, () -> {
                where.add("timer:" + loop.inEventLoop());
                timerRan.countDown();
            });
            ctx.scheduleOneshot("arm", () -> timer.mod(ctx.nowNs(ClockType.REALTIME) / 1_000_000 + 2));
            assertTrue(timerRan.await(T, TimeUnit.SECONDS));

            try (Pipe p = Pipe.open()) {
                CountDownLatch readable = new CountDownLatch(1);
                ctx.setFdHandler(p.r, () -> {
                    p.drain();
                    where.add("fd:" + loop.inEventLoop());
                    readable.countDown();
                }, null, null, null);
                p.writeByte();
                assertTrue(readable.await(T, TimeUnit.SECONDS));
                ctx.setFdHandler(p.r, null, null, null, null);
            }

            CompletableFuture<Integer> pool = new CompletableFuture<>();
            ctx.scheduleOneshot("submit", () -> ctx.threadPool().submitAio(() -> 42, (v, err) -> {
                where.add("pool:" + loop.inEventLoop());
                pool.complete(v);
            }));
            assertEquals(42, pool.get(T, TimeUnit.SECONDS));

            // Netty's own tasks still run, on the same thread
            assertEquals(loopThread[0], loop.submit(() -> Thread.currentThread().getName()).get(T, TimeUnit.SECONDS));

            assertEquals(List.of("oneshot:true", "bh:true", "timer:true", "fd:true", "pool:true"), where);

            long fdsBeforeClose = TestSupport.openFdCount();
            loop.submit(() -> {
                emb.cancel();
                bh.delete();
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
