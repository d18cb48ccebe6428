package io.jaio.aio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Typed per-context slots: one declaration per place, QEMU's close order, one instance per context. */
class ContextSlotTest {
    @Test
    void closeOrderIsQemus() {
        // aio_ctx_finalize: thread_pool_free, then Linux AIO (laio_cleanup), then the co_schedule_bh.
        assertEquals(List.of(ContextSlot.Order.THREAD_POOL, ContextSlot.Order.LINUX_AIO, ContextSlot.Order.CO_SCHEDULER),
                List.of(ContextSlot.Order.values()));
    }

    @Test
    void aPlaceIsDeclaredOnce() {
        assertEquals("ContextSlot[THREAD_POOL, ThreadPool]", ThreadPool.SLOT.toString()); // also initialises it
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> ContextSlot.declare(ContextSlot.Order.THREAD_POOL, ThreadPool.class));
        assertEquals("context slot THREAD_POOL is already declared for io.jaio.aio.ThreadPool", e.getMessage());
    }

    @Test
    void oneInstancePerContextCreatedOnFirstUse() {
        try (AioContext ctx = AioContext.create()) {
            assertNull(ctx.slotIfPresent(ThreadPool.SLOT));
            ThreadPool p = ctx.threadPool();
            assertSame(p, ctx.slot(ThreadPool.SLOT, c -> {
                throw new AssertionError("the factory runs once");
            }));
            assertSame(p, ctx.slotIfPresent(ThreadPool.SLOT));
        }
    }
}
