package io.jaio.block;

import io.jaio.fs.FileEngine;

/**
 * The {@code aio=io_uring} and {@code aio=threads} engines, and inline I/O on memory-backed files: jaio-core's {@link FileEngine} (the
 * engine under {@link io.jaio.fs.CoFile}), so the daemon and the public file API share one
 * implementation of each request and of QEMU's completion rules.
 *
 * <ul>
 *   <li>io_uring (QEMU's {@code block/io_uring.c} on top of {@code aio_add_sqe},
 *       docs/design/aio-semantics.md §16.4): no private ring, each attempt one SQE on the
 *       context's ring; FUA is a per-write {@code RWF_DSYNC}, or write + fdatasync for good once
 *       the kernel refuses the flag.</li>
 *   <li>threads (QEMU's {@code raw_thread_pool_submit}): each request one job on the context's
 *       thread pool, short transfers resubmitted and the FUA fdatasync made inside the job.</li>
 *   <li>inline, for files whose data lives in memory ({@link io.jaio.fs.MemoryFs}, unless
 *       {@link RawFileBackend.Options#inlineMemoryFiles()} is false): the same syscalls in the home
 *       thread, whatever engine is configured. There a request is a page-cache copy that never
 *       waits for a device, and both other engines would add a thread hand-off to it (two
 *       cross-CPU wake-ups, ≈20 µs at queue depth 1 on this machine kind). QEMU's
 *       {@code aio=native} ends up doing the same copy inside {@code io_submit}. The cost: a
 *       request blocks the loop for its copy (≈1 µs per 4 KiB, ≈3 ms for 32 MiB), and a
 *       swapped-out tmpfs page for its swap-in.</li>
 * </ul>
 *
 * <p>Threads: called from coroutines in the context's home thread (FileEngine's contract).
 */
final class EngineFileIo implements FileIo {
    private final FileEngine engine;
    private final int align;

    EngineFileIo(FileEngine engine, int align) {
        this.engine = engine;
        this.align = align;
    }

    @Override
    public long read(long addr, long len, long off) {
        return engine.read(addr, len, off, align);
    }

    @Override
    public long write(long addr, long len, long off, boolean fua) {
        return engine.write(addr, len, off, align, fua);
    }

    @Override
    public int datasync() {
        return engine.sync(true);
    }

    @Override
    public int fallocate(int mode, long off, long len) {
        return engine.fallocate(mode, off, len);
    }
}
