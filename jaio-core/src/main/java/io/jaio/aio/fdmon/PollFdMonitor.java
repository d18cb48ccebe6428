package io.jaio.aio.fdmon;

import io.jaio.aio.FdMonitorKind;
import io.jaio.linux.Linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The ppoll(2) monitor (QEMU's {@code util/fdmon-poll.c}): every wait gathers the live handlers
 * into a {@code struct pollfd} array and calls ppoll with a nanosecond timeout.
 *
 * <p>When started for {@link FdMonitorKind#AUTO}, a wait that would watch
 * {@value #EPOLL_THRESHOLD} or more fds first tries to move the context to epoll (one way: there
 * is no downgrade when the count falls; epoll takes the request ring over).
 *
 * <p>io_uring requests ({@link #addSqe}) run on a {@link RequestRing} set up by the first one;
 * every wait polls its fd too and services it before blocking and after waking
 * (aio-semantics.md §7.5). Threads: as {@link FdMonitor}.
 */
public final class PollFdMonitor extends RequestRingMonitor {
    /** QEMU's {@code EPOLL_ENABLE_THRESHOLD}. */
    public static final int EPOLL_THRESHOLD = 64;

    private boolean mayUpgrade;
    private final Arena arena = Arena.ofShared();
    // Home thread only; reused across waits and cleared after each (QEMU keeps them thread-local).
    private MemorySegment pollfds;
    private FdNode[] nodes = new FdNode[8];

    /**
     * A poll(2) monitor for {@code host}.
     *
     * @param host the owning context
     * @param mayUpgrade whether a wait over {@value #EPOLL_THRESHOLD}+ fds tries epoll (AUTO)
     */
    public PollFdMonitor(FdMonitorHost host, boolean mayUpgrade) {
        this(host, mayUpgrade, null, true);
    }

    /**
     * A poll(2) monitor that runs its io_uring requests on {@code requests}: epoll's, when epoll
     * falls back to poll ({@code owns}) or uses ppoll while external clients are disabled (not).
     */
    PollFdMonitor(FdMonitorHost host, boolean mayUpgrade, RequestRing requests, boolean owns) {
        super(host, owns);
        this.mayUpgrade = mayUpgrade;
        this.pollfds = arena.allocate(Linux.POLLFD_SIZE * nodes.length, 8);
        // Polled by fd in every wait: nothing to register when the ring is set up. A borrowed ring
        // stays with its owner's registration (epoll's set must keep learning of a new ring).
        this.requests = requests == null ? new RequestRing(host, fd -> { })
                : owns ? requests.handOver(fd -> { }) : requests;
    }

    @Override
    public FdMonitorKind kind() {
        return FdMonitorKind.POLL;
    }

    @Override
    public void update(FdNode old, FdNode neu) {
        // Nothing: every wait rebuilds the set from the live list.
    }

    @Override
    public int wait(ReadyList ready, long timeoutNs) {
        FdNode[] live = host.liveNodes();
        boolean skipExternal = host.externalDisabled();
        int n = 0;
        for (FdNode node : live) {
            int events = node.events();
            if (events == 0 || node.isDeleted() || (skipExternal && node.isExternal())) {
                continue;
            }
            if (n == nodes.length) {
                grow();
            }
            Linux.pollfdSet(pollfds, n, node.fd(), (short) events);
            nodes[n++] = node;
        }
        if (mayUpgrade && n >= EPOLL_THRESHOLD && !skipExternal) {
            FdMonitor epoll = tryUpgrade();
            if (epoll != null) {
                java.util.Arrays.fill(nodes, 0, n, null);
                return epoll.wait(ready, timeoutNs);
            }
        }
        timeoutNs = serviceBeforeWait(timeoutNs);
        int ringFd = requests.fd();
        if (ringFd >= 0) {
            if (n == nodes.length) {
                grow();
            }
            Linux.pollfdSet(pollfds, n, ringFd, (short) Linux.POLLIN);
            nodes[n++] = null; // the ring: reaped by service(), not reported
        }
        int found = waitOn(ready, n, timeoutNs);
        serviceAfterWait();
        return found;
    }

    private int waitOn(ReadyList ready, int n, long timeoutNs) {
        int found = 0;
        try {
            int r = Linux.ppoll(pollfds, n, timeoutNs);
            for (int i = 0; r > 0 && i < n; i++) {
                int revents = Linux.pollfdRevents(pollfds, i);
                if (revents != 0) {
                    r--;
                    if (nodes[i] != null) {
                        ready.add(nodes[i], revents);
                        found++;
                    }
                }
            }
        } finally {
            java.util.Arrays.fill(nodes, 0, n, null); // keep records out of reach between waits
        }
        return found;
    }

    private void grow() {
        FdNode[] bigger = new FdNode[nodes.length * 2];
        System.arraycopy(nodes, 0, bigger, 0, nodes.length);
        MemorySegment seg = arena.allocate(Linux.POLLFD_SIZE * bigger.length, 8);
        seg.copyFrom(pollfds);
        nodes = bigger;
        pollfds = seg; // the old segment stays in the arena until close; growth is rare and doubling
    }

    /** QEMU's {@code fdmon_epoll_try_upgrade}: only as the sole walker; any failure keeps poll. */
    private FdMonitor tryUpgrade() {
        if (!host.tryExclusive()) {
            return null; // nested poll: try again from the outermost level
        }
        try {
            EpollFdMonitor epoll;
            try {
                epoll = EpollFdMonitor.open(host);
            } catch (RuntimeException e) {
                mayUpgrade = false;
                System.getLogger("io.jaio.aio").log(System.Logger.Level.WARNING,
                        "context {0}: cannot switch to epoll, staying on poll: {1}", host.name(), e.toString());
                return null;
            }
            for (FdNode node : host.liveNodes()) {
                if (!node.isDeleted() && !epoll.register(node)) {
                    epoll.close();
                    mayUpgrade = false;
                    return null;
                }
            }
            if (!epoll.adopt(requests)) {
                epoll.close();
                mayUpgrade = false;
                return null;
            }
            giveUpRequests();
            host.replaceMonitor(epoll);
            close();
            return epoll;
        } finally {
            host.endExclusive();
        }
    }

    /** A zero-timeout ppoll over the live nodes; never moves to epoll (the caller holds this monitor). */
    @Override
    public int peek(ReadyList ready) {
        return waitOnce(ready, 0);
    }

    /** A single ppoll over the live nodes, used by epoll while external clients are disabled. */
    int waitOnce(ReadyList ready, long timeoutNs) {
        boolean saved = mayUpgrade;
        mayUpgrade = false;
        try {
            return wait(ready, timeoutNs);
        } finally {
            mayUpgrade = saved;
        }
    }

    @Override
    public void close() {
        closeRequests();
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
