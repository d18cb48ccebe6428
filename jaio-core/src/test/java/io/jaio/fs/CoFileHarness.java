package io.jaio.fs;

import io.jaio.aio.AioContext;
import io.jaio.aio.FdMonitorKind;
import io.jaio.coroutine.Coroutine;
import io.jaio.coroutine.TestEngines;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * What the file tests share: a context whose home thread is the test thread, bodies run in
 * coroutines entered from it and driven by {@code poll(true)}, and a watchdog that turns a hang
 * into a failure. No timing is asserted.
 */
abstract class CoFileHarness {
    /** Per runAll/pollUntil call, not per test: the machine may be slow, but a lost wake-up never ends. */
    static final int DEADLINE_SECONDS = 60;

    /** The context's fd monitor. */
    abstract FdMonitorKind fdMonitor();

    /** The coroutine engine: "continuation" or "virtual". */
    abstract String coroutineEngine();

    /** The context's name (error messages name it). */
    String contextName() {
        return "cofile-test";
    }

    @TempDir
    Path dir;

    AioContext ctx;
    private ScheduledExecutorService watchdog;

    @BeforeEach
    final void startContext() {
        ctx = AioContext.builder().fdMonitor(fdMonitor()).name(contextName()).build();
        if (fdMonitor() == FdMonitorKind.IO_URING && !ctx.hasIoUring()) {
            ctx.close();
            assumeTrue(false, "io_uring unavailable here");
        }
        ctx.poll(false);
        watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, contextName() + "-watchdog");
            t.setDaemon(true);
            return t;
        });
        // Wakes the loop once a second so that pollUntil can check its deadline; never a result.
        watchdog.scheduleAtFixedRate(ctx::wakeup, 1, 1, TimeUnit.SECONDS);
    }

    @AfterEach
    final void stopContext() {
        if (watchdog != null) {
            watchdog.shutdownNow();
        }
        if (ctx != null && !ctx.isClosed()) {
            ctx.close();
        }
    }

    /** A body run in a coroutine; may throw anything. */
    @FunctionalInterface
    interface Body {
        void run() throws Exception;
    }

    /** Coroutines entered by {@link #start}: their failures and how many are still running. Home thread. */
    final class Started {
        final Throwable[] errors;
        int remaining;

        Started(int n) {
            errors = new Throwable[n];
            remaining = n;
        }

        /** Polls until every coroutine has finished; rethrows the first failure. */
        void await() {
            pollUntil(() -> remaining == 0);
            for (Throwable t : errors) {
                if (t != null) {
                    throw new AssertionError("coroutine failed: " + t, t);
                }
            }
        }
    }

    /** Enters every body in its own coroutine, each until its first suspension; polls nothing. */
    Started start(List<Body> bodies) {
        return start(bodies, coroutineEngine());
    }

    /** {@link #start(List)} on the coroutine engine named {@code engine}. */
    Started start(List<Body> bodies, String engine) {
        Started started = new Started(bodies.size());
        List<Coroutine> cos = new ArrayList<>();
        for (int i = 0; i < bodies.size(); i++) {
            int k = i;
            cos.add(TestEngines.create(() -> {
                try {
                    bodies.get(k).run();
                } catch (Throwable t) {
                    started.errors[k] = t;
                } finally {
                    started.remaining--;
                }
            }, engine));
        }
        cos.forEach(Coroutine::enter);
        return started;
    }

    /** Runs every body in its own coroutine (all entered before the first poll); rethrows the first failure. */
    void runAll(List<Body> bodies) {
        start(bodies).await();
    }

    void run(Body body) {
        runAll(List.of(body));
    }

    /** {@link #run(Body)} on the coroutine engine named {@code engine}. */
    void run(Body body, String engine) {
        start(List.of(body), engine).await();
    }

    void pollUntil(BooleanSupplier done) {
        long start = System.nanoTime();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() - start > TimeUnit.SECONDS.toNanos(DEADLINE_SECONDS)) {
                fail("deadline of " + DEADLINE_SECONDS + " s passed (a lost wake-up?)");
            }
            ctx.poll(true);
        }
    }

    static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }
}
