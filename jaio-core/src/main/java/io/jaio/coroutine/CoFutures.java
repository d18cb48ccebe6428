package io.jaio.coroutine;

import io.jaio.aio.AioContext;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.RejectedExecutionException;

/**
 * The bridges between coroutines and {@link CompletionStage}s behind {@link Coroutine#await} and
 * {@link Coroutine#submit}.
 *
 * <p>No new hand-off: a stage completed by another thread reaches the waiting coroutine through a
 * oneshot bottom half of its context ({@link AioContext#scheduleOneshot}, the BhList's CAS push and
 * getAndSet pop), which completes a {@link CoCompletion} in the home thread (OneShot's
 * release/acquire of DONE publishes the outcome) and so wakes the coroutine. A stage already
 * complete when it is awaited runs the callback synchronously inside the awaiting coroutine, which
 * completes the CoCompletion itself and does not yield.
 */
final class CoFutures {
    private CoFutures() {}

    /** {@link Coroutine#await(CompletionStage)}. */
    static <T> T await(CompletionStage<T> stage) {
        Objects.requireNonNull(stage, "stage");
        Coroutine self = Coroutine.requireSelf("Coroutine.await(CompletionStage)");
        AioContext ctx = Coroutine.currentContext();
        if (ctx == null) {
            throw new IllegalStateException("Coroutine.await(CompletionStage) on a thread without a current AioContext");
        }
        CoCompletion<T> done = new CoCompletion<>(); // its waiter is self
        stage.whenComplete((value, failure) -> {
            if (Coroutine.self() == self) {
                // The stage was complete: whenComplete runs the action now, inside the awaiting
                // coroutine. It completes the result itself (entered: no wake-up) and goes on.
                done.accept(value, failure);
            } else {
                // Any other thread (the home thread included): complete in the home thread, from
                // a bottom half, never inside the completer's complete() call. If the context has
                // closed this throws into the completer's dependent stage; the coroutine, whose
                // context is gone, is never resumed.
                ctx.scheduleOneshot("co-await", () -> done.accept(value, failure));
            }
        });
        while (!done.isDone()) { // a wake-up from anyone else just yields again
            Coroutine.yield();
        }
        Throwable failure = done.failure();
        if (failure == null) {
            return done.value();
        }
        if (failure instanceof CompletionException && failure.getCause() != null) {
            failure = failure.getCause(); // what a dependent stage wraps; CancellationException stays as is
        }
        if (failure instanceof RuntimeException r) {
            throw r;
        }
        if (failure instanceof Error e) {
            throw e;
        }
        throw new CompletionException(failure); // a checked exception: wrapped, as join() does
    }

    /** {@link Coroutine#submit(AioContext, Callable)} on a given engine. */
    static <T> CompletableFuture<T> submit(AioContext ctx, Callable<? extends T> body, Engine engine) {
        Objects.requireNonNull(ctx, "ctx");
        Objects.requireNonNull(body, "body");
        CompletableFuture<T> result = new CompletableFuture<>();
        Coroutine co = Coroutine.create(() -> {
            if (result.isDone()) {
                return; // cancelled (or completed by someone) before it started: the body never runs
            }
            T value;
            try {
                value = body.call();
            } catch (Throwable t) {
                result.completeExceptionally(t);
                return;
            }
            result.complete(value);
        }, engine);
        try {
            // Tracked first: the coroutine may start (and end) in the home thread before
            // schedule() returns here.
            ctx.slot(CoScheduler.SLOT, CoScheduler::new).track(result);
            Coroutine.schedule(ctx, co);
        } catch (IllegalStateException closed) {
            result.cancel(false); // leaves the tracking set; nobody holds this future
            throw new RejectedExecutionException(closed.getMessage(), closed);
        }
        return result;
    }
}
