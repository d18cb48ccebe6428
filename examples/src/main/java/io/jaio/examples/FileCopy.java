package io.jaio.examples;

import io.jaio.aio.AioContext;
import io.jaio.aio.FdMonitorKind;
import io.jaio.coroutine.Coroutine;
import io.jaio.fs.CoFile;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Copies a file with {@link CoFile} on io_uring: four coroutines on one thread each copy 1 MiB
 * chunks (read, then write) until none is left, so up to four requests are in the kernel at once
 * while the thread itself never blocks on the disk. Each read and write is an SQE on the
 * context's ring; the coroutine is suspended until its completion.
 *
 * <p>{@code java ... io.jaio.examples.FileCopy SRC DST} prints
 * {@code copied N bytes in M ms (engine io_uring)} ({@code thread_pool} where the kernel has no
 * io_uring: the same code then runs on the context's thread pool; {@code inline} for a file on
 * tmpfs such as /dev/shm, where each request is a plain syscall in the coroutine).
 */
public final class FileCopy {
    private static final int CHUNK = 1 << 20;
    private static final int COPIERS = 4;

    private FileCopy() {}

    /**
     * Copies {@code args[0]} to {@code args[1]} (created or truncated) on the calling thread's
     * new context.
     *
     * @param args source and destination paths
     * @throws IOException if opening, reading or writing fails
     */
    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: FileCopy SRC DST");
            System.exit(2);
        }
        long t0 = System.nanoTime();
        // IO_URING asks for the ring; without one the context falls back and CoFile uses the pool.
        try (AioContext ctx = AioContext.builder().name("file-copy").fdMonitor(FdMonitorKind.IO_URING).build();
             CoFile src = CoFile.open(ctx, Path.of(args[0]), StandardOpenOption.READ);
             CoFile dst = CoFile.open(ctx, Path.of(args[1]), StandardOpenOption.WRITE,
                     StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING);
             Arena arena = Arena.ofConfined()) {
            long size = src.size();
            long[] next = {0};              // the next offset to copy; home thread only
            int[] running = {COPIERS};
            IOException[] failure = {null};
            for (int i = 0; i < COPIERS; i++) {
                MemorySegment buf = arena.allocate(CHUNK, 4096);
                Coroutine.create(() -> {
                    try {
                        while (next[0] < size && failure[0] == null) {
                            long off = next[0];
                            next[0] += CHUNK;
                            MemorySegment part = buf.asSlice(0, Math.min(CHUNK, size - off));
                            long n = src.read(part, off);   // suspends until the read completes
                            dst.write(part.asSlice(0, n), off);
                        }
                    } catch (IOException e) {
                        failure[0] = e;
                    } finally {
                        running[0]--;
                    }
                }).enter();                         // runs until its first read is submitted
            }
            while (running[0] > 0) {
                ctx.poll(true);                     // completions wake the coroutines
            }
            if (failure[0] != null) {
                throw failure[0];
            }
            long ms = (System.nanoTime() - t0) / 1_000_000;
            String engine = src.engine().name().toLowerCase(java.util.Locale.ROOT);
            System.out.println("copied " + size + " bytes in " + ms + " ms (engine " + engine + ")");
        }
    }
}
