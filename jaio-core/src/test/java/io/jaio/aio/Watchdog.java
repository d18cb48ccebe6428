package io.jaio.aio;

import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Turns a hang into a test failure. After the deadline it marks itself expired and keeps
 * calling {@link AioContext#wakeup()} on every watched context (and runs the registered
 * expiry actions once), so a blocking {@code poll(true)} that nothing else would ever wake
 * returns; the test then fails on its own assertion or on {@link #check()}.
 *
 * <p>Every test that calls {@code poll(true)} arms one; it is the only "timeout" the suite has,
 * and in a passing run it never fires.
 */
final class Watchdog implements AutoCloseable {

    private final ScheduledExecutorService timer;
    private final List<AioContext> watched = new CopyOnWriteArrayList<>();
    private final List<Runnable> onExpiry = new CopyOnWriteArrayList<>();
    private volatile boolean expired;

    private Watchdog(Duration deadline) {
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "jaio-test-watchdog");
            t.setDaemon(true);
            return t;
        });
        timer.schedule(this::expire, deadline.toMillis(), TimeUnit.MILLISECONDS);
    }

    static Watchdog start(Duration deadline) {
        return new Watchdog(deadline);
    }

    /** Wake {@code ctx} once the deadline has passed. Unwatch it before closing it. */
    Watchdog watch(AioContext ctx) {
        watched.add(ctx);
        return this;
    }

    void unwatch(AioContext ctx) {
        watched.remove(ctx);
    }

    /** Run {@code action} once when the deadline passes (e.g. release a condition a waiter spins on). */
    Watchdog onExpiry(Runnable action) {
        onExpiry.add(action);
        return this;
    }

    boolean expired() {
        return expired;
    }

    /** Fail the test if the deadline has passed. Call it inside every poll loop. */
    void check() {
        if (expired) {
            fail("watchdog expired: the loop did not make the expected progress in time (a lost wake-up?)");
        }
    }

    private void expire() {
        expired = true;
        for (Runnable r : onExpiry) {
            try {
                r.run();
            } catch (Throwable ignored) {
                // best effort: we only try to unblock the test thread
            }
        }
        timer.scheduleAtFixedRate(this::kickAll, 0, 20, TimeUnit.MILLISECONDS);
    }

    private void kickAll() {
        for (AioContext c : watched) {
            try {
                c.wakeup();
            } catch (Throwable ignored) {
                // the context may be closing; nothing to do
            }
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
        try {
            timer.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
