package io.jaio.aio.fdmon;

import io.jaio.aio.FdMonitorKind;
import io.jaio.linux.Linux;
import io.jaio.linux.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The epoll(7) monitor (QEMU's {@code util/fdmon-epoll.c}). Registrations live in the kernel and
 * follow {@link #update}; a wait with a positive timeout first ppolls the epoll fd itself,
 * because epoll_wait only has millisecond resolution.
 *
 * <p>Each registration's 64-bit cookie is {@code (record id << 32) | fd}; a wait looks the fd up
 * in a table of live records and ignores the event if the record changed, so an event for a
 * record that was replaced or whose fd number was reused is never credited to the wrong handler.
 *
 * <p>If the kernel refuses an update, the monitor gives up and the context falls back to poll
 * (which rebuilds its set from the live list, and takes the request ring over), as QEMU's
 * {@code fdmon_epoll_disable} does.
 *
 * <p>io_uring requests ({@link #addSqe}) run on a {@link RequestRing} set up by the first one;
 * its fd is in the epoll set, and every wait services it before blocking and after waking
 * (aio-semantics.md §7.5). Threads: as {@link FdMonitor}.
 */
public final class EpollFdMonitor extends RequestRingMonitor {
    private static final int MAX_EVENTS = 128;
    private static final VarHandle TABLE = MethodHandles.arrayElementVarHandle(FdNode[].class);

    private final int epfd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment events;
    private final MemorySegment selfPollfd;
    /** fd → live record. Written under the list mutex (release), read by waits (acquire). */
    private volatile FdNode[] byFd = new FdNode[64];
    private PollFdMonitor pollFallback;
    private boolean closed;

    private EpollFdMonitor(FdMonitorHost host, int epfd) {
        super(host, true);
        this.epfd = epfd;
        this.requests = new RequestRing(host, this::watchRing); // its fd goes in the set with cookie -1
        this.events = arena.allocate(Linux.EPOLL_EVENT_SIZE * MAX_EVENTS, 8);
        this.selfPollfd = arena.allocate(Linux.POLLFD_SIZE, 8);
        Linux.pollfdSet(selfPollfd, 0, epfd, (short) Linux.POLLIN);
    }

    /**
     * Creates an epoll fd for {@code host}.
     *
     * @param host the owning context
     * @return the monitor, with no fd registered yet
     * @throws NativeException if the kernel refuses
     */
    public static EpollFdMonitor open(FdMonitorHost host) {
        return new EpollFdMonitor(host, Linux.epollCreate1(Linux.EPOLL_CLOEXEC));
    }

    /**
     * Takes over the request ring of the poll monitor this one replaces (its own, unused, is
     * dropped). Before the monitor is published; list mutex held.
     *
     * @param from the poll monitor's ring
     * @return false (and nothing changed) if the kernel refuses to watch the ring's fd
     */
    boolean adopt(RequestRing from) {
        try {
            requests = from.handOver(this::watchRing);
            return true;
        } catch (NativeException e) {
            return false;
        }
    }

    /** Puts the request ring's fd in the set: readable when it has completions to reap. */
    private void watchRing(int ringFd) {
        int r = Linux.epollCtl(epfd, Linux.EPOLL_CTL_ADD, ringFd, Linux.POLLIN, -1L); // fd -1: skipped by wait
        if (r < 0) {
            throw new NativeException("epoll_ctl", -r, "io_uring request ring fd " + ringFd);
        }
    }

    @Override
    public FdMonitorKind kind() {
        return FdMonitorKind.EPOLL;
    }

    private static long cookie(FdNode n) {
        return ((long) n.id() << 32) | (n.fd() & 0xffffffffL);
    }

    private void publish(int fd, FdNode node) {
        FdNode[] t = byFd;
        if (fd >= t.length) {
            FdNode[] bigger = new FdNode[Math.max(fd + 1, t.length * 2)];
            System.arraycopy(t, 0, bigger, 0, t.length);
            t = bigger;
            byFd = t; // volatile publish of the grown table (pairs with the read in wait())
        }
        TABLE.setRelease(t, fd, node); // pairs with getAcquire in wait()
    }

    /** Adds {@code node}; false (and nothing changed) if the kernel refuses. List mutex held. */
    boolean register(FdNode node) {
        if (Linux.epollCtl(epfd, Linux.EPOLL_CTL_ADD, node.fd(), node.events(), cookie(node)) < 0) {
            return false;
        }
        publish(node.fd(), node);
        return true;
    }

    @Override
    public void update(FdNode old, FdNode neu) {
        int r;
        if (neu == null) {
            r = Linux.epollCtl(epfd, Linux.EPOLL_CTL_DEL, old.fd(), 0, 0);
            if (r == 0) {
                publish(old.fd(), null);
            }
        } else {
            int op = old == null ? Linux.EPOLL_CTL_ADD : Linux.EPOLL_CTL_MOD;
            r = Linux.epollCtl(epfd, op, neu.fd(), neu.events(), cookie(neu));
            if (r == 0) {
                publish(neu.fd(), neu);
            }
        }
        if (r < 0) {
            disable(new NativeException("epoll_ctl", -r, "fd " + (neu != null ? neu.fd() : old.fd())));
        }
    }

    /** QEMU's {@code fdmon_epoll_disable}: back to poll for good. List mutex held. */
    private void disable(NativeException why) {
        System.getLogger("io.jaio.aio").log(System.Logger.Level.WARNING,
                "context {0}: epoll failed, falling back to poll: {1}", host.name(), why.getMessage());
        PollFdMonitor poll = new PollFdMonitor(host, false, requests, true);
        giveUpRequests(); // only once the poll monitor exists to own the ring
        host.replaceMonitor(poll);
        // The home thread may be inside wait() on this monitor; it finishes that wait and uses the
        // new monitor from the next iteration. The fd is closed at context close.
    }

    @Override
    public int wait(ReadyList ready, long timeoutNs) {
        if (host.externalDisabled()) {
            // Legacy: the kernel set holds external fds, so use one ppoll over the filtered list
            // (which also watches the request ring, and services it).
            if (pollFallback == null) {
                pollFallback = new PollFdMonitor(host, false, requests, false);
            }
            return pollFallback.waitOnce(ready, timeoutNs);
        }
        int found = waitEpoll(ready, serviceBeforeWait(timeoutNs));
        serviceAfterWait();
        return found;
    }

    private int waitEpoll(ReadyList ready, long timeoutNs) {
        int ms;
        if (timeoutNs > 0) {
            if (Linux.ppoll(selfPollfd, 1, timeoutNs) <= 0) {
                return 0; // timed out (or EINTR: a spurious wake-up)
            }
            ms = 0;
        } else {
            ms = timeoutNs == 0 ? 0 : -1;
        }
        int n = Linux.epollWait(epfd, events, MAX_EVENTS, ms);
        int found = 0;
        FdNode[] t = byFd;
        for (int i = 0; i < n; i++) {
            long data = Linux.epollEventData(events, i);
            int fd = (int) data;
            if (fd < 0 || fd >= t.length) {
                continue;
            }
            FdNode node = (FdNode) TABLE.getAcquire(t, fd);
            if (node == null || node.id() != (int) (data >>> 32)) {
                continue; // replaced or removed since the kernel queued the event
            }
            ready.add(node, Linux.epollEventEvents(events, i));
            found++;
        }
        return found;
    }

    /** A zero-timeout wait: epoll_wait(0), or one ppoll while external clients are disabled. */
    @Override
    public int peek(ReadyList ready) {
        return wait(ready, 0);
    }

    /** The epoll fd: readable while a registered fd has an event pending (epoll(7) nests). */
    @Override
    public int embeddingFd() {
        return epfd;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        closeRequests(); // before the epoll set goes
        if (pollFallback != null) {
            pollFallback.close();
        }
        Linux.close(epfd);
        arena.close();
    }
}
