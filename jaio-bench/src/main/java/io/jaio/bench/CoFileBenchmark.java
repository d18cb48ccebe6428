package io.jaio.bench;

import io.jaio.aio.AioContext;
import io.jaio.aio.FdMonitorKind;
import io.jaio.aio.IoThread;
import io.jaio.coroutine.Coroutine;
import io.jaio.fs.CoFile;
import io.jaio.fs.FixedBuffers;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
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
 * 4 KiB random reads at queue depth 32 (issue 14): {@link CoFile} beside {@link FileChannel}.
 * Each invocation reads {@value #BATCH} blocks at uniformly random 4 KiB-aligned offsets of one
 * file, with {@value #QD} reads outstanding at any time; the score is reads per second.
 *
 * <ul>
 *   <li>{@code cofile-io_uring}: {@value #QD} coroutines on one IoThread (io_uring fd monitor),
 *       each looping over {@code CoFile.read}; the requests are SQEs on the loop's ring.</li>
 *   <li>{@code cofile-io_uring-fixed}: the same with the coroutines' buffers registered on the
 *       ring ({@link FixedBuffers}, one registered pool they slice), so every read is
 *       {@code IORING_OP_READ_FIXED}: the kernel pins no pages per read.</li>
 *   <li>{@code cofile-threads}: the same on an epoll IoThread, {@code CoFile}'s thread-pool engine
 *       (jaio's own pool, up to 64 workers).</li>
 *   <li>{@code cofile-inline}: the same with {@code CoFile}'s inline engine (what
 *       {@code CoFile.open} picks for a tmpfs file): each read is {@code pread} in the loop's
 *       thread, so the queue depth is 1 in effect; on a disk file every read blocks the loop.</li>
 *   <li>{@code fc-virtual}: {@value #QD} virtual threads, each looping over
 *       {@code FileChannel.read(buf, pos)} (the JDK compensates blocking file I/O with extra
 *       carriers).</li>
 *   <li>{@code fc-pool}: the same on a fixed pool of {@value #QD} platform threads.</li>
 * </ul>
 *
 * <p>{@code file}: {@code shm} is a {@code fileMiB} file in /dev/shm (tmpfs: reads are memory
 * copies), read through the page cache; {@code disk-direct} a file under
 * {@code -Djaio.bench.cofile.dir} (default /var/tmp) opened with {@code O_DIRECT} by every
 * implementation ({@code ExtendedOpenOption.DIRECT} for FileChannel, 4 KiB-aligned direct buffers).
 * The file is created once with random contents and kept between runs (delete it to recreate).
 *
 * <p>When the device is the limit every implementation converges on its IOPS; what differs then is
 * the CPU each read costs. After every measurement iteration the benchmark prints the process's
 * CPU time (all threads, kernel included, from {@code getProcessCpuTime}) per read of that
 * iteration: {@code # cpu per read: ... µs}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED",
        "--add-exports", "java.base/jdk.internal.vm=ALL-UNNAMED"})
public class CoFileBenchmark {
    static final int QD = 32;
    static final int BATCH = 4096;
    static final int BLOCK = 4096;

    @Param({"cofile-io_uring", "cofile-io_uring-fixed", "cofile-threads", "cofile-inline", "fc-virtual", "fc-pool"})
    public String impl;

    @Param({"shm", "disk-direct"})
    public String file;

    @Param({"256"})
    public int fileMiB;

    private Path path;
    private long blocks;
    private boolean direct;

    // jaio
    private IoThread io;
    private CoFile coFile;
    private Arena arena;
    private MemorySegment[] segs;
    /** The registered pool of {@code cofile-io_uring-fixed}; opened and closed in the home thread. */
    private FixedBuffers fixed;
    private final Signal done = new Signal();
    /** Home-thread state of one invocation (handed over by scheduleOneshot's happens-before). */
    private int toIssue;
    private int running;
    private Throwable failure;

    // JDK
    private FileChannel channel;
    private ExecutorService executor;
    private ByteBuffer[] bufs;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        direct = file.equals("disk-direct");
        Path dir = direct ? Path.of(System.getProperty("jaio.bench.cofile.dir", "/var/tmp")) : Path.of("/dev/shm");
        path = dir.resolve("jaio-bench-cofile-" + fileMiB + "m.img");
        long size = (long) fileMiB << 20;
        blocks = size / BLOCK;
        if (!Files.exists(path) || Files.size(path) != size) {
            try (FileChannel c = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 20);
                byte[] rnd = new byte[1 << 20];
                for (long off = 0; off < size; off += chunk.capacity()) {
                    ThreadLocalRandom.current().nextBytes(rnd);
                    chunk.clear().put(rnd).flip();
                    while (chunk.hasRemaining()) {
                        c.write(chunk, off + chunk.position());
                    }
                }
                c.force(true);
            }
        }
        System.out.println("# CoFileBenchmark: " + impl + " on " + path + " (" + fileMiB + " MiB"
                + (direct ? ", O_DIRECT" : ", page cache") + ")");
        if (impl.startsWith("cofile-")) {
            boolean uring = impl.startsWith("cofile-io_uring");
            io = IoThread.builder("jaio-bench-cofile").fdMonitor(uring ? FdMonitorKind.IO_URING : FdMonitorKind.EPOLL).build();
            AioContext ctx = io.context();
            if (uring && !ctx.hasIoUring()) {
                throw new IllegalStateException("no io_uring here");
            }
            List<OpenOption> opts = new ArrayList<>(List.of(StandardOpenOption.READ));
            if (direct) {
                opts.add(CoFile.Option.DIRECT);
            }
            CoFile.Engine engine = uring ? CoFile.Engine.IO_URING
                    : impl.equals("cofile-inline") ? CoFile.Engine.INLINE : CoFile.Engine.THREAD_POOL;
            coFile = CoFile.open(ctx, path, engine, opts.toArray(OpenOption[]::new));
            arena = Arena.ofShared();
            MemorySegment pool = arena.allocate((long) QD * BLOCK, BLOCK); // one pool for every cofile impl
            segs = new MemorySegment[QD];
            for (int i = 0; i < QD; i++) {
                segs[i] = pool.asSlice((long) i * BLOCK, BLOCK);
            }
            if (impl.equals("cofile-io_uring-fixed")) {
                fixed = ctx.callOnHomeThread("register", () -> FixedBuffers.register(ctx, pool));
            }
        } else {
            List<OpenOption> opts = new ArrayList<>(List.of(StandardOpenOption.READ));
            if (direct) {
                opts.add(com.sun.nio.file.ExtendedOpenOption.DIRECT);
            }
            channel = FileChannel.open(path, opts.toArray(OpenOption[]::new));
            executor = impl.equals("fc-virtual") ? Executors.newVirtualThreadPerTaskExecutor()
                    : Executors.newFixedThreadPool(QD);
            bufs = new ByteBuffer[QD];
            for (int i = 0; i < QD; i++) {
                bufs[i] = ByteBuffer.allocateDirect(2 * BLOCK).alignedSlice(BLOCK).limit(BLOCK);
            }
        }
    }

    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
    /** CPU time and reads at the start of the iteration; the JMH thread only. */
    private long cpuAtStart;
    private long readsInIteration;

    @Setup(Level.Iteration)
    public void startIteration() {
        readsInIteration = 0;
        cpuAtStart = OS.getProcessCpuTime();
    }

    @TearDown(Level.Iteration)
    public void endIteration() {
        long cpu = OS.getProcessCpuTime() - cpuAtStart;
        if (readsInIteration > 0) {
            System.out.printf("# cpu per read: %.2f µs (%s, %s)%n", cpu / 1e3 / readsInIteration, impl, file);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        if (io != null) {
            if (fixed != null) {
                io.context().callOnHomeThread("unregister", () -> {
                    fixed.close();
                    return null;
                });
            }
            coFile.close();
            Loops.close(io);
            arena.close();
        }
        if (channel != null) {
            executor.shutdownNow();
            executor.awaitTermination(10, TimeUnit.SECONDS);
            channel.close();
        }
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void randomRead4k() throws Exception {
        readsInIteration += BATCH;
        if (io != null) {
            long target = done.expectNext();
            io.context().scheduleOneshot("cofile-batch", this::startBatch);
            done.awaitParked(target);
            if (failure != null) {
                throw new IllegalStateException("a CoFile read failed", failure);
            }
        } else {
            Future<?>[] fs = new Future<?>[QD];
            for (int i = 0; i < QD; i++) {
                ByteBuffer b = bufs[i];
                fs[i] = executor.submit(() -> {
                    ThreadLocalRandom r = ThreadLocalRandom.current();
                    for (int k = 0; k < BATCH / QD; k++) {
                        b.clear();
                        if (channel.read(b, r.nextLong(blocks) * BLOCK) != BLOCK) {
                            throw new IllegalStateException("short read");
                        }
                    }
                    return null;
                });
            }
            for (Future<?> f : fs) {
                f.get();
            }
        }
    }

    /** Home thread: enters {@value #QD} coroutines that share {@value #BATCH} reads. */
    private void startBatch() {
        toIssue = BATCH;
        running = QD;
        for (int i = 0; i < QD; i++) {
            MemorySegment seg = segs[i];
            Coroutine.create(() -> {
                ThreadLocalRandom r = ThreadLocalRandom.current();
                try {
                    while (toIssue > 0) {
                        toIssue--;
                        if (coFile.read(seg, r.nextLong(blocks) * BLOCK) != BLOCK) {
                            throw new IllegalStateException("short read");
                        }
                    }
                } catch (Throwable t) {
                    failure = t;
                    toIssue = 0;
                } finally {
                    if (--running == 0) {
                        done.signal();
                    }
                }
            }).enter();
        }
    }
}
