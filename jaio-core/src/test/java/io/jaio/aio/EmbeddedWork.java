package io.jaio.aio;

import static java.util.concurrent.TimeUnit.MILLISECONDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The scenario every host-loop embedding must pass ({@link SelectorEmbeddingTest},
 * {@link NettyEmbeddingTest}): each kind of work a context runs, started from a thread that is not
 * the host loop's, runs in the host loop's thread.
 */
final class EmbeddedWork {
    /** s: a bound for a lost wake-up, never a timing assertion. */
    static final long T = 20;

    private EmbeddedWork() {
    }

    /**
     * A cross-thread oneshot BH, a BH made and scheduled here (it deletes itself when it runs), a
     * timer on the system clock (armed in the loop: its deadline is the host's timeout), an fd
     * handler and a thread-pool completion, one after the other, each awaited; asserts each ran in
     * the thread named {@code loopThread}. Call from a thread other than the loop's, with the
     * host loop running {@code ctx}.
     */
    static void runsEveryKindInTheLoop(AioContext ctx, String loopThread) throws Exception {
        List<String> where = new CopyOnWriteArrayList<>();

        CountDownLatch oneshot = new CountDownLatch(1);
        ctx.scheduleOneshot("x-thread", () -> {
            where.add("oneshot:" + Thread.currentThread().getName());
            oneshot.countDown();
        });
        assertTrue(oneshot.await(T, TimeUnit.SECONDS));

        CountDownLatch bhRan = new CountDownLatch(1);
        BottomHalf[] bh = new BottomHalf[1];
        bh[0] = ctx.newBottomHalf("bh", () -> {
            where.add("bh:" + Thread.currentThread().getName());
            bh[0].delete(); // so the context closes without a leaked BH
            bhRan.countDown();
        });
        bh[0].schedule();
        assertTrue(bhRan.await(T, TimeUnit.SECONDS));

        CountDownLatch timerRan = new CountDownLatch(1);
        Timer timer = ctx.newTimer(ClockType.REALTIME, MILLISECONDS, () -> {
            where.add("timer:" + Thread.currentThread().getName());
            timerRan.countDown();
        });
        ctx.scheduleOneshot("arm", () -> timer.mod(ctx.nowNs(ClockType.REALTIME) / 1_000_000 + 2));
        assertTrue(timerRan.await(T, TimeUnit.SECONDS));

        try (Pipe p = Pipe.open()) {
            CountDownLatch readable = new CountDownLatch(1);
            ctx.setFdHandler(p.r, () -> {
                p.drain();
                where.add("fd:" + Thread.currentThread().getName());
                readable.countDown();
            }, null, null, null);
            p.writeByte();
            assertTrue(readable.await(T, TimeUnit.SECONDS));
            ctx.setFdHandler(p.r, null, null, null, null);
        }

        CompletableFuture<Integer> pool = new CompletableFuture<>();
        ctx.scheduleOneshot("submit", () -> ctx.threadPool().submitAio(() -> 42, (v, err) -> {
            where.add("pool:" + Thread.currentThread().getName());
            pool.complete(v);
        }));
        assertEquals(42, pool.get(T, TimeUnit.SECONDS));

        assertEquals(List.of("oneshot:" + loopThread, "bh:" + loopThread, "timer:" + loopThread,
                "fd:" + loopThread, "pool:" + loopThread), where);
    }
}
