package io.jaio.examples;

import io.jaio.aio.IoThread;
import io.jaio.coroutine.Coroutine;
import io.jaio.coroutine.ThreadPools;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.LongStream;

/**
 * Blocking or CPU-heavy work called from a coroutine without stalling its loop, and the way
 * results cross between jaio and ordinary Java threads:
 * <ol>
 * <li>{@link ThreadPools#submitCo}: the context's own worker threads (QEMU's
 *     {@code thread_pool_submit_co}); the coroutine yields until the result is back;</li>
 * <li>{@link Coroutine#await}: any {@link CompletableFuture}, here one computed on a JDK
 *     executor;</li>
 * <li>{@link Coroutine#submit}: the main thread starts a coroutine in an {@link IoThread} and
 *     gets its result as a CompletableFuture; the IoThread's context is also an
 *     {@link java.util.concurrent.Executor}.</li>
 * </ol>
 *
 * <p>{@code java ... io.jaio.examples.ThreadPoolCall} prints the two sums, the loop thread's
 * name seen by the coroutine and by a task executed on the context, then "done".
 */
public final class ThreadPoolCall {
    private ThreadPoolCall() {}

    /** The work: blocking in real life (a file read, a DNS lookup), a sum here. */
    private static long sum(long to) {
        return LongStream.rangeClosed(1, to).sum();
    }

    /**
     * Starts an IoThread, runs a coroutine there that calls out twice, and prints what it got.
     *
     * @param args ignored
     */
    public static void main(String[] args) {
        ExecutorService jdkPool = Executors.newFixedThreadPool(2);
        try (IoThread io = IoThread.start("example")) {
            CompletableFuture<String> result = Coroutine.submit(io.context(), () -> {
                // In a coroutine in the IoThread: never block here, hand blocking work off.
                long a = ThreadPools.submitCo(io.context().threadPool(), () -> sum(1_000_000));
                long b = Coroutine.await(CompletableFuture.supplyAsync(() -> sum(2_000), jdkPool));
                return "pool sum " + a + ", jdk sum " + b + ", coroutine ran in " + Coroutine.hostThread().getName();
            });
            System.out.println(result.join());                 // the main thread blocks, the loop does not

            // The context as an Executor: run a plain task in the loop thread.
            String where = CompletableFuture.supplyAsync(() -> Thread.currentThread().getName(), io.context()).join();
            System.out.println("executor task ran in " + where);
        } finally {
            jdkPool.shutdown();
        }
        System.out.println("done");
    }
}
