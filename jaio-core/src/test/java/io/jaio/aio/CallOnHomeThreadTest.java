package io.jaio.aio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * AioContext.callOnHomeThread from another thread: the caller parks on a OneShot until the home
 * thread's loop ran the work. The loop is stepped by the test (the home thread), no sleeps.
 */
class CallOnHomeThreadTest {
    private AioContext ctx;

    @BeforeEach
    void open() {
        ctx = AioContext.create();
    }

    @AfterEach
    void close() {
        ctx.close();
    }

    /**
     * Runs {@code call} on a new thread; the home thread polls (blocking: the caller's oneshot BH
     * wakes it) until the caller has ended, then joins it. If the call fails before scheduling
     * anything, its final wake-up still ends the polling, so the test fails instead of hanging.
     */
    private void callFromAnotherThread(Runnable call) throws InterruptedException {
        java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
        Thread t = Thread.ofPlatform().name("caller").start(() -> {
            try {
                call.run();
            } finally {
                done.set(true);
                ctx.wakeup();
            }
        });
        while (!done.get()) {
            ctx.poll(true);
        }
        t.join();
    }

    @Test
    void theWorkRunsInTheHomeThreadAndItsValueReturns() throws InterruptedException {
        AtomicReference<Object> ranIn = new AtomicReference<>();
        AtomicReference<Object> got = new AtomicReference<>();
        callFromAnotherThread(() -> got.set(ctx.callOnHomeThread("value", () -> {
            ranIn.set(Thread.currentThread());
            return "forty-two";
        })));
        assertSame(Thread.currentThread(), ranIn.get());
        assertEquals("forty-two", got.get());
    }

    @Test
    void whatTheWorkThrowsIsRethrownAsIs() throws InterruptedException {
        IllegalArgumentException boom = new IllegalArgumentException("boom");
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        callFromAnotherThread(() -> {
            try {
                ctx.callOnHomeThread("throws", () -> {
                    throw boom;
                });
            } catch (Throwable t) {
                thrown.set(t);
            }
        });
        assertSame(boom, thrown.get());
    }

    @Test
    void anInterruptEndsTheWaitAndIsKept() throws InterruptedException {
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        AtomicReference<Boolean> stillInterrupted = new AtomicReference<>();
        Thread t = Thread.ofPlatform().name("caller").start(() -> {
            Thread.currentThread().interrupt(); // before the call: the wait must not block
            try {
                ctx.callOnHomeThread("never-awaited", () -> "late");
            } catch (Throwable e) {
                thrown.set(e);
            }
            stillInterrupted.set(Thread.currentThread().isInterrupted());
        });
        t.join();
        IllegalStateException e = assertInstanceOf(IllegalStateException.class, thrown.get());
        assertEquals("interrupted while waiting for 'never-awaited' in context " + ctx.name(), e.getMessage());
        assertInstanceOf(InterruptedException.class, e.getCause());
        assertTrue(stillInterrupted.get());
        assertTrue(ctx.poll(false), "the oneshot still runs (nobody waits for its result)");
        assertEquals(0, ctx.stats().callbackErrors());
    }
}
