package io.jaio.coroutine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import io.jaio.aio.AioContext;
import io.jaio.aio.ClockType;
import io.jaio.aio.IoThread;
import io.jaio.aio.ManualClockSource;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The coroutine contract, QEMU's test-coroutine.c /basic (aio-semantics.md §12.2). Run once per engine:
 * {@code ContinuationBasicContractTest} and {@code VirtualThreadBasicContractTest}; the
 * harness is {@link CoroutineContractTest}.
 */
abstract class CoroutineBasicContract extends CoroutineContractTest {
    @Test
    void createdCoroutinesUseTheEngineUnderTest() {
        assertSame(engine(), co(() -> { }).engine);
    }

    @Test
    @DisplayName("/basic/lifecycle")
    void lifecycle() {
        boolean[] done = {false};
        co(() -> done[0] = true).enter();
        assertTrue(done[0]);
        done[0] = false;
        co(() -> done[0] = true).enter();
        assertTrue(done[0]);
    }

    @Test
    @DisplayName("/basic/yield")
    void yieldFiveTimes() {
        boolean[] done = {false};
        Coroutine c = co(() -> {
            for (int i = 0; i < 5; i++) {
                Coroutine.yield();
            }
            done[0] = true;
        });
        int i = -1;
        while (!done[0]) {
            c.enter();
            i++;
        }
        assertEquals(5, i);
    }

    @Test
    @DisplayName("/basic/nesting")
    void nesting() {
        int[] nEnter = {0};
        int[] nReturn = {0};
        Runnable[] nest = new Runnable[1];
        nest[0] = () -> {
            nEnter[0]++;
            if (nEnter[0] < 128) {
                co(nest[0]).enter();
            }
            nReturn[0]++;
        };
        co(nest[0]).enter();
        assertEquals(128, nEnter[0]);
        assertEquals(128, nReturn[0]);
    }

    @Test
    @DisplayName("/basic/self")
    void self() {
        Coroutine[] handle = new Coroutine[1];
        Coroutine[] seen = new Coroutine[1];
        handle[0] = co(() -> seen[0] = Coroutine.self());
        handle[0].enter();
        assertSame(handle[0], seen[0]);
        assertNull(Coroutine.self());
    }

    @Test
    @DisplayName("/basic/entered")
    void entered() {
        int[] checks = {0};
        Coroutine[] outer = new Coroutine[1];
        outer[0] = co(() -> {
            assertTrue(Coroutine.self().isEntered());
            Coroutine inner = co(() -> {
                assertTrue(outer[0].isEntered());
                assertTrue(Coroutine.self().isEntered());
                checks[0]++;
                Coroutine.yield();
                assertTrue(outer[0].isEntered());
                assertTrue(Coroutine.self().isEntered());
                checks[0]++;
            });
            assertFalse(inner.isEntered());
            inner.enter();
            assertFalse(inner.isEntered());
            inner.enter();
            assertFalse(inner.isEntered());
            checks[0]++;
        });
        assertFalse(outer[0].isEntered());
        outer[0].enter();
        assertFalse(outer[0].isEntered());
        assertEquals(3, checks[0]);
    }

    @Test
    @DisplayName("/basic/in_coroutine")
    void inCoroutine() {
        assertFalse(Coroutine.inCoroutine());
        boolean[] inside = {false};
        co(() -> inside[0] = Coroutine.inCoroutine()).enter();
        assertTrue(inside[0]);
        assertFalse(Coroutine.inCoroutine());
    }

    @Test
    @DisplayName("/basic/order")
    void order() {
        List<String> records = new ArrayList<>();
        Coroutine c = co(() -> {
            records.add("2,1");
            Coroutine.yield();
            records.add("2,2");
        });
        records.add("1,1");
        c.enter();
        assertFalse(Coroutine.inCoroutine());
        records.add("1,2");
        c.enter();
        assertFalse(Coroutine.inCoroutine());
        records.add("1,3");
        assertEquals(List.of("1,1", "2,1", "1,2", "2,2", "1,3"), records);
    }

    /**
     * /basic/no-dangling-access in Java form: c1 enters c2, c2 yields, c1 ends. Entering c2
     * again must run it to its end and come back here, not to the dead c1.
     */
    @Test
    @DisplayName("/basic/no-dangling-access")
    void noDanglingAccess() {
        List<String> events = new ArrayList<>();
        Coroutine c2 = co(() -> {
            events.add("c2 first");
            Coroutine.yield();
            events.add("c2 second, self=" + (Coroutine.self() != null));
        });
        Coroutine c1 = co(() -> {
            c2.enter();
            events.add("c1 ends");
        });
        c1.enter();
        assertTrue(c1.isTerminated());
        assertFalse(c1.isEntered());
        assertFalse(c2.isEntered());
        assertFalse(c2.isTerminated());

        c2.enter();
        assertTrue(c2.isTerminated());
        assertFalse(Coroutine.inCoroutine(), "control came back to the test, not to c1");
        assertEquals(List.of("c2 first", "c1 ends", "c2 second, self=true"), events);
        IllegalStateException e = assertThrows(IllegalStateException.class, c1::enter);
        assertTrue(e.getMessage().contains("ended"), e.getMessage());
    }
}
