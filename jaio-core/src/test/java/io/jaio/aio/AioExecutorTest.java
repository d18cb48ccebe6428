package io.jaio.aio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** AioContext as a {@link java.util.concurrent.Executor}: execute is a oneshot bottom half. */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class AioExecutorTest {

    @Test
    void executeFromAnotherThreadRunsInTheHomeThread() throws Exception {
        try (IoThread io = IoThread.start("executor")) {
            CompletableFuture<Thread> ranOn = CompletableFuture.supplyAsync(Thread::currentThread, io.context());
            assertSame(io.thread(), ranOn.get(20, TimeUnit.SECONDS));
        }
    }

    @Test
    void executeFromTheHomeThreadRunsAtTheNextPollNotInline() {
        try (AioContext ctx = AioContext.create()) {
            List<String> trail = new ArrayList<>();
            ctx.execute(() -> trail.add("first"));
            ctx.execute(() -> trail.add("second"));
            assertTrue(trail.isEmpty(), "ran inside execute()");
            while (trail.size() < 2) {
                ctx.poll(true);
            }
            assertEquals(2, trail.size());
            assertTrue(trail.containsAll(List.of("first", "second")), trail.toString());
        }
    }

    @Test
    void aThrowingCommandIsCountedAndTheLoopGoesOn() {
        try (AioContext ctx = AioContext.create()) {
            AtomicBoolean after = new AtomicBoolean();
            ctx.execute(() -> {
                throw new IllegalStateException("command failed on purpose");
            });
            ctx.execute(() -> after.set(true));
            while (!after.get()) {
                ctx.poll(true);
            }
            assertEquals(1, ctx.stats().callbackErrors());
        }
    }

    @Test
    void executeOnAClosedContextIsRejectedNamingIt() {
        AioContext ctx = AioContext.builder().name("gone").build();
        ctx.close();
        AtomicBoolean ran = new AtomicBoolean();
        RejectedExecutionException e = assertThrows(RejectedExecutionException.class, () -> ctx.execute(() -> ran.set(true)));
        assertTrue(e.getMessage().contains("'gone' is closed"), e.getMessage());
        assertFalse(ran.get());
    }

    @Test
    void aNullCommandIsRefused() {
        try (AioContext ctx = AioContext.create()) {
            NullPointerException e = assertThrows(NullPointerException.class, () -> ctx.execute(null));
            assertEquals("command", e.getMessage());
        }
    }
}
