package io.jaio.coroutine;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jaio.aio.AioContext;
import org.junit.jupiter.api.Test;

/** What only the fallback engine (a virtual thread per coroutine, handed a baton) does; the contract runs in {@code VirtualThread...ContractTest}. */
class VirtualThreadEngineTest extends CoroutineContractTest {

    @Override
    Engine engine() {
        return Engine.VIRTUAL;
    }

    /** The body runs on its virtual thread but sees the entering thread's identity and context. */
    @Test
    void hostThreadAndContextAreTheEnteringThreads() {
        Thread me = Thread.currentThread();
        try (AioContext ctx = AioContext.create()) {
            Object[] seen = new Object[4];
            co(() -> {
                seen[0] = Thread.currentThread();
                seen[1] = Coroutine.hostThread();
                seen[2] = Coroutine.currentContext();
                seen[3] = Coroutine.hostContext();
            }).enter();
            assertTrue(((Thread) seen[0]).isVirtual());
            assertSame(me, seen[1]);
            assertSame(ctx, seen[2]);
            assertSame(ctx, seen[3]);
        }
        assertSame(me, Coroutine.hostThread());
        assertSame(null, Coroutine.hostContext());
    }

    /**
     * callOnHomeThread from a coroutine the home thread entered runs the work at once, as in the
     * home thread itself: through a oneshot BH it would wait for a loop that waits for it.
     */
    @Test
    void callOnHomeThreadFromACoroutineRunsDirectly() {
        Object[] seen = new Object[1];
        // A hang guard, not a time measurement: the deadlock never ends on its own.
        assertTimeoutPreemptively(java.time.Duration.ofSeconds(30), () -> {
            try (AioContext ctx = AioContext.create()) {
                co(() -> seen[0] = ctx.callOnHomeThread("in-coroutine", () -> "ran")).enter();
            }
        });
        assertSame("ran", seen[0]);
    }

    /** An interrupt of the entering thread does not break the baton and is kept. */
    @Test
    void interruptWhileEnteredIsPreserved() {
        Thread me = Thread.currentThread();
        Coroutine c = co(() -> {
            me.interrupt();
            Thread.onSpinWait();
        });
        c.enter();
        assertTrue(Thread.interrupted());
        assertFalse(Thread.currentThread().isInterrupted());
        assertTrue(c.isTerminated());
    }
}
