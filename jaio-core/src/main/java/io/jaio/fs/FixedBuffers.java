package io.jaio.fs;

import io.jaio.aio.AioContext;
import io.jaio.linux.IoUring;
import io.jaio.linux.NativeException;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * Registered ("fixed") buffers of one context's io_uring ring ({@code IORING_REGISTER_BUFFERS}):
 * the kernel pins their pages once, at {@link #register}, instead of at every request. While the
 * set is open, every single-buffer read or write of {@link CoFile}'s io_uring engine (and of any
 * other {@link FileEngine#ioUring} engine on the same context) whose memory lies wholly inside one
 * of these buffers is sent as {@code IORING_OP_READ_FIXED}/{@code WRITE_FIXED} with that buffer's
 * index; any other request (a segment partly outside, a heap segment, a vectored request) takes the
 * normal opcode, so callers change nothing but where their buffers live.
 *
 * <pre>{@code
 * MemorySegment pool = arena.allocate(64 * 4096, 4096);       // native, long-lived
 * try (FixedBuffers fixed = FixedBuffers.register(ctx, pool)) { // home thread
 *     ... file.read(pool.asSlice(i * 4096, 4096), pos) ...     // READ_FIXED
 * }
 * }</pre>
 *
 * <p>One set per context at a time: a few large buffers that requests slice are the intended use
 * (the lookup is a linear scan). The pinned pages count against {@code RLIMIT_MEMLOCK} (often
 * 8 MiB) unless the process has {@code CAP_IPC_LOCK}. The buffers' memory must stay allocated
 * while they are registered: a buffer whose scope has been closed is no longer used for fixed
 * requests (the kernel would still transfer into its old pinned pages, whatever now lives at its
 * address), but its pages stay pinned until {@link #close()}. Closing the context releases the
 * set too (the kernel unregisters everything when the ring goes); {@link #close()} is then a no-op.
 *
 * <p>Threads: {@link #register} and {@link #close()} in the context's home thread (once the
 * context is closed, {@code close()} from any thread); the accessors from any thread.
 */
public final class FixedBuffers implements AutoCloseable {
    private final AioContext ctx;
    private final IoUring ring;
    private final MemorySegment[] buffers;
    /**
     * Set by close(), in the home thread (or any thread once the context is closed); the volatile
     * write pairs with the volatile read of isOpen() in other threads.
     */
    private volatile boolean closed;

    private FixedBuffers(AioContext ctx, IoUring ring, MemorySegment[] buffers) {
        this.ctx = ctx;
        this.ring = ring;
        this.buffers = buffers;
    }

    /**
     * Registers {@code buffers} on {@code ctx}'s io_uring ring; buffer {@code i} gets
     * {@code buf_index} {@code i}. The segments are kept (not copied) until {@link #close()}.
     * Home thread of {@code ctx}.
     *
     * @param ctx an open context with io_uring ({@link AioContext#hasIoUring()}): the IO_URING fd
     *     monitor's ring, or the request ring of the POLL and EPOLL monitors (set up now if needed)
     * @param buffers one or more native, non-empty segments, each at most 1 GiB (the kernel's
     *     limit), at most {@link IoUring#MAX_REGISTERED_BUFFERS}; if two overlap, a request
     *     uses the first that holds it
     * @return the open set, to be closed with {@link #close()}
     * @throws UnsupportedOperationException if {@code ctx} has no io_uring ring (the kernel refuses
     *     io_uring), or the kernel is older than 5.13 (it would wait for the fd monitor's
     *     never-ending poll requests before registering)
     * @throws IllegalStateException off {@code ctx}'s home thread, once {@code ctx} is closed, or
     *     if {@code ctx} already has an open set (the message names the context)
     * @throws IllegalArgumentException if {@code buffers} is empty, or a buffer is a heap segment,
     *     empty, or already closed
     * @throws NullPointerException if a buffer is null
     * @throws NativeException with the kernel's errno if it refuses: {@code ENOMEM} past
     *     {@code RLIMIT_MEMLOCK}, {@code EFAULT} for memory it cannot pin, {@code EINVAL} for a
     *     buffer above 1 GiB or too many buffers; nothing is registered then
     */
    public static FixedBuffers register(AioContext ctx, MemorySegment... buffers) {
        Objects.requireNonNull(ctx, "ctx");
        Objects.requireNonNull(buffers, "buffers");
        if (!ctx.isHomeThread()) {
            throw new IllegalStateException("FixedBuffers.register() must run in the home thread of context '"
                    + ctx.name() + "' (" + ctx.homeThread().getName() + "), not in " + Thread.currentThread().getName());
        }
        if (ctx.isClosed()) {
            throw new IllegalStateException("context '" + ctx.name() + "' is closed; cannot register buffers");
        }
        IoUring ring = ctx.ioUring();
        if (ring == null) {
            throw new UnsupportedOperationException(ctx.ioUringRefusal() + ": registered buffers need a ring");
        }
        if ((ring.features() & IoUring.IORING_FEAT_RSRC_TAGS) == 0) {
            // Before 5.13 the kernel quiesces the ring to register buffers: it waits for every
            // request in flight, and the fd monitor's POLL_ADDs stay in flight until an fd is ready.
            throw new UnsupportedOperationException("context '" + ctx.name() + "': registered buffers need "
                    + "Linux 5.13 or later (older kernels stall the ring while registering them)");
        }
        int live = ring.registeredBuffers();
        if (live > 0) { // the ring refuses too; this names the context
            throw new IllegalStateException("context '" + ctx.name() + "' already has " + live
                    + " registered buffers: close its FixedBuffers before registering others");
        }
        MemorySegment[] copy = buffers.clone();
        ring.registerBuffers(copy); // checks each buffer (IllegalArgumentException, NullPointerException)
        return new FixedBuffers(ctx, ring, copy);
    }

    /** {@return the context whose ring holds the buffers} Any thread. */
    public AioContext context() {
        return ctx;
    }

    /** {@return the number of registered buffers} Any thread. */
    public int size() {
        return buffers.length;
    }

    /**
     * The buffer registered at {@code index} (its {@code buf_index}). Any thread.
     *
     * @param index {@code 0 <= index < size()}
     * @return the segment as registered
     * @throws IndexOutOfBoundsException if {@code index} is out of range
     */
    public MemorySegment buffer(int index) {
        return buffers[Objects.checkIndex(index, buffers.length)];
    }

    /**
     * Whether the buffers are still registered: neither {@link #close()} nor the context's close
     * has run. Any thread.
     *
     * @return true while requests may use the buffers as fixed ones
     */
    public boolean isOpen() {
        return !closed && !ctx.isClosed();
    }

    /**
     * Unregisters the buffers ({@code IORING_UNREGISTER_BUFFERS}): later requests into them take
     * the normal opcodes, and their pages are unpinned once requests already in flight are done.
     * A new set may be registered afterwards. Idempotent; a no-op once the context is closed (that
     * released them). Home thread of the context, or any thread once it is closed.
     *
     * @throws IllegalStateException off the home thread of an open context
     * @throws NativeException if the kernel refuses (the buffers are no longer used either way)
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        if (ctx.isClosed()) {
            closed = true;
            return;
        }
        if (!ctx.isHomeThread()) {
            throw new IllegalStateException("FixedBuffers.close() must run in the home thread of context '"
                    + ctx.name() + "' (" + ctx.homeThread().getName() + "), not in " + Thread.currentThread().getName());
        }
        closed = true;
        ring.unregisterBuffers();
    }

    @Override
    public String toString() {
        return "FixedBuffers[" + buffers.length + " on '" + ctx.name() + "'" + (isOpen() ? "" : ", closed") + "]";
    }
}
