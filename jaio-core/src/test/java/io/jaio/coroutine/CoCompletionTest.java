package io.jaio.coroutine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jaio.aio.AioContext;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** CoCompletion: the one-shot "complete a result and wake the coroutine" (the default engine). */
class CoCompletionTest {
    private AioContext ctx;

    @BeforeEach
    void open() {
        ctx = AioContext.create();
    }

    @AfterEach
    void close() {
        ctx.close();
    }

    @Test
    void awaitYieldsUntilCompletedAndTheCompletionWakesIt() {
        List<String> trail = new ArrayList<>();
        List<CoCompletion<Integer>> c = new ArrayList<>();
        Coroutine co = Coroutine.create(() -> {
            c.add(new CoCompletion<>());
            trail.add("wait");
            trail.add("got " + c.get(0).await());
        });
        co.enter();
        assertEquals(List.of("wait"), trail);
        assertFalse(c.get(0).isDone());
        assertNull(c.get(0).value());
        c.get(0).complete(42); // the home thread, the coroutine has yielded: woken (entered now)
        assertEquals(List.of("wait", "got 42"), trail);
        assertTrue(co.isTerminated());
    }

    @Test
    void aFailureIsThrownAsIsCheckedOnesIncluded() {
        IOException disk = new IOException("disk on fire");
        List<Object> seen = new ArrayList<>();
        List<CoCompletion<Integer>> c = new ArrayList<>();
        Coroutine co = Coroutine.create(() -> {
            c.add(new CoCompletion<>());
            try {
                seen.add(c.get(0).await());
            } catch (Exception e) {
                seen.add(e);
            }
        });
        co.enter();
        c.get(0).accept(null, disk);
        assertEquals(1, seen.size());
        assertSame(disk, seen.get(0));
        assertSame(disk, c.get(0).failure());
    }

    @Test
    void completedWhileTheWaiterRunsItIsNotWokenAndDoesNotYield() {
        List<Integer> seen = new ArrayList<>();
        Coroutine co = Coroutine.create(() -> {
            CoCompletion<Integer> c = new CoCompletion<>();
            c.complete(5); // the waiter is entered: no wake (QEMU: wake unless entered)
            seen.add(c.await());
        });
        co.enter();
        assertEquals(List.of(5), seen);
        assertTrue(co.isTerminated());
        assertFalse(ctx.poll(false), "nothing was scheduled");
    }

    @Test
    void itCompletesOnce() {
        CoCompletion<Integer> c = new CoCompletion<>(); // outside a coroutine: no waiter, polled
        c.complete(1);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> c.complete(2));
        assertEquals("CoCompletion completed twice", e.getMessage());
        assertThrows(IllegalStateException.class, () -> c.fail(new RuntimeException("late")));
        assertTrue(c.isDone());
        assertEquals(1, c.value());
        assertNull(c.failure());
    }

    @Test
    void onlyItsCoroutineAwaitsIt() {
        CoCompletion<Integer> c = new CoCompletion<>();
        IllegalStateException e = assertThrows(IllegalStateException.class, c::await);
        assertEquals("CoCompletion.await() must run in the coroutine that created it", e.getMessage());
    }
}
