package io.jaio.coroutine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jaio.aio.AioContext;
import io.jaio.aio.IoThread;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/**
 * The CompletionStage bridges: {@link Coroutine#await(CompletionStage)} and
 * {@link Coroutine#submit}. Run once per engine: {@code ContinuationFuturesContractTest} and
 * {@code VirtualThreadFuturesContractTest}. The context is the test thread's own, polled by the
 * test until the coroutine under test has done what is asserted (no sleeps, no timed assertions;
 * the class-level timeout turns a hang into a failure).
 */
abstract class CoroutineFuturesContract extends CoroutineContractTest {
    /** The test's context, created in the thread that runs the test (so current there). */
    private AioContext ctx;

    private interface Body {
        void run() throws Exception;
    }

    /** Runs {@code body} with {@link #ctx} open; closing it also reports a oneshot that never ran. */
    private void inContext(Body body) throws Exception {
        try (AioContext c = AioContext.create()) {
            ctx = c;
            body.run();
        } finally {
            ctx = null;
        }
    }

    /** Polls the test thread's context (blocking) until {@code done}. */
    private void pollUntil(BooleanSupplier done) {
        while (!done.getAsBoolean()) {
            ctx.poll(true);
        }
    }

    /** A coroutine that awaits {@code stage} and records what it got (a value or a Throwable). */
    private Coroutine awaiting(CompletionStage<?> stage, List<Object> got, AtomicReference<Thread> resumedOn) {
        return co(() -> {
            try {
                got.add(Coroutine.await(stage));
            } catch (Throwable t) {
                got.add(t);
            }
            resumedOn.set(Coroutine.hostThread());
        });
    }

    private static Thread completer(Runnable r) throws InterruptedException {
        Thread t = Thread.ofPlatform().name("completer").start(r);
        t.join();
        return t;
    }

    @Test
    void completionFromAnotherThreadResumesTheCoroutineInItsHomeThread() throws Exception {
        inContext(() -> {
            CompletableFuture<Integer> f = new CompletableFuture<>();
            List<Object> got = new ArrayList<>();
            AtomicReference<Thread> resumedOn = new AtomicReference<>();
            Coroutine co = awaiting(f, got, resumedOn);
            co.enter();
            assertFalse(co.isTerminated(), "suspended until the stage completes");
            assertTrue(got.isEmpty());
            completer(() -> f.complete(42));
            pollUntil(co::isTerminated);
            assertEquals(List.of(42), got);
            assertSame(Thread.currentThread(), resumedOn.get(), "resumed in the context's home thread");
        });
    }

    @Test
    void completionInTheHomeThreadResumesFromABottomHalfNotInsideComplete() throws Exception {
        inContext(() -> {
            CompletableFuture<String> f = new CompletableFuture<>();
            List<Object> got = new ArrayList<>();
            AtomicReference<Thread> resumedOn = new AtomicReference<>();
            Coroutine co = awaiting(f, got, resumedOn);
            co.enter();
            f.complete("home");
            assertFalse(co.isTerminated(), "not resumed inside complete()");
            assertTrue(got.isEmpty());
            pollUntil(co::isTerminated);
            assertEquals(List.of("home"), got);
            assertSame(Thread.currentThread(), resumedOn.get());
        });
    }

    @Test
    void completionByAnotherCoroutineOfTheContextResumesTheWaiter() throws Exception {
        inContext(() -> {
            CompletableFuture<String> f = new CompletableFuture<>();
            List<Object> got = new ArrayList<>();
            Coroutine waiter = awaiting(f, got, new AtomicReference<>());
            waiter.enter();
            Coroutine completer = co(() -> f.complete("sibling"));
            completer.enter();
            assertTrue(completer.isTerminated());
            pollUntil(waiter::isTerminated);
            assertEquals(List.of("sibling"), got);
        });
    }

    @Test
    void anAlreadyCompletedStageReturnsWithoutSuspending() throws Exception {
        inContext(() -> {
            List<Object> got = new ArrayList<>();
            Coroutine co = co(() -> {
                got.add(Coroutine.await(CompletableFuture.completedFuture(5)));
                got.add(Coroutine.await(CompletableFuture.completedFuture(5).thenApply(x -> x + 1)));
                got.add(Coroutine.await(CompletableFuture.completedStage("stage")));
            });
            co.enter(); // nothing polls the context: an await that yielded would leave it suspended
            assertTrue(co.isTerminated(), "no await suspended");
            assertEquals(List.of(5, 6, "stage"), got);
        });
    }

    @Test
    void anUncheckedFailureIsRethrownAsIsAndADependentStagesWrapperIsRemoved() throws Exception {
        inContext(() -> {
            IllegalArgumentException boom = new IllegalArgumentException("boom");
            CompletableFuture<Integer> f = new CompletableFuture<>();
            CompletionStage<Integer> dependent = f.thenApply(x -> x + 1); // fails with CompletionException(boom)
            List<Object> got = new ArrayList<>();
            List<Object> gotDependent = new ArrayList<>();
            Coroutine a = awaiting(f, got, new AtomicReference<>());
            Coroutine b = awaiting(dependent, gotDependent, new AtomicReference<>());
            a.enter();
            b.enter();
            completer(() -> f.completeExceptionally(boom));
            pollUntil(() -> a.isTerminated() && b.isTerminated());
            assertEquals(List.of(boom), got);
            assertEquals(List.of(boom), gotDependent);
        });
    }

    @Test
    void aCheckedFailureIsThrownWrappedInCompletionException() throws Exception {
        inContext(() -> {
            IOException disk = new IOException("disk on fire");
            CompletableFuture<Integer> f = new CompletableFuture<>();
            List<Object> got = new ArrayList<>();
            Coroutine co = awaiting(f, got, new AtomicReference<>());
            co.enter();
            completer(() -> f.completeExceptionally(disk));
            pollUntil(co::isTerminated);
            assertEquals(1, got.size());
            CompletionException e = assertInstanceOf(CompletionException.class, got.get(0));
            assertSame(disk, e.getCause());
        });
    }

    @Test
    void anErrorIsRethrownAsIs() throws Exception {
        inContext(() -> {
            AssertionError err = new AssertionError("bad");
            List<Object> got = new ArrayList<>();
            Coroutine co = awaiting(CompletableFuture.failedFuture(err), got, new AtomicReference<>());
            co.enter();
            assertTrue(co.isTerminated());
            assertEquals(List.of(err), got);
        });
    }

    @Test
    void aCancelledStageThrowsCancellationExceptionInTheCoroutine() throws Exception {
        inContext(() -> {
            CompletableFuture<Integer> f = new CompletableFuture<>();
            CompletionStage<Integer> dependent = f.thenApply(x -> x);
            List<Object> got = new ArrayList<>();
            List<Object> gotDependent = new ArrayList<>();
            Coroutine a = awaiting(f, got, new AtomicReference<>());
            Coroutine b = awaiting(dependent, gotDependent, new AtomicReference<>());
            a.enter();
            b.enter();
            completer(() -> assertTrue(f.cancel(true)));
            pollUntil(() -> a.isTerminated() && b.isTerminated());
            assertEquals(1, got.size());
            assertInstanceOf(CancellationException.class, got.get(0));
            assertEquals(1, gotDependent.size());
            assertInstanceOf(CancellationException.class, gotDependent.get(0));
        });
    }

    @Test
    void aSpuriousWakeUpDoesNotEndTheWait() throws Exception {
        inContext(() -> {
            CompletableFuture<Integer> f = new CompletableFuture<>();
            List<Object> got = new ArrayList<>();
            Coroutine co = awaiting(f, got, new AtomicReference<>());
            co.enter();
            co.wake(); // home thread, outside coroutines: entered now, yields again
            assertFalse(co.isTerminated());
            assertTrue(got.isEmpty());
            f.complete(1);
            pollUntil(co::isTerminated);
            assertEquals(List.of(1), got);
        });
    }

    @Test
    void awaitOutsideACoroutineIsRefused() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> Coroutine.await(new CompletableFuture<>()));
        assertTrue(e.getMessage().contains("outside a coroutine"), e.getMessage());
    }

    // ---- submit ----

    @Test
    void submitRunsTheBodyAsACoroutineInTheContextAndCompletesTheFuture() throws Exception {
        try (IoThread io = IoThread.start("futures-submit")) {
            CompletableFuture<String> gate = new CompletableFuture<>();
            CompletableFuture<String> result = CoFutures.submit(io.context(), () -> {
                assertTrue(Coroutine.inCoroutine());
                String g = Coroutine.await(gate); // suspends inside the IoThread's loop
                return g + " on " + Coroutine.hostThread().getName();
            }, engine());
            assertFalse(result.isDone());
            gate.complete("opened");
            assertEquals("opened on " + io.thread().getName(), result.get(20, TimeUnit.SECONDS));
        }
    }

    @Test
    void submitStartsAtTheNextPollNotInsideTheCall() throws Exception {
        inContext(() -> {
            AtomicBoolean ran = new AtomicBoolean();
            CompletableFuture<Integer> result = CoFutures.submit(ctx, () -> {
                ran.set(true);
                return 7;
            }, engine());
            assertFalse(ran.get(), "scheduled, not entered inside submit()");
            pollUntil(result::isDone);
            assertTrue(ran.get());
            assertEquals(7, result.get());
        });
    }

    @Test
    void aBodyThatThrowsFailsTheFutureWithThatException() throws Exception {
        inContext(() -> {
            IOException disk = new IOException("disk");
            CompletableFuture<Integer> result = CoFutures.submit(ctx, () -> {
                throw disk;
            }, engine());
            pollUntil(result::isDone);
            ExecutionException e = assertThrows(ExecutionException.class, result::get);
            assertSame(disk, e.getCause());
            assertEquals(0, ctx.stats().callbackErrors(), "the failure went to the future, not to the loop");
        });
    }

    @Test
    void cancelBeforeTheCoroutineStartsMeansTheBodyNeverRuns() throws Exception {
        inContext(() -> {
            AtomicBoolean ran = new AtomicBoolean();
            CompletableFuture<Integer> result = CoFutures.submit(ctx, () -> {
                ran.set(true);
                return 1;
            }, engine());
            assertTrue(result.cancel(true));
            while (ctx.poll(false)) { // until the scheduled coroutine has started and ended
            }
            assertFalse(ran.get(), "the body of a cancelled, not yet started coroutine ran");
            assertTrue(result.isCancelled());
            assertThrows(CancellationException.class, result::join);
        });
    }

    @Test
    void cancelWhileTheCoroutineIsSuspendedLetsItRunToItsEndAndDropsTheResult() throws Exception {
        inContext(() -> {
            CompletableFuture<Void> gate = new CompletableFuture<>();
            AtomicBoolean started = new AtomicBoolean();
            AtomicBoolean ended = new AtomicBoolean();
            CompletableFuture<String> result = CoFutures.submit(ctx, () -> {
                started.set(true);
                Coroutine.await(gate);
                ended.set(true);
                return "late";
            }, engine());
            pollUntil(started::get);
            assertTrue(result.cancel(true));
            assertTrue(result.isCancelled(), "cancelled at once");
            assertFalse(ended.get());
            gate.complete(null);
            pollUntil(ended::get); // not interrupted: it runs to its end
            assertTrue(result.isCancelled(), "its result was dropped");
            assertThrows(CancellationException.class, result::join);
        });
    }

    @Test
    void closingTheContextFailsTheFuturesOfCoroutinesThatNeverStartedOrNeverResumed() throws Exception {
        inContext(() -> {
            AioContext other = AioContext.create();
            CompletableFuture<Void> gate = new CompletableFuture<>();
            AtomicBoolean started = new AtomicBoolean();
            CompletableFuture<Integer> suspended = CoFutures.submit(other, () -> {
                started.set(true);
                Coroutine.await(gate);
                return 2;
            }, engine());
            while (!started.get()) {
                other.poll(true);
            }
            CompletableFuture<Integer> finished = CoFutures.submit(other, () -> 3, engine());
            while (!finished.isDone()) {
                other.poll(true);
            }
            CompletableFuture<Integer> unpolled = CoFutures.submit(other, () -> 4, engine()); // never started
            IllegalStateException leak = assertThrows(IllegalStateException.class, other::close);
            assertTrue(leak.getMessage().contains("never entered"), leak.getMessage());
            for (CompletableFuture<Integer> f : List.of(suspended, unpolled)) {
                assertTrue(f.isCompletedExceptionally(), "the close completed " + f);
                CompletionException e = assertThrows(CompletionException.class, f::join);
                assertTrue(e.getCause() instanceof RejectedExecutionException, String.valueOf(e.getCause()));
                assertTrue(e.getCause().getMessage().contains("closed before the coroutine"), e.getCause().getMessage());
            }
            assertEquals(3, finished.join(), "a finished coroutine's future is left as it was");
        });
    }

    @Test
    void submitToAClosedContextIsRejected() throws Exception {
        inContext(() -> {
            AioContext other = AioContext.create();
            other.close();
            RejectedExecutionException e = assertThrows(RejectedExecutionException.class,
                    () -> CoFutures.submit(other, () -> 1, engine()));
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
        });
    }
}
