package io.jaio.block;

import io.jaio.aio.AioContext;
import io.jaio.aio.ContextSlot;
import io.jaio.aio.BottomHalf;
import io.jaio.aio.EventNotifier;
import io.jaio.coroutine.CoCompletion;
import io.jaio.coroutine.Coroutine;
import io.jaio.linux.Linux;
import io.jaio.linux.LinuxAioAbi;
import io.jaio.linux.NativeException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntUnaryOperator;

/**
 * One kernel AIO context per {@link AioContext} (QEMU's {@code LinuxAioState},
 * {@code aio_setup_linux_aio} / {@code aio_get_linux_aio}, {@code block/linux-aio.c}): created on
 * first use with {@link #get}, closed with the context (it fills the context's LINUX_AIO slot). Every
 * {@code aio=native} file of the context submits through it: {@link LinuxAioFileIo}.
 *
 * <p>Threads: the context's home thread only (coroutines it runs, its fd handlers and bottom
 * halves); {@link #get} from the home thread.
 *
 * <h2>Implementation overview</h2>
 * State: the kernel context ({@code io_setup}, {@value #MAX_EVENTS} events), an eventfd
 * {@link EventNotifier} every iocb signals ({@code IOCB_FLAG_RESFD}), the native {@link
 * LinuxAioAbi.Table} (iocb slots, submit pointers, events), a FIFO {@code pending} queue of
 * requests not yet accepted by the kernel, {@code inFlight}, {@code blocked}, {@code plugged}.
 * <ol>
 *   <li><b>Submit</b> (coroutine, {@link #submit}): take a slot, fill its iocb, queue it. Unless
 *       {@code blocked}: if the queue holds {@link #maxBatch()} requests, {@link #ioqSubmit} now;
 *       else (not plugged) schedule the flush bottom half, which submits everything queued in this
 *       loop pass with one {@code io_submit} (QEMU's {@code defer_call(laio_deferred_fn)}; here the
 *       "section" is the loop pass). Yield until the request is done.
 *   <li><b>ioqSubmit</b>: while requests are queued and fewer than {@value #MAX_EVENTS} are in
 *       flight, hand the kernel up to the free capacity in one {@code io_submit}. {@code -EAGAIN}:
 *       stop, the rest stays queued. Another error: fail the first queued request with it and go
 *       on. A short count: the accepted prefix is in flight, stop. Then {@code blocked} = anything
 *       still queued; a blocked queue is retried after the next completion, or, with nothing in
 *       flight to complete, from the flush bottom half at the next loop pass.
 *   <li><b>Completion</b> (the notifier's read handler, or the poll-ready handler after the ring
 *       was seen non-empty): clear the notifier, reap with {@code io_getevents(min 0)} until the
 *       ring is empty, copying each result into its request and freeing its slot, then complete
 *       each request (its CoCompletion wakes the coroutine unless it is entered: then it is still
 *       inside {@link #submit} and sees the completion itself). Results are read out of native memory before any coroutine runs, so
 *       a nested {@code poll} from a woken coroutine reaps into the same table safely. Finally
 *       submit what is still queued.
 *   <li><b>Close</b> (context close): unregister the notifier, delete the bottom half, try
 *       {@code io_cancel} on each request in flight, then {@code io_destroy} (which waits for
 *       every request still running, so no DMA into caller memory survives it), close the
 *       notifier, free the table. Coroutines still waiting are never resumed (the context is
 *       gone, as for every other engine).
 * </ol>
 * Invariant: every request is in exactly one of {pending, in flight (kernel), done}; its slot is
 * owned from {@code submit} until its result is stored. All fields are touched only by the home
 * thread (coroutines under the virtual-thread engine run one at a time, ordered by the engine's
 * enter/yield hand-off), hence plain.
 */
final class LinuxAio implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(LinuxAio.class.getName());

    /** Requests in flight at most (QEMU's {@code MAX_EVENTS}, 1024 since 6.1). */
    static final int MAX_EVENTS = 1024;
    /** Batch size when the context's {@code aio-max-batch} is 0 (QEMU's {@code DEFAULT_MAX_BATCH}). */
    static final int DEFAULT_MAX_BATCH = 32;

    /**
     * One request: its slot and, once completed, its result. The completion (CoCompletion's one
     * ordering argument) publishes {@code res}, written just before it, to the waiting coroutine.
     */
    static final class Request extends CoCompletion<Void> {
        final int slot;
        long res;

        Request(int slot) {
            this.slot = slot; // the waiter is the calling coroutine
        }
    }

    private final AioContext ctx;
    private final long ioctx;
    private final EventNotifier notifier;
    private final LinuxAioAbi.Table table;
    private final BottomHalf flushBh;
    private Request[] bySlot = new Request[0];
    private int[] freeSlots = new int[0];
    private int freeCount;
    private final ArrayDeque<Request> pending = new ArrayDeque<>();
    private int inFlight;
    private boolean blocked;
    private int plugged;
    private boolean closed;

    // ---- test hooks and counters (home thread; tests read them there) ----
    /** Every io_submit attempt, including those a {@link #submitHook} answered. */
    long submitCalls;
    /** Every io_getevents call. */
    long geteventsCalls;
    /**
     * Test hook: given the number of iocbs about to be submitted, returns how many to pass to the
     * kernel (a short submit) or a negative errno to answer instead of the kernel. Null: none.
     */
    IntUnaryOperator submitHook;

    private LinuxAio(AioContext ctx) {
        this.ctx = ctx;
        this.ioctx = LinuxAioAbi.ioSetup(MAX_EVENTS);
        EventNotifier n = null;
        LinuxAioAbi.Table t = null;
        try {
            n = EventNotifier.create();
            if (!isEventfd(n.fd())) {
                throw new NativeException("eventfd", Linux.ENOSYS, "IOCB_FLAG_RESFD needs an eventfd, got a pipe");
            }
            t = new LinuxAioAbi.Table(MAX_EVENTS);
        } catch (RuntimeException | Error e) {
            if (n != null) {
                n.close();
            }
            LinuxAioAbi.ioDestroy(ioctx);
            throw e;
        }
        this.notifier = n;
        this.table = t;
        this.flushBh = ctx.newBottomHalf("linux-aio flush", this::flush);
        // The poll function peeks the ring in user space (QEMU's qemu_laio_poll_cb); never after
        // close, when the ring is unmapped.
        ctx.setEventNotifier(n, x -> completionCb(), x -> !closed && LinuxAioAbi.ringHasEvents(ioctx),
                x -> processCompletions());
    }

    /**
     * The context's Linux AIO state, set up on first use (QEMU's {@code aio_setup_linux_aio}).
     * Home thread.
     *
     * @throws NativeException if the kernel refuses ({@code io_setup}: ENOSYS under a seccomp
     *     filter or without CONFIG_AIO, EAGAIN past {@code fs.aio-max-nr}, ...)
     */
    static LinuxAio get(AioContext ctx) {
        return ctx.slot(SLOT, LinuxAio::new);
    }

    /** The context's slot for this state, closed after the thread pool as QEMU's aio_ctx_finalize does. */
    private static final ContextSlot<LinuxAio> SLOT = ContextSlot.declare(ContextSlot.Order.LINUX_AIO, LinuxAio.class);

    private static boolean isEventfd(int fd) {
        try {
            return Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString().contains("eventfd");
        } catch (java.io.IOException | UnsupportedOperationException e) {
            return true; // no /proc: EventNotifier falls back to a pipe only without eventfd, rare enough to try
        }
    }

    /** The context this state belongs to. Any thread. */
    AioContext context() {
        return ctx;
    }

    /**
     * Requests submitted together at most: the context's {@code aio-max-batch} or
     * {@value #DEFAULT_MAX_BATCH}, capped by the free kernel capacity (QEMU's
     * {@code laio_max_batch}). Home thread.
     */
    int maxBatch() {
        long m = ctx.maxBatch();
        int b = m == 0 ? DEFAULT_MAX_BATCH : (int) Math.min(m, MAX_EVENTS);
        int free = MAX_EVENTS - inFlight;
        return free > 0 ? Math.min(b, free) : b;
    }

    /** Requests accepted by the kernel and not yet reaped. Home thread. */
    int inFlight() {
        return inFlight;
    }

    /** Requests queued, not yet accepted by the kernel. Home thread. */
    int queued() {
        return pending.size();
    }

    /** Holds submissions back until the matching {@link #unplug()} (QEMU's {@code laio_io_plug}). Home thread. */
    void plug() {
        plugged++;
    }

    /** Ends one {@link #plug()}; the last one submits what was queued meanwhile. Home thread. */
    void unplug() {
        if (plugged == 0) {
            throw new IllegalStateException("unplug() without plug()");
        }
        if (--plugged == 0 && !blocked && !pending.isEmpty()) {
            ioqSubmit();
        }
    }

    /**
     * Submits one iocb ({@code opcode} as in {@link LinuxAioAbi.Table#prep}) and suspends the
     * calling coroutine until it completes. Returns the kernel's result: bytes transferred or
     * {@code -errno}. Coroutine in the home thread.
     */
    long submit(int opcode, int fd, long buf, long len, long off, int rwFlags) {
        Coroutine self = Coroutine.self();
        if (self == null) {
            throw new IllegalStateException("Linux AIO block I/O must run inside a coroutine");
        }
        if (closed) {
            return -RawFileBackend.ESHUTDOWN;
        }
        int slot = takeSlot();
        table.prep(slot, opcode, fd, buf, len, off, rwFlags, notifier.fd());
        Request r = new Request(slot);
        bySlot[slot] = r;
        pending.add(r);
        if (!blocked) {
            if (pending.size() >= maxBatch()) {
                ioqSubmit();
            } else if (plugged == 0 && pending.size() == 1) {
                flushBh.schedule();
            }
        }
        r.await(); // a foreign wake just re-yields
        return r.res;
    }

    private int takeSlot() {
        if (freeCount == 0) {
            int from = table.capacity();
            table.grow();
            int to = table.capacity();
            bySlot = Arrays.copyOf(bySlot, to);
            freeSlots = Arrays.copyOf(freeSlots, to);
            for (int s = to - 1; s >= from; s--) {
                freeSlots[freeCount++] = s;
            }
        }
        return freeSlots[--freeCount];
    }

    private void releaseSlot(int slot) {
        bySlot[slot] = null;
        freeSlots[freeCount++] = slot;
    }

    /** The flush bottom half: submit what this loop pass queued, or retry a blocked queue. */
    private void flush() {
        if (!closed && plugged == 0 && !pending.isEmpty()) {
            blocked = false; // a blocked queue with nothing in flight is retried from here
            ioqSubmit();
        }
    }

    /** QEMU's {@code ioq_submit}: see the class comment, step 2. Home thread. */
    private void ioqSubmit() {
        while (!pending.isEmpty() && inFlight < MAX_EVENTS) {
            int len = Math.min(pending.size(), MAX_EVENTS - inFlight);
            int i = 0;
            for (Request r : pending) {
                if (i == len) {
                    break;
                }
                table.setSubmit(i++, r.slot);
            }
            int ret = doSubmit(len);
            if (ret == -Linux.EAGAIN) {
                break;
            }
            if (ret < 0) { // the first iocb is bad: fail it, retry the rest
                Request r = pending.poll();
                finish(r, ret);
                wake(r);
                continue;
            }
            for (int k = 0; k < ret; k++) {
                pending.poll();
            }
            inFlight += ret;
            if (ret < len) {
                break;
            }
        }
        blocked = !pending.isEmpty();
        if (blocked && inFlight == 0 && !closed) {
            flushBh.schedule(); // nothing will complete to retry us: try again next pass
        }
    }

    private int doSubmit(int len) {
        submitCalls++;
        IntUnaryOperator hook = submitHook;
        int n = len;
        if (hook != null) {
            n = hook.applyAsInt(len);
            if (n < 0) {
                return n;
            }
            n = Math.min(n, len);
            if (n == 0) {
                return -Linux.EAGAIN;
            }
        }
        return LinuxAioAbi.ioSubmit(ioctx, table, n);
    }

    private void completionCb() {
        if (notifier.testAndClear()) {
            processCompletions();
        }
    }

    /** Step 3 of the class comment. Home thread (fd handler or poll-ready handler). */
    private void processCompletions() {
        if (closed) {
            return;
        }
        List<Request> done = null;
        for (;;) {
            geteventsCalls++;
            int n = LinuxAioAbi.ioGeteventsNow(ioctx, table, table.eventCapacity());
            if (n < 0) {
                LOG.log(System.Logger.Level.ERROR, "io_getevents on context ''{0}'': {1}", ctx.name(), Linux.strerror(-n));
                break;
            }
            if (done == null && n > 0) {
                done = new ArrayList<>(n);
            }
            for (int i = 0; i < n; i++) {
                Request r = bySlot[table.eventSlot(i)];
                if (r == null) {
                    LOG.log(System.Logger.Level.ERROR, "Linux AIO event for free slot {0}", table.eventSlot(i));
                    continue;
                }
                inFlight--;
                finish(r, table.eventResult(i));
                done.add(r);
            }
            if (n < table.eventCapacity()) {
                break;
            }
        }
        if (done != null) {
            for (Request r : done) {
                wake(r);
            }
        }
        if (!pending.isEmpty() && plugged == 0 && !closed) {
            ioqSubmit();
        }
    }

    private void finish(Request r, long res) {
        releaseSlot(r.slot);
        r.res = res; // published by the complete() in wake()
    }

    /** Completes {@code r}: wakes its coroutine unless it is entered (QEMU's rule). */
    private static void wake(Request r) {
        r.complete(null);
    }

    /**
     * Releases the kernel context, the notifier and the native memory; see the class comment,
     * step 4. Called by the context's close. Idempotent. Home thread.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        ctx.setEventNotifier(notifier, null, null, null);
        flushBh.delete();
        if (inFlight > 0) {
            LOG.log(System.Logger.Level.WARNING, "closing Linux AIO of context ''{0}'' with {1} request(s) in flight;"
                    + " waiting for them", ctx.name(), inFlight);
            for (Request r : bySlot) {
                if (r != null && !pending.contains(r)) {
                    LinuxAioAbi.ioCancel(ioctx, table, r.slot); // best effort: file I/O rarely cancels
                }
            }
        }
        int r = LinuxAioAbi.ioDestroy(ioctx); // waits for what is still running
        if (r < 0) {
            LOG.log(System.Logger.Level.ERROR, "io_destroy on context ''{0}'': {1}", ctx.name(), Linux.strerror(-r));
        }
        pending.clear();
        Arrays.fill(bySlot, null);
        notifier.close();
        table.close();
    }
}
