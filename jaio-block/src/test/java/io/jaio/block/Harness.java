package io.jaio.block;

import io.jaio.aio.AioContext;
import io.jaio.aio.FdMonitorKind;
import io.jaio.coroutine.Coroutine;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * An AioContext created in the test thread, and coroutines entered from the test and driven by
 * {@code ctx.poll(true)} until they end. A bounded deadline turns a hang into a failure: once it
 * passes, a watchdog thread keeps waking the context and the poll loop fails. No timing is asserted.
 */
final class Harness implements AutoCloseable {
    private static final long DEADLINE_SECONDS = Long.getLong("jaio.test.deadline", 20);

    final AioContext ctx;
    private final ScheduledExecutorService watchdog;
    private volatile boolean expired;

    private Harness(AioContext ctx) {
        this.ctx = ctx;
        this.watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "jaio-block-test-watchdog");
            t.setDaemon(true);
            return t;
        });
        watchdog.scheduleAtFixedRate(() -> {
            expired = true;
            ctx.wakeup();
        }, DEADLINE_SECONDS * 1000, 100, TimeUnit.MILLISECONDS);
    }

    /** A context for {@code engine}: the io_uring fd monitor for IO_URING (skipped if unavailable), epoll otherwise. */
    static Harness create(RawFileBackend.Engine engine) {
        AioContext ctx;
        if (engine == RawFileBackend.Engine.IO_URING) {
            try {
                ctx = AioContext.builder().fdMonitor(FdMonitorKind.IO_URING).name("block-test-uring").build();
            } catch (RuntimeException e) {
                assumeTrue(false, "io_uring unavailable here: " + e);
                throw e;
            }
            if (!ctx.hasIoUring()) {
                ctx.close();
                assumeTrue(false, "io_uring unavailable here (context fell back to " + ctx.fdMonitorKind() + ")");
            }
        } else {
            ctx = AioContext.builder().fdMonitor(FdMonitorKind.EPOLL).name("block-test-threads").build();
        }
        ctx.poll(false); // consume the creation's notification
        return new Harness(ctx);
    }

    /** A body that may throw anything; run inside a coroutine. */
    @FunctionalInterface
    interface Body {
        void run() throws Exception;
    }

    /** Runs {@code body} in one coroutine, polling until it ends; rethrows what it threw. */
    void run(Body body) {
        runAll(List.of(body));
    }

    /** Enters one coroutine per body (all before polling), polls until every one ended, rethrows the first failure. */
    void runAll(List<Body> bodies) {
        runAll(bodies, finished -> { });
    }

    /**
     * As {@link #runAll(List)}, calling {@code afterEnter} with the number of coroutines already
     * ended once all were entered and before the first poll.
     */
    void runAll(List<Body> bodies, java.util.function.IntConsumer afterEnter) {
        int n = bodies.size();
        Throwable[] errors = new Throwable[n];
        boolean[] done = new boolean[n];
        int[] remaining = {n};
        List<Coroutine> cos = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int k = i;
            Body b = bodies.get(i);
            cos.add(Coroutine.create(() -> {
                try {
                    b.run();
                } catch (Throwable t) {
                    errors[k] = t;
                } finally {
                    done[k] = true;
                    remaining[0]--;
                }
            }));
        }
        for (Coroutine co : cos) {
            co.enter();
        }
        afterEnter.accept(n - remaining[0]);
        while (remaining[0] > 0) {
            if (expired) {
                fail("deadline of " + DEADLINE_SECONDS + " s passed with " + remaining[0] + " coroutine(s) still running");
            }
            ctx.poll(true);
        }
        if (expired) {
            fail("the coroutines ended only after the deadline of " + DEADLINE_SECONDS + " s (a lost wake-up?)");
        }
        for (Throwable t : errors) {
            if (t instanceof RuntimeException e) {
                throw e;
            }
            if (t instanceof Error e) {
                throw e;
            }
            if (t != null) {
                throw new AssertionError(t);
            }
        }
    }

    @Override
    public void close() {
        watchdog.shutdownNow();
        ctx.close();
    }
}
