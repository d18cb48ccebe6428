package io.jaio.aio;

import io.jaio.aio.fdmon.EpollFdMonitor;
import io.jaio.aio.fdmon.FdMonitor;
import io.jaio.aio.fdmon.FdMonitorHost;
import io.jaio.aio.fdmon.FdNode;
import io.jaio.aio.fdmon.IoUringFdMonitor;
import io.jaio.aio.fdmon.PollFdMonitor;
import io.jaio.aio.fdmon.ReadyList;
import io.jaio.linux.NativeException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;

/**
 * A context's fd handlers and its fd monitor: registration, the copy-on-write handler array,
 * deferred deletion and dispatch (QEMU's {@code aio_set_fd_handler},
 * {@code aio_free_deleted_handlers}, {@code aio_dispatch_ready_handlers} and
 * {@code aio_dispatch_handler} in {@code util/aio-posix.c}; aio-semantics.md §4, §5.2).
 *
 * <p>Threads: registration from any thread (under {@link #listLock}'s mutex); dispatch and
 * {@link #freeDeleted()} in the home thread only.
 */
final class FdHandlers {
    /*
     * Implementation overview (for maintainers).
     *
     * Records are immutable in their callbacks; replacement creates a new record and marks the
     * old one deleted. `handlers` is a copy-on-write array (written under the LockCnt's mutex),
     * so monitors walk a snapshot. The poll list (AdaptivePoller) is intrusive and owned by the
     * home thread while it walks with the count held; a writer that finds a walker (count > 0)
     * puts the old record on `deleted`, and the outermost walker unlinks it (freeDeleted, via
     * decIfLock). A writer that finds no walker (count 0 under the mutex) unlinks it itself:
     * nobody walks and nobody can start. Every callback site re-checks isDeleted().
     */

    private static final System.Logger LOG = System.getLogger("io.jaio.aio");
    private static final AtomicBoolean URING_FALLBACK_LOGGED = new AtomicBoolean();
    private static final AioHandler[] NO_HANDLERS = new AioHandler[0];

    private final AioContext ctx;
    private final Callbacks callbacks;
    private final Legacy legacy;
    /** The walkers' count and the writers' mutex (QEMU's list_lock). */
    final LockCnt listLock = new LockCnt();
    /** What the fd monitor may ask of the context. */
    final Host host = new Host();
    /** The poll list; created here, owned by the home thread. */
    final AdaptivePoller poller;

    // ---- written under listLock's mutex ----
    /** Replaced (POLL -> EPOLL) under the mutex; read without it by poll() and any thread: volatile publishes the new monitor. */
    volatile FdMonitor monitor;
    private final List<FdMonitor> retiredMonitors = new ArrayList<>();
    /** Copy-on-write; volatile publishes each new array to monitors and readers without the mutex. */
    private volatile AioHandler[] handlers = NO_HANDLERS;
    private AioHandler[] liveByFd = new AioHandler[64];
    private final ArrayList<AioHandler> deleted = new ArrayList<>();
    /**
     * Live handlers without a poll function (QEMU's poll_disable_cnt). Mutex held; others read
     * whether it is 0 from {@link #passChecks} (PASS_POLL_DISABLED).
     */
    private int pollDisableCnt;
    /**
     * Live handlers whose ioPoll is AioContext.POLL_READINESS: busy polling asks the monitor for
     * their readiness (FdMonitor.peek). Written under the mutex by any thread, read without it by
     * the home thread once per polling window; a window that reads the old count peeks (or not)
     * once too often (or too few), and the next window sees the new one.
     */
    private volatile int readinessCnt;
    private static final Runnable READINESS_NEVER_READY = () -> { };
    /**
     * Nesting depth of AioSource.dispatch: while it runs, its poll(false) must read the monitor
     * (the host's wait found the events there) and must not busy-poll, as if a handler had no poll
     * function (PASS_EMBEDDED). Home thread only.
     */
    private int embeddedDispatch;
    /**
     * The conditions a poll pass that will not block must ask the monitor ({@code needWait},
     * {@code hasUndispatched}) or free handlers for, one bit each, and the only record of whether
     * each holds that the home thread reads: PASS_POLL_DISABLED (some live handler has no poll
     * function: QEMU's {@code aio_poll_disabled}), PASS_EMBEDDED (AioSource's dispatch runs),
     * PASS_DELETED (handlers wait for {@link #freeDeleted()}), PASS_MONITOR (the monitor holds a
     * ring: set once and for good, Host.requirePassChecks). 0 lets poll() skip those calls, so a
     * pass that only runs bottom halves reads this one word instead of following the monitor, its
     * host and its request ring (beyond QEMU). PASS_POLL_DISABLED and PASS_DELETED change under
     * the list mutex with the count or list they stand for, PASS_EMBEDDED in the home thread;
     * atomic bit operations (BitWord) keep those writers apart. The home thread's volatile read
     * pairs with them: a pass that reads an old value is one that ran just before the change.
     */
    private final BitWord passChecks = new BitWord();
    static final int PASS_POLL_DISABLED = 1;
    static final int PASS_DELETED = 2;
    static final int PASS_EMBEDDED = 4;
    static final int PASS_MONITOR = 8;

    FdHandlers(AioContext ctx, Callbacks callbacks, Legacy legacy, FdMonitorKind kind) {
        this.ctx = ctx;
        this.callbacks = callbacks;
        this.legacy = legacy;
        this.poller = new AdaptivePoller(this, callbacks);
        this.monitor = open(kind);
        if (monitor.kind() == FdMonitorKind.IO_URING) {
            passChecks.set(PASS_MONITOR, true); // its needWait reads the completion queue on every pass
        }
    }

    /**
     * Whether a pass that will not block must ask the monitor's {@code needWait} and
     * {@code hasUndispatched} and {@link #hasDeleted()}: when false, all three are false (see
     * {@link #passChecks}). Home thread.
     */
    boolean passNeedsChecks() {
        return !passChecks.none(); // volatile: pairs with the atomic updates of the bits
    }

    /** {@return the PASS_* bits now} For tests. Any thread. */
    int passChecksNow() {
        return passChecks.get();
    }

    /** AioSource's dispatch begins (true) or ends: its pass must read the monitor. Home thread. */
    void embeddedDispatch(boolean begin) {
        if (begin) {
            if (embeddedDispatch++ == 0) {
                passChecks.set(PASS_EMBEDDED, true);
            }
        } else if (--embeddedDispatch == 0) {
            passChecks.set(PASS_EMBEDDED, false);
        }
    }

    private FdMonitor open(FdMonitorKind kind) {
        return switch (kind) {
            case AUTO -> openAuto();
            case POLL -> new PollFdMonitor(host, false);
            case EPOLL -> EpollFdMonitor.open(host);
            case IO_URING -> IoUringFdMonitor.open(host);
        };
    }

    /**
     * QEMU's order: io_uring; if the kernel refuses it (ENOSYS, EPERM from
     * {@code kernel.io_uring_disabled}, ...), logged once, QEMU's epoll fallback: ppoll that moves
     * to epoll once a wait watches 64 fds (one way).
     */
    private FdMonitor openAuto() {
        try {
            return IoUringFdMonitor.open(host);
        } catch (NativeException e) {
            if (URING_FALLBACK_LOGGED.compareAndSet(false, true)) {
                LOG.log(System.Logger.Level.WARNING,
                        "jaio: io_uring unavailable ({0}); falling back to poll/epoll (epoll from 64 fds)", e.getMessage());
            }
            return new PollFdMonitor(host, true);
        }
    }

    // =====================================================================================
    // Registration (§4)
    // =====================================================================================

    /** QEMU's {@code aio_set_fd_handler} (see AioContext.setFdHandler). Any thread. */
    void set(int fd, boolean external, Runnable ioRead, Runnable ioWrite, BooleanSupplier ioPoll,
             Runnable ioPollReady, boolean isNotifier, boolean edge) {
        if (fd < 0) {
            throw new IllegalArgumentException("fd must be >= 0, got " + fd);
        }
        if (ioPoll != null && ioPollReady == null) {
            if (ioPoll == AioContext.POLL_READINESS) {
                ioPollReady = READINESS_NEVER_READY; // that poll never returns true
            } else {
                ioPoll = null; // polling needs a ready callback
            }
        }
        boolean delete = ioRead == null && ioWrite == null && ioPoll == null;
        if (!delete) {
            ctx.checkOpen("register fd " + fd);
        }
        listLock.lock();
        try {
            if (ctx.isClosed()) {
                if (delete) {
                    return; // removing from a closed context: nothing is registered any more
                }
                throw new IllegalStateException("context '" + ctx.name() + "' is closed; cannot register fd " + fd);
            }
            AioHandler old = fd < liveByFd.length ? liveByFd[fd] : null;
            AioHandler neu = null;
            int delta;
            if (delete) {
                if (old == null) {
                    return; // nothing to remove: no wakeup, as in QEMU
                }
                old.clearEvents();
                delta = old.ioPoll == null ? -1 : 0;
            } else {
                delta = (ioPoll == null ? 1 : 0) - (old != null && old.ioPoll == null ? 1 : 0);
                neu = new AioHandler(fd, external, ioRead, ioWrite, ioPoll, ioPollReady, isNotifier, edge);
            }
            if (delta != 0) {
                int cnt = pollDisableCnt + delta;
                pollDisableCnt = cnt; // mutex held: the only writers
                passChecks.set(PASS_POLL_DISABLED, cnt != 0); // mutex held: in the count's order
            }
            int readiness = (neu != null && neu.ioPoll == AioContext.POLL_READINESS ? 1 : 0)
                    - (old != null && old.ioPoll == AioContext.POLL_READINESS ? 1 : 0);
            if (readiness != 0) {
                readinessCnt += readiness; // mutex held: the only writers
            }
            monitor.update(old, neu);
            if (fd >= liveByFd.length) {
                liveByFd = Arrays.copyOf(liveByFd, Math.max(fd + 1, liveByFd.length * 2));
            }
            liveByFd[fd] = neu;
            handlers = replaced(handlers, old, neu);
            if (old != null) {
                old.markDeleted();
                if (listLock.count() > 0) {
                    // Someone walks (maybe the home thread, maybe nested): the outermost walker
                    // unlinks it from the poll list in freeDeleted().
                    deleted.add(old);
                    passChecks.set(PASS_DELETED, true); // mutex held, as for freeDeleted's clear
                } else {
                    poller.remove(old); // count 0 under the mutex: nobody walks, nobody can start
                }
            }
        } finally {
            listLock.unlock();
        }
        ctx.wakeup();
    }

    /** The live handler of {@code fd}, or null. Any thread (takes the mutex). */
    AioHandler live(int fd) {
        listLock.lock();
        try {
            return fd >= 0 && fd < liveByFd.length ? liveByFd[fd] : null;
        } finally {
            listLock.unlock();
        }
    }

    private static AioHandler[] replaced(AioHandler[] cur, AioHandler old, AioHandler neu) {
        int n = cur.length;
        if (old != null) {
            for (int i = 0; i < n; i++) {
                if (cur[i] == old) {
                    AioHandler[] next;
                    if (neu != null) {
                        next = cur.clone();
                        next[i] = neu;
                    } else {
                        next = new AioHandler[n - 1];
                        System.arraycopy(cur, 0, next, 0, i);
                        System.arraycopy(cur, i + 1, next, i, n - i - 1);
                    }
                    return next;
                }
            }
        }
        if (neu == null) {
            return cur;
        }
        AioHandler[] next = Arrays.copyOf(cur, n + 1);
        next[n] = neu;
        return next;
    }

    /** Whether handlers wait to be freed by {@link #freeDeleted()}. Home thread. */
    boolean hasDeleted() {
        return passChecks.any(PASS_DELETED); // volatile: pairs with set()'s and freeDeleted()'s updates
    }

    /** Whether a live handler polls its readiness through the monitor (POLL_READINESS). Home thread. */
    boolean pollsReadiness() {
        return readinessCnt != 0; // volatile: pairs with set()'s write under the mutex
    }

    /** QEMU's {@code aio_free_deleted_handlers}: only the outermost walker unlinks. Home thread. */
    void freeDeleted() {
        if (!hasDeleted()) {
            return;
        }
        if (!listLock.decIfLock()) {
            return; // a nested poll (or another walker) is active; the outer level frees later
        }
        try {
            for (AioHandler h : deleted) {
                poller.remove(h);
            }
            deleted.clear();
            passChecks.set(PASS_DELETED, false); // the mutex held (decIfLock), as for set()'s
        } finally {
            listLock.incAndUnlock();
        }
    }

    /** Live handlers, the context's own notifier included. Any thread. */
    int count() {
        return handlers.length;
    }

    /** Resets every live handler's polling time (setPollParams). Any thread. */
    void resetPollNs() {
        for (AioHandler h : handlers) {
            h.pollNs = 0;
        }
    }

    /**
     * Drops every registration and returns the monitors to close (the current one last). The
     * caller holds the mutex and has marked the context closed.
     */
    List<FdMonitor> closeLocked() {
        for (AioHandler h : handlers) {
            h.markDeleted();
        }
        handlers = NO_HANDLERS;
        Arrays.fill(liveByFd, null);
        List<FdMonitor> toClose = new ArrayList<>(retiredMonitors);
        toClose.add(monitor);
        retiredMonitors.clear();
        return toClose;
    }

    // =====================================================================================
    // Dispatch (§5.2)
    // =====================================================================================

    boolean externalOk(FdNode n) {
        return !n.isExternal() || !legacy.externalDisabled();
    }

    /**
     * QEMU's {@code aio_dispatch_ready_handlers}. {@code maxNs} is the one {@code blockNs} was
     * measured under, and {@code grow}/{@code shrink} are read once per pass by poll(): a
     * concurrent setPollParams applies from the next pass. The context notifier's polling time is
     * judged by {@code notifierBlockNs} instead (when its waker wrote, see
     * PollPolicy.notifierBlockNs). Home thread.
     */
    boolean dispatchReady(ReadyList ready, long blockNs, long notifierBlockNs, long maxNs, long grow, long shrink) {
        boolean progress = false;
        FdNode n;
        while ((n = ready.poll()) != null) {
            AioHandler node = (AioHandler) n;
            progress |= dispatch(node);
            if (maxNs != 0 && node.onPollList) {
                node.pollNs = PollPolicy.adjust(node.pollNs, node.isContextNotifier ? notifierBlockNs : blockNs,
                        maxNs, grow, shrink);
            }
        }
        return progress;
    }

    /** QEMU's {@code aio_dispatch_handler} (§5.2). */
    private boolean dispatch(AioHandler node) {
        int revents = node.revents() & node.events();
        node.setRevents(0);
        boolean pollReady = node.pollReady();
        node.setPollReady(false);
        boolean progress = false;

        if (!node.isDeleted() && !node.onPollList && node.ioPoll != null) {
            // Start polling handlers once they fire: activity is likely to continue.
            Runnable begin = node.ioPollBegin;
            if (poller.started() && begin != null) {
                callbacks.run(begin, node);
            }
            poller.add(node);
        }
        if (!externalOk(node)) {
            return false;
        }
        if (!node.isDeleted() && pollReady && revents == 0 && node.ioPollReady != null) {
            // Off the poll list while the callback runs, so a nested poll() cannot poll it again
            // and recurse forever on a level-triggered condition.
            poller.remove(node);
            callbacks.run(node.ioPollReady, node);
            if (!node.onPollList) {
                poller.add(node);
            }
            return !node.isContextNotifier;
        }
        if (!node.isDeleted() && (revents & FdNode.READ_EVENTS) != 0 && node.ioRead != null) {
            callbacks.run(node.ioRead, node);
            if (!node.isContextNotifier) {
                progress = true;
            }
        }
        if (!node.isDeleted() && (revents & FdNode.WRITE_EVENTS) != 0 && node.ioWrite != null) {
            callbacks.run(node.ioWrite, node);
            progress = true;
        }
        return progress;
    }

    /** What the fd monitor may ask of the context. */
    final class Host implements FdMonitorHost {
        @Override
        public FdNode[] liveNodes() {
            return handlers;
        }

        @Override
        public boolean pollDisabled() {
            return passChecks.any(PASS_POLL_DISABLED | PASS_EMBEDDED); // volatile: pairs with their updates
        }

        @Override
        public boolean externalDisabled() {
            return legacy.externalDisabled();
        }

        @Override
        public boolean tryExclusive() {
            return listLock.decIfLock();
        }

        @Override
        public void endExclusive() {
            listLock.incAndUnlock();
        }

        @Override
        public void requirePassChecks() {
            passChecks.set(PASS_MONITOR, true);
        }

        @Override
        public void replaceMonitor(FdMonitor next) {
            assert listLock.isLockedByCurrentThread();
            FdMonitor prev = monitor;
            retiredMonitors.add(prev);
            monitor = next;
            LOG.log(System.Logger.Level.INFO, "context {0}: fd monitor {1} -> {2}", ctx.name(), prev.kind(), next.kind());
        }

        @Override
        public void completeCqe(CqeHandler handler, int res, int flags) {
            callbacks.complete(handler, res, flags);
        }

        @Override
        public long maxBatch() {
            return ctx.maxBatch();
        }

        @Override
        public String name() {
            return ctx.name();
        }
    }
}
