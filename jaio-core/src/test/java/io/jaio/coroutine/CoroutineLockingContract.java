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
 * The coroutine contract, QEMU's test-coroutine.c /locking: CoMutex, CoQueue, CoRwLock. Run once per engine:
 * {@code ContinuationLockingContractTest} and {@code VirtualThreadLockingContractTest}; the
 * harness is {@link CoroutineContractTest}.
 */
abstract class CoroutineLockingContract extends CoroutineContractTest {
    @Test
    @DisplayName("/locking/co-mutex")
    void coMutex() {
        CoMutex m = new CoMutex();
        boolean[] locked = {false};
        int[] done = {0};
        Runnable body = () -> {
            m.lock();
            assertFalse(locked[0]);
            locked[0] = true;
            Coroutine.yield();
            locked[0] = false;
            m.unlock();
            done[0]++;
        };
        Coroutine c1 = co(body);
        Coroutine c2 = co(body);

        c1.enter();
        assertTrue(locked[0]);
        c2.enter(); // blocks on the mutex
        c1.enter(); // unlocks, waking c2 after c1 ends; c2 takes the lock and yields
        assertEquals(1, done[0]);
        assertTrue(locked[0]);
        c2.enter();
        assertEquals(2, done[0]);
        assertFalse(locked[0]);
    }

    @Test
    void coMutexMisuse() {
        CoMutex m = new CoMutex();
        IllegalStateException outside = assertThrows(IllegalStateException.class, m::lock);
        assertTrue(outside.getMessage().contains("outside a coroutine"), outside.getMessage());

        List<String> messages = new ArrayList<>();
        co(() -> {
            try {
                m.unlock();
            } catch (IllegalStateException e) {
                messages.add(e.getMessage());
            }
        }).enter();
        Coroutine holder = co(() -> {
            m.lock();
            Coroutine.yield();
            m.unlock();
        });
        holder.enter();
        co(() -> {
            try {
                m.unlock();
            } catch (IllegalStateException e) {
                messages.add(e.getMessage());
            }
        }).enter();
        holder.enter();
        assertEquals(2, messages.size());
        assertTrue(messages.get(0).contains("not locked"), messages.get(0));
        assertTrue(messages.get(1).contains("does not hold it"), messages.get(1));
    }

    /** Three waiters queue behind a holder and get the mutex in arrival order. */
    @Test
    void coMutexHandsOffInFifoOrder() {
        CoMutex m = new CoMutex();
        List<Integer> order = new ArrayList<>();
        Coroutine holder = co(() -> {
            m.lock();
            Coroutine.yield();
            m.unlock();
        });
        holder.enter();
        for (int i = 1; i <= 3; i++) {
            int id = i;
            co(() -> {
                m.lock();
                order.add(id);
                m.unlock();
            }).enter();
        }
        assertEquals(List.of(), order);
        holder.enter();
        assertEquals(List.of(1, 2, 3), order);
    }

    @Test
    @DisplayName("/locking/co-rwlock/upgrade")
    void coRwLockUpgrade() {
        CoRwLock l = new CoRwLock();
        boolean[] c1Done = {false};
        boolean[] c2Done = {false};
        Coroutine c1 = co(() -> {
            l.readLock();
            Coroutine.yield();
            l.upgrade();
            l.unlock();
            c1Done[0] = true;
        });
        Coroutine c2 = co(() -> {
            l.writeLock();
            Coroutine.yield();
            l.unlock();
            c2Done[0] = true;
        });
        c1.enter(); // reader
        c2.enter(); // queued writer
        c1.enter(); // upgrade queues behind c2 and lets c2 in
        assertFalse(c1Done[0]);
        assertFalse(c2Done[0]);
        c2.enter(); // c2 unlocks; c1 gets the write lock and completes
        assertTrue(c1Done[0]);
        assertTrue(c2Done[0]);
    }

    @Test
    @DisplayName("/locking/co-rwlock/downgrade")
    void coRwLockDowngrade() {
        CoRwLock l = new CoRwLock();
        boolean[] done = new boolean[5];
        Coroutine c1 = co(() -> {
            l.readLock();
            Coroutine.yield();
            l.unlock();
            Coroutine.yield();
            done[1] = true;
        });
        Coroutine c2 = co(() -> {
            l.writeLock();
            l.downgrade();
            l.unlock();
            done[2] = true;
        });
        Coroutine c3 = co(() -> {
            l.readLock();
            l.unlock();
            done[3] = true;
        });
        Coroutine c4 = co(() -> {
            l.writeLock();
            l.unlock();
            done[4] = true;
        });
        c1.enter();
        c2.enter();
        c3.enter();
        c4.enter();
        assertFalse(done[2] || done[3] || done[4]);
        c1.enter(); // unlocks: c2 writes, downgrades (admits c3), then c4 after both readers
        assertTrue(done[2]);
        assertTrue(done[3]);
        assertTrue(done[4]);
        assertFalse(done[1]);
        c1.enter();
        assertTrue(done[1]);
    }

    @Test
    void coRwLockReadersShareWritersExclude() {
        CoRwLock l = new CoRwLock();
        List<String> events = new ArrayList<>();
        Coroutine r1 = co(() -> {
            l.readLock();
            events.add("r1 in");
            Coroutine.yield();
            l.unlock();
        });
        Coroutine r2 = co(() -> {
            l.readLock();
            events.add("r2 in");
            Coroutine.yield();
            l.unlock();
        });
        Coroutine w = co(() -> {
            l.writeLock();
            events.add("w in");
            l.unlock();
        });
        Coroutine r3 = co(() -> {
            l.readLock(); // queued behind the writer for fairness
            events.add("r3 in");
            l.unlock();
        });
        r1.enter();
        r2.enter();
        w.enter();
        r3.enter();
        assertEquals(List.of("r1 in", "r2 in"), events);
        r1.enter();
        assertEquals(List.of("r1 in", "r2 in"), events);
        r2.enter();
        assertEquals(List.of("r1 in", "r2 in", "w in", "r3 in"), events);
    }

    @Test
    void coRwLockMisuse() {
        CoRwLock l = new CoRwLock();
        List<String> messages = new ArrayList<>();
        co(() -> {
            for (Runnable r : List.<Runnable>of(l::unlock, l::upgrade, l::downgrade)) {
                try {
                    r.run();
                } catch (IllegalStateException e) {
                    messages.add(e.getMessage());
                }
            }
        }).enter();
        assertEquals(3, messages.size(), messages.toString());
        IllegalStateException outside = assertThrows(IllegalStateException.class, l::readLock);
        assertTrue(outside.getMessage().contains("outside a coroutine"), outside.getMessage());
    }

    @Test
    void coQueueWakesInFifoOrder() {
        CoQueue q = new CoQueue();
        List<Integer> order = new ArrayList<>();
        assertTrue(q.isEmpty());
        assertFalse(q.next());
        for (int i = 1; i <= 4; i++) {
            int id = i;
            co(() -> {
                q.await(null);
                order.add(id);
            }).enter();
        }
        assertFalse(q.isEmpty());
        assertTrue(q.next()); // outside a coroutine: the waiter runs now
        assertEquals(List.of(1), order);
        q.restartAll();
        assertEquals(List.of(1, 2, 3, 4), order);
        assertTrue(q.isEmpty());
        assertFalse(q.next());
    }

    /** Woken from inside a coroutine, waiters run after it yields, in FIFO order, with the lock. */
    @Test
    void coQueueWithMutexInsideCoroutines() {
        CoMutex m = new CoMutex();
        CoQueue q = new CoQueue();
        List<String> events = new ArrayList<>();
        boolean[] ready = {false};
        for (int i = 1; i <= 2; i++) {
            int id = i;
            co(() -> {
                m.lock();
                while (!ready[0]) {
                    q.await(m);
                }
                events.add("waiter " + id);
                m.unlock();
            }).enter();
        }
        co(() -> {
            m.lock();
            ready[0] = true;
            q.restartAll();
            events.add("waker");
            m.unlock();
        }).enter();
        assertEquals(List.of("waker", "waiter 1", "waiter 2"), events);
        assertTrue(q.isEmpty());
    }
}
