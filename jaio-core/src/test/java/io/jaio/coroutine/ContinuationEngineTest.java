package io.jaio.coroutine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What only the default engine, {@code jdk.internal.vm.Continuation}, does (the contract runs in {@code Continuation...ContractTest}). */
class ContinuationEngineTest extends CoroutineContractTest {

    @Override
    Engine engine() {
        return Engine.CONTINUATION;
    }

    @Test
    void continuationsAreAvailableInTheTestJvm() {
        assertTrue(Engine.continuationsAvailable(), "the test JVM exports java.base/jdk.internal.vm");
    }

    /** The coroutine runs on the entering thread itself. */
    @Test
    void runsOnTheEnteringThread() {
        Thread me = Thread.currentThread();
        Thread[] ran = new Thread[2];
        Coroutine c = co(() -> {
            ran[0] = Thread.currentThread();
            Coroutine.yield();
            ran[1] = Thread.currentThread();
        });
        c.enter();
        Thread other = Thread.ofPlatform().start(c::enter);
        try {
            other.join();
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
        assertSame(me, ran[0]);
        assertSame(other, ran[1]);
    }

    /** JDK 24+ lets a continuation yield while holding a monitor; it still owns it when resumed. */
    @Test
    void yieldInsideSynchronizedKeepsTheMonitor() {
        Object lock = new Object();
        List<Boolean> held = new ArrayList<>();
        Coroutine c = co(() -> {
            synchronized (lock) {
                Coroutine.yield();
                held.add(Thread.holdsLock(lock));
            }
        });
        c.enter();
        held.add(Thread.holdsLock(lock));
        c.enter();
        assertEquals(List.of(false, true), held);
    }
}
