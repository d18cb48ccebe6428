package io.jaio.bench;

import io.jaio.aio.AioContext;
import io.jaio.aio.CqeHandler;
import io.jaio.aio.FdMonitorKind;
import io.jaio.aio.Sqe;
import io.jaio.linux.IoUring;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * io_uring NOP cost per request, batch 1 and batch 32: what one request through jaio's
 * {@code AioContext.addSqe} costs beside the FFM floor (the raw {@link IoUring} ring, no context) and
 * C ({@code src/main/c/iouring_nop.c}, run by {@code src/main/c/run-iouring-nop.sh}, same loop with raw
 * syscalls).
 *
 * <ul>
 *   <li>{@code jaio*}: an {@link AioContext} on {@link FdMonitorKind#IO_URING}, owned by the benchmark
 *       thread ({@code Scope.Thread}: JMH runs trial set-up and the benchmark on the same thread, checked
 *       with {@code isHomeThread()} every iteration). One invocation queues {@code batch} NOPs with
 *       {@code addSqe}, then calls {@code poll(false)} until all their handlers ran: one
 *       {@code io_uring_enter} submits them (NOPs complete inline) and the handlers run in that poll.</li>
 *   <li>{@code raw*}: the same with {@link IoUring} directly: fill {@code batch} SQEs,
 *       {@code enter(batch)} (submit and wait for {@code batch} completions), drain the CQ.</li>
 * </ul>
 * Score: ns per NOP (lower is better). No other thread is involved; placement unpinned.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED",
        "--add-exports", "java.base/jdk.internal.vm=ALL-UNNAMED"})
public class IoUringNopBenchmark {
    private AioContext ctx;
    private IoUring ring;
    private int completed;
    private long reaped;

    private final Consumer<Sqe> nop = Sqe::prepNop;
    private final CqeHandler onDone = (res, flags) -> {
        if (res != 0) {
            throw new IllegalStateException("NOP completed with " + res);
        }
        completed++;
    };
    private final IoUring.CqeConsumer onCqe = (userData, res, flags) -> reaped++;

    @Setup(Level.Trial)
    public void setUp() {
        ctx = AioContext.builder().name("nop-bench").fdMonitor(FdMonitorKind.IO_URING).build();
        if (!ctx.hasIoUring()) {
            throw new IllegalStateException("context is not on io_uring: " + ctx.fdMonitorKind());
        }
        ring = IoUring.create(64, IoUring.IORING_SETUP_CLAMP);
        System.out.println("# jaio context " + ctx.fdMonitorKind() + ", poll-max-ns " + ctx.pollMaxNs()
                + ", aio-max-batch " + ctx.maxBatch() + "; raw ring " + ring.sqEntries() + " SQ entries");
    }

    @Setup(Level.Iteration)
    public void checkThread() {
        if (!ctx.isHomeThread()) {
            throw new IllegalStateException("benchmark thread " + Thread.currentThread().getName()
                    + " is not the context's home thread " + ctx.homeThread().getName());
        }
    }

    private void jaio(int batch) {
        int target = completed + batch;
        for (int i = 0; i < batch; i++) {
            ctx.addSqe(nop, onDone);
        }
        while (completed != target) {
            ctx.poll(false);
        }
    }

    private void raw(int batch) {
        long target = reaped + batch;
        for (int i = 0; i < batch; i++) {
            int slot = ring.nextSqe();
            ring.prepNop(slot);
            ring.sqeUserData(slot, i + 1);
        }
        ring.enter(batch);
        while (reaped != target) {
            if (ring.drain(onCqe) == 0) {
                ring.enter(1);
            }
        }
    }

    @Benchmark
    public void jaioBatch1() {
        jaio(1);
    }

    @Benchmark
    @OperationsPerInvocation(32)
    public void jaioBatch32() {
        jaio(32);
    }

    @Benchmark
    public void rawBatch1() {
        raw(1);
    }

    @Benchmark
    @OperationsPerInvocation(32)
    public void rawBatch32() {
        raw(32);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        long errors = ctx.stats().callbackErrors();
        ctx.close();
        ring.close();
        if (errors != 0) {
            throw new IllegalStateException(errors + " CQE handler(s) threw");
        }
    }
}
