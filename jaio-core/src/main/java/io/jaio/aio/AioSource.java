package io.jaio.aio;

import io.jaio.aio.fdmon.FdMonitor;
import io.jaio.aio.fdmon.ReadyList;
import io.jaio.linux.Linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * An {@link AioContext} driven by someone else's loop instead of {@link AioContext#poll} — QEMU's
 * AioContext as a GSource ({@code aio_get_g_source}; {@code aio_ctx_prepare},
 * {@code aio_ctx_check}, {@code aio_ctx_dispatch} in {@code util/async.c}, {@code aio_prepare},
 * {@code aio_pending}, {@code aio_dispatch} in {@code util/aio-posix.c}). A host loop (a
 * {@link java.nio.channels.Selector} loop, a Netty {@code EventLoop}, a UI thread) runs, in the
 * context's home thread, one cycle per iteration:
 *
 * <pre>{@code
 * AioSource src = AioSource.of(ctx);            // ctx built in this thread, on the EPOLL monitor
 * for (;;) {
 *     long ns = src.prepare();                  // -1: wait as long as you like; 0: do not block
 *     hostWaitFor(src.fd(), ns, ...);           // readable fd => the context has work
 *     if (src.check()) {                        // after the wait, before the host's own dispatch
 *         src.dispatch();                       // BHs, fd handlers, timers (QEMU's aio_dispatch)
 *     }
 * }
 * }</pre>
 *
 * <p>Semantics, as QEMU's:
 * <ul>
 *   <li><b>Wake-ups coalesce.</b> {@link #prepare()} raises the context's {@code notify_me} for
 *       the external waiter, so {@link AioContext#wakeup()} (and so a BH scheduled, a thread-pool
 *       completion) from another thread writes the context's eventfd — which makes {@link #fd()}
 *       readable — only while the host may be blocked on it; {@link #check()} (or
 *       {@link #dispatch()}) lowers it again and accepts the notification. A wake-up while the host
 *       is busy elsewhere is one volatile store, and the next {@code prepare} returns 0.
 *   <li><b>Timers feed the host's timeout</b>: {@code prepare} returns 0 for a scheduled BH, at
 *       most 10 ms for an idle BH, else the nearest timer deadline, else -1
 *       ({@link AioContext#computeTimeoutNs()}); {@link #timeoutMs(long)} rounds it up to the
 *       millisecond timeouts most host loops take.
 *   <li><b>Nested {@code poll()} is still allowed</b> from callbacks that {@code dispatch} runs (QEMU
 *       sets {@code g_source_set_can_recurse}); they run the context's own loop, adaptive
 *       polling included, and return to the dispatch.
 *   <li><b>No adaptive polling while embedded</b>: {@code prepare} ends poll mode
 *       ({@code aio_prepare}, which calls {@code poll_set_started(false)}), and {@code dispatch}
 *       never busy-polls (a non-blocking {@code poll}). Busy polling belongs to a loop that owns
 *       its thread.
 * </ul>
 *
 * <p><b>Which fd monitors can be embedded: epoll only.</b> A host loop waits on one fd, readable
 * when the context has work. The epoll monitor has one by construction: its epoll fd, readable
 * while any registered fd (the context's own eventfd included) has an event, and epoll fds nest
 * in every host loop that can watch an fd. The others are refused by {@link #of} with an
 * {@link UnsupportedOperationException}, for these reasons:
 * <ul>
 *   <li><b>poll</b> keeps no kernel-side set: every wait builds a {@code pollfd} array from the
 *       handler list. QEMU's GSource answer is to add every handler's {@code GPollFD} to glib;
 *       Java host loops cannot watch arbitrary fds that way (a {@code Selector} takes only
 *       channels), and mirroring the set into a private epoll fd would just be the epoll monitor.
 *   <li><b>io_uring</b> watches fds through {@code POLL_ADD} requests that only reach the kernel
 *       when the home thread enters the ring, and on a ring set up for cooperative task running
 *       ({@code IORING_SETUP_COOP_TASKRUN}, as jaio's is) their completions are only posted when
 *       the task itself enters the kernel for the ring: a host blocked in its own
 *       {@code epoll_wait} on the ring fd could sleep through a ready fd.
 * </ul>
 * Build a context to embed with {@code AioContext.builder().fdMonitor(FdMonitorKind.EPOLL)}. If
 * the kernel later refuses an epoll update, the context falls back to poll for good (as QEMU's
 * {@code fdmon_epoll_disable}) and {@link #prepare()} throws from then on, naming the cause. While
 * legacy external clients are disabled ({@link AioContext#disableExternal()}), their fds still
 * make {@link #fd()} readable, so the host may cycle without progress until they are enabled.
 *
 * <p>Threads: {@link #of}, {@link #prepare()}, {@link #check()} and {@link #dispatch()} run in the
 * context's home thread only (which is the host loop's thread: create the context there);
 * {@link #fd()} and {@link #context()} in any thread. One AioSource per context:
 * {@code of} returns the same one each time.
 */
public final class AioSource {
    private final AioContext ctx;
    private final int fd;
    /** The ppoll argument for {@link #check()}'s readiness test. Home thread only. */
    private final MemorySegment pollfd;
    /** Where prepare's end of poll mode puts what its last poll finds (then dropped). Home thread. */
    private final ReadyList scratch = new ReadyList();

    private AioSource(AioContext ctx, int fd) {
        this.ctx = ctx;
        this.fd = fd;
        this.pollfd = Arena.ofAuto().allocate(Linux.POLLFD_SIZE, 8);
        Linux.pollfdSet(pollfd, 0, fd, (short) Linux.POLLIN);
    }

    /**
     * The embedding of {@code ctx} (QEMU's {@code aio_get_g_source}); the same object on every
     * call. Home thread of {@code ctx}.
     *
     * @param ctx the context, built with the EPOLL fd monitor
     * @return its embedding
     * @throws UnsupportedOperationException if the context's fd monitor has no single fd to wait
     *     on (poll, io_uring: see the class comment)
     * @throws IllegalStateException off the home thread, or if the context is closed
     */
    public static AioSource of(AioContext ctx) {
        Objects.requireNonNull(ctx, "ctx");
        checkHome(ctx, "AioSource.of()");
        ctx.checkOpen("embed it in another loop");
        if (ctx.source != null) {
            return ctx.source;
        }
        FdMonitor m = ctx.sourceMonitor();
        int fd = m.embeddingFd();
        if (fd < 0) {
            throw new UnsupportedOperationException("context '" + ctx.name() + "' runs on the " + m.kind()
                    + " fd monitor, which has no single fd another loop could wait on; only the EPOLL monitor"
                    + " can be embedded: build the context with AioContext.builder().fdMonitor(FdMonitorKind.EPOLL)");
        }
        AioSource s = new AioSource(ctx, fd);
        ctx.source = s;
        return s;
    }

    private static void checkHome(AioContext ctx, String op) {
        if (!ctx.isHomeThread()) {
            throw new IllegalStateException(op + " must run in the home thread of context '" + ctx.name() + "' ("
                    + ctx.homeThread().getName() + "), not in " + Thread.currentThread().getName());
        }
    }

    /** {@return the embedded context} Any thread. */
    public AioContext context() {
        return ctx;
    }

    /**
     * The fd the host loop waits on for readability (the epoll monitor's epoll fd). It belongs to
     * the context: do not read, write or close it; it is closed with the context. Any thread.
     *
     * @return the fd
     */
    public int fd() {
        return fd;
    }

    /**
     * Before the host loop waits (QEMU's {@code aio_ctx_prepare}): ends adaptive polling, raises
     * the external waiter's notify flag and returns how long the host may block, in ns: -1 for
     * ever, 0 not at all (a BH is scheduled, a timer expired, or a wake-up arrived), else the
     * nearest deadline (at most 10 ms with an idle BH). Follow it with {@link #check()} after the
     * wait. Home thread.
     *
     * @return the timeout in ns: -1, 0, or the time to the nearest deadline
     * @throws IllegalStateException off the home thread, after close, or if the context's fd
     *     monitor is no longer the one this source waits on (epoll fell back to poll)
     */
    public long prepare() {
        checkHome(ctx, "AioSource.prepare()");
        ctx.checkOpen("prepare an embedded iteration");
        FdMonitor m = ctx.sourceMonitor();
        if (m.embeddingFd() != fd) {
            throw new IllegalStateException("context '" + ctx.name() + "' moved from the EPOLL to the " + m.kind()
                    + " fd monitor (the kernel refused an epoll update; see the io.jaio.aio log), so it can no"
                    + " longer be driven through fd " + fd + "; poll it from a thread of its own instead");
        }
        return ctx.sourcePrepare(scratch);
    }

    /**
     * After the host loop's wait (QEMU's {@code aio_ctx_check} and {@code aio_pending}): lowers the
     * notify flag, accepts the notification, and returns whether {@link #dispatch()} has work: a
     * scheduled BH, an expired timer, or an event on {@link #fd()} (an fd handler, a wake-up).
     * Home thread.
     *
     * @return whether {@link #dispatch()} has work
     * @throws IllegalStateException off the home thread or after close
     */
    public boolean check() {
        checkHome(ctx, "AioSource.check()");
        ctx.checkOpen("check an embedded iteration");
        return ctx.sourceCheck() || Linux.ppoll(pollfd, 1, 0) > 0;
    }

    /**
     * Runs what is ready (QEMU's {@code aio_ctx_dispatch}, i.e. {@code aio_dispatch}): bottom halves,
     * the fd handlers the epoll fd reports, timers — one non-blocking {@link AioContext#poll} that
     * always reads the fd monitor and never busy-polls, so a callback may itself call
     * {@code poll} (nested; without busy polling while the dispatch runs). Lowers the notify flag first, so it may
     * be called without {@link #check()}. Returns whether progress was made (as
     * {@code poll(false)}). Home thread.
     *
     * @return whether progress was made
     * @throws IllegalStateException off the home thread or after close
     */
    public boolean dispatch() {
        checkHome(ctx, "AioSource.dispatch()");
        return ctx.sourceDispatch();
    }

    /**
     * A {@link #prepare()} timeout in whole milliseconds, rounded up so a host loop never wakes
     * before a timer is due (QEMU's {@code qemu_timeout_ns_to_ms}): -1 stays -1, 0 stays 0,
     * anything else is at least 1 and at most {@link Integer#MAX_VALUE}. Any thread.
     *
     * @param ns a timeout from {@link #prepare()}
     * @return the timeout in ms
     */
    public static long timeoutMs(long ns) {
        if (ns < 0) {
            return -1;
        }
        if (ns == 0) {
            return 0;
        }
        long ms = ns / 1_000_000 + (ns % 1_000_000 != 0 ? 1 : 0); // no overflow near Long.MAX_VALUE
        return Math.min(Integer.MAX_VALUE, ms);
    }

    @Override
    public String toString() {
        return "AioSource[" + ctx.name() + ", fd " + fd + "]";
    }
}
