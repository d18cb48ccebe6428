package io.jaio.aio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jaio.coroutine.Coroutine;
import io.jaio.coroutine.ThreadPools;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link io.jaio.coroutine.ThreadPools#submitCo}: QEMU's /thread-pool/submit-co (docs/design/qemu-test-scenarios.md §5) and the
 * exception and misuse cases. Needs io.jaio.coroutine's create/enter/yield/self/wake.
 */
class ThreadPoolCoTest {
    private static final int EINPROGRESS = -115;

    private AioContext ctx;
    private Watchdog wd;
    // Written by the coroutine (home thread), read by the test (home thread).
    private int active;
    private int ret;
    private final AtomicInteger n = new AtomicInteger();

    @BeforeEach
    void setUp() {
        ctx = AioContext.create();
        wd = Watchdog.start(Duration.ofSeconds(30)).watch(ctx);
    }

    @AfterEach
    void tearDown() {
        wd.unwatch(ctx);
        wd.close();
        ctx.close();
    }

    private ThreadPool pool() {
        return ctx.slot(ThreadPool.SLOT, ThreadPool::new);
    }

    private void pollWhile(BooleanSupplier cond) {
        while (cond.getAsBoolean()) {
            wd.check();
            ctx.poll(true);
        }
    }

    /** /thread-pool/submit-co. */
    @Test
    void submitCo() {
        ThreadPool p = pool();
        int[] nInside = {-1};
        Thread[] resumedIn = {null};
        Coroutine co = Coroutine.create(() -> {
            active = 1;
            n.set(0);
            ret = EINPROGRESS;
            int old = ThreadPools.submitCo(p, () -> n.getAndIncrement()); // worker_cb; yields
            nInside[0] = n.get();
            resumedIn[0] = Coroutine.hostThread(); // the entering thread, under either engine
            assertEquals(0, old);
            ret = 0;
            active--;
        });
        co.enter();
        assertEquals(1, active);
        assertEquals(EINPROGRESS, ret);

        pollWhile(() -> ret == EINPROGRESS);
        assertEquals(0, active);
        assertEquals(0, ret);
        assertEquals(1, nInside[0], "the coroutine resumes after the work ran");
        assertSame(ctx.homeThread(), resumedIn[0], "resumed inside the completion BH, in the home thread");
        assertEquals(0, ctx.stats().callbackErrors());
    }

    @Test
    void submitCoRethrowsTheWorksException() {
        ThreadPool p = pool();
        IOException io = new IOException("short read");
        Throwable[] caught = {null};
        boolean[] finished = {false};
        Coroutine co = Coroutine.create(() -> {
            try {
                ThreadPools.submitCo(p, () -> {
                    throw io;
                });
            } catch (Exception e) { // checked exceptions are rethrown as they are
                caught[0] = e;
            }
            finished[0] = true;
        });
        co.enter();
        pollWhile(() -> !finished[0]);
        assertSame(io, caught[0]);

        RuntimeException rte = new IllegalArgumentException("bad offset");
        Throwable[] caught2 = {null};
        Coroutine co2 = Coroutine.create(() -> {
            try {
                ThreadPools.submitCo(p, () -> {
                    throw rte;
                });
            } catch (RuntimeException e) {
                caught2[0] = e;
            }
        });
        co2.enter();
        pollWhile(() -> caught2[0] == null);
        assertSame(rte, caught2[0]);
        assertEquals(0, ctx.stats().callbackErrors());
    }

    @Test
    void submitCoOutsideACoroutineThrows() {
        ThreadPool p = pool();
        assertFalse(Coroutine.inCoroutine());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ThreadPools.submitCo(p, () -> 1));
        assertTrue(e.getMessage().contains("coroutine"), e.getMessage());
    }
}
