package io.jaio.bench;

import io.jaio.aio.AioContext;
import io.jaio.aio.IoThread;
import io.jaio.coroutine.CoMutex;
import io.jaio.coroutine.Coroutine;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Coroutine switch cost: one {@link Coroutine#enter()} that runs until the body's next
 * {@link Coroutine#yield()} and returns (QEMU's enter + yield round trip), on the default continuation
 * engine, beside the floor: a bare {@code jdk.internal.vm.Continuation} {@code run()} + {@code yield}.
 *
 * <p>The coroutine is entered from the benchmark thread, which owns an {@link AioContext} (created in the
 * trial set-up on that thread; {@code Scope.Thread}), as a coroutine is entered from its context's loop.
 * The continuation floor is reached through method handles (jaio-bench is compiled without
 * {@code --add-exports}); constant handles inline, so this adds nothing measurable. The fork runs with
 * {@code --add-exports java.base/jdk.internal.vm=ALL-UNNAMED}, which selects jaio's continuation engine
 * (the set-up fails if it is not the one in use). Score: ns per round trip (lower is better).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED",
        "--add-exports", "java.base/jdk.internal.vm=ALL-UNNAMED"})
public class CoroutineBenchmark {
    private static final MethodHandle NEW_SCOPE;
    private static final MethodHandle NEW_CONTINUATION;
    private static final MethodHandle RUN;
    private static final MethodHandle YIELD;

    static {
        try {
            // lookup(), not publicLookup(): the package is exported to the unnamed module only, not to all.
            MethodHandles.Lookup l = MethodHandles.lookup();
            Class<?> scope = Class.forName("jdk.internal.vm.ContinuationScope");
            Class<?> cont = Class.forName("jdk.internal.vm.Continuation");
            NEW_SCOPE = l.findConstructor(scope, MethodType.methodType(void.class, String.class))
                    .asType(MethodType.methodType(Object.class, String.class));
            NEW_CONTINUATION = l.findConstructor(cont, MethodType.methodType(void.class, scope, Runnable.class))
                    .asType(MethodType.methodType(Object.class, Object.class, Runnable.class));
            RUN = l.findVirtual(cont, "run", MethodType.methodType(void.class))
                    .asType(MethodType.methodType(void.class, Object.class));
            YIELD = l.findStatic(cont, "yield", MethodType.methodType(boolean.class, scope))
                    .asType(MethodType.methodType(boolean.class, Object.class));
        } catch (ReflectiveOperationException | IllegalAccessError e) {
            throw new ExceptionInInitializerError("jdk.internal.vm.Continuation is not accessible: "
                    + "run with --add-exports java.base/jdk.internal.vm=ALL-UNNAMED (" + e + ")");
        }
    }

    private AioContext ctx;
    private Coroutine co;
    private Object scope;
    private Object continuation;
    private boolean stop;
    private long switches;

    @Setup(Level.Trial)
    public void setUp() throws Throwable {
        if (!Coroutine.engineName().equals("continuation")) {
            throw new IllegalStateException("coroutine engine is " + Coroutine.engineName() + ", not continuation");
        }
        ctx = AioContext.builder().name("coroutine-bench").build();
        co = Coroutine.create(() -> {
            while (!stop) {
                switches++;
                Coroutine.yield();
            }
        });
        scope = (Object) NEW_SCOPE.invokeExact("bench");
        Object s = scope;
        continuation = (Object) NEW_CONTINUATION.invokeExact(s, (Runnable) () -> {
            try {
                while (!stop) {
                    switches++;
                    boolean ok = (boolean) YIELD.invokeExact(s);
                    if (!ok) {
                        throw new IllegalStateException("Continuation.yield failed (pinned)");
                    }
                }
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        });
        System.out.println("# coroutine engine " + Coroutine.engineName());
    }

    @Setup(Level.Iteration)
    public void checkThread() {
        if (!ctx.isHomeThread()) {
            throw new IllegalStateException("benchmark thread is not the context's home thread");
        }
    }

    @Benchmark
    public void coroutineEnterYield() {
        co.enter();
    }

    @Benchmark
    public void continuationRunYield() throws Throwable {
        RUN.invokeExact(continuation);
    }

    /**
     * Contended {@link CoMutex} across {@link #THREADS} IoThreads, QEMU's {@code test-aio-multithread}
     * {@code test_multi_co_mutex} shape: one coroutine per IoThread loops lock / {@code counter++} / unlock.
     * One invocation: each coroutine does {@link #OPS} such rounds (started by a oneshot bottom half on its
     * IoThread), the benchmark thread waits (parked) for all; the counter is checked at the end. A contended
     * unlock hands the mutex to a waiter, which wakes it in its own IoThread (a scheduled coroutine: a bottom
     * half and, if that loop sleeps, an eventfd wake-up). Placement unpinned (4 loops on 2 vCPUs).
     */
    @State(Scope.Benchmark)
    public static class MutexState {
        static final int THREADS = 4;
        static final int OPS = 1000;

        /** poll-max-ns of the IoThreads (32768 is the IoThread default). */
        @Param({"0", "32768"})
        public long pollNs;

        private final IoThread[] loops = new IoThread[THREADS];
        private final CoMutex mutex = new CoMutex();
        /** Guarded by {@link #mutex}. */
        private long counter;
        private long expected;

        @Setup(Level.Trial)
        public void setUp() {
            for (int i = 0; i < THREADS; i++) {
                loops[i] = Loops.jaio("jaio-poll" + pollNs);
            }
        }

        void round() throws InterruptedException {
            CountDownLatch done = new CountDownLatch(THREADS);
            for (IoThread io : loops) {
                io.context().scheduleOneshot("co-mutex-start", () -> Coroutine.create(() -> {
                    for (int i = 0; i < OPS; i++) {
                        mutex.lock();
                        counter++;
                        mutex.unlock();
                    }
                    done.countDown();
                }).enter());
            }
            expected += (long) THREADS * OPS;
            if (!done.await(60, TimeUnit.SECONDS)) {
                throw new IllegalStateException("CoMutex round did not finish in 60 s: " + done.getCount() + " left");
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            for (IoThread io : loops) {
                Loops.close(io);
            }
            // All coroutines ended (the latches); their last unlock happens-before their countDown.
            System.out.println("\n# CoMutex counter " + counter + ", expected " + expected);
            if (counter != expected) {
                throw new IllegalStateException("CoMutex lost updates: counter " + counter + " != " + expected);
            }
        }
    }

    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    @OperationsPerInvocation(MutexState.THREADS * MutexState.OPS)
    public void coMutexContended(MutexState m) throws InterruptedException {
        m.round();
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Throwable {
        stop = true;
        co.enter(); // the body sees stop and ends
        RUN.invokeExact(continuation);
        if (!co.isTerminated()) {
            throw new IllegalStateException("coroutine did not end");
        }
        ctx.close();
        System.out.println("\n# switches " + switches);
    }
}
