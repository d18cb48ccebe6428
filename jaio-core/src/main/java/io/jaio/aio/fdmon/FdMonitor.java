package io.jaio.aio.fdmon;

import io.jaio.aio.FdMonitorKind;

/**
 * How a context waits for its file descriptors (QEMU's {@code FDMonOps}). The loop tells the
 * monitor how long it may block; monitors never read timer state.
 *
 * <p>Threads: {@link #update} runs in any thread with the context's list mutex held; everything
 * else runs in the home thread, {@link #wait} with the list count held.
 */
public interface FdMonitor {
    /** {@return which monitor this is} Never {@link FdMonitorKind#AUTO}. Any thread. */
    FdMonitorKind kind();

    /**
     * A handler was added ({@code old == null}), removed ({@code neu == null}) or replaced. List
     * mutex held.
     *
     * @param old the node being removed or replaced, or {@code null} when adding
     * @param neu the node being added or replacing {@code old}, or {@code null} when removing
     */
    void update(FdNode old, FdNode neu);

    /**
     * Waits up to {@code timeoutNs} (-1 forever, 0 not at all) and puts every ready node on
     * {@code ready}. Returns the number of nodes added.
     *
     * @param ready the list to append ready nodes to
     * @param timeoutNs how long to block in ns: -1 forever, 0 not at all
     * @return the number of nodes added (0 on time-out or a spurious wake-up)
     */
    int wait(ReadyList ready, long timeoutNs);

    /** {@return true if {@code poll} must call {@link #wait} even when it will not block} */
    boolean needWait();

    /**
     * {@link #needWait()} for a blocking pass whose timeout is already 0 (bottom halves or timers
     * are ready, so it runs work whatever it finds): a monitor may answer from a sample and leave
     * kernel-posted events to a later pass, within a bound it states. Home thread.
     *
     * @return true if {@code poll} must call {@link #wait} now
     */
    default boolean needWaitWithWork() {
        return needWait();
    }

    /**
     * Asks the kernel, without blocking, which fds are ready, for busy polling over handlers
     * whose {@code ioPoll} is {@link io.jaio.aio.AioContext#POLL_READINESS}: a zero-timeout
     * {@link #wait}, minus anything that would change the monitor (poll's move to epoll). The
     * io_uring monitor needs no call (its {@link #needWait()} sees the ring) and answers 0. Home
     * thread, list count held.
     *
     * @param ready the list to append ready nodes to
     * @return the number of nodes added
     */
    default int peek(ReadyList ready) {
        return 0;
    }

    /** Called before busy polling starts, so the monitor can settle work that would forbid it. */
    default void prepareToPoll() {
    }

    /**
     * Whether the kernel has reported (or holds) events this monitor has not handed out yet,
     * known without a syscall. Only a ring can tell (a posted CQE, or the TASKRUN flag): the
     * io_uring monitor's, or the request ring of poll and epoll while requests are in flight; fd
     * readiness on poll and epoll is never known this way. Home thread.
     *
     * @return whether undispatched events are known to be waiting
     */
    default boolean hasPendingEvents() {
        return false;
    }

    /**
     * Whether completions were reaped and not yet run by {@link #dispatch()}: a pass that would
     * otherwise walk nothing must still take the walker count and dispatch them. Home thread.
     *
     * @return whether {@link #dispatch()} has work now
     */
    default boolean hasUndispatched() {
        return false;
    }

    /**
     * Runs monitor-level completions (io_uring CQE handlers). Home thread.
     *
     * @return true if any ran
     */
    default boolean dispatch() {
        return false;
    }

    /**
     * Whether readiness of every fd is checked by the kernel while busy polling, so idle poll
     * handlers may leave the poll set after 7 s (true only for io_uring).
     *
     * @return whether the kernel watches readiness during busy polling
     */
    default boolean canPollReadiness() {
        return false;
    }

    /**
     * Queues an io_uring request (QEMU's {@code add_sqe}): on the io_uring monitor's ring, or on
     * the request ring poll and epoll set up by the first request (aio-semantics.md §7.5). Home
     * thread.
     *
     * @param prep fills the entry (called before this returns, or when the SQ has room)
     * @param handler called on the home thread with the request's result
     * @throws UnsupportedOperationException if the kernel refuses io_uring ({@link #hasIoUring()})
     */
    default void addSqe(java.util.function.Consumer<io.jaio.aio.Sqe> prep, io.jaio.aio.CqeHandler handler) {
        throw new UnsupportedOperationException("the " + kind() + " fd monitor cannot run io_uring requests");
    }

    /** {@return whether {@link #addSqe} works} Any thread. */
    default boolean hasIoUring() {
        return false;
    }

    /**
     * The ring {@link #addSqe} queues on, for what needs {@code io_uring_register} on it (the
     * registered buffers of {@code io.jaio.fs.FixedBuffers}), or {@code null} without one. Poll
     * and epoll set their request ring up here if no request has yet. Home thread.
     *
     * @return the ring, or {@code null} if the kernel refuses io_uring
     */
    default io.jaio.linux.IoUring ioUring() {
        return null;
    }

    /**
     * The one fd a host loop can wait on for every event this monitor watches (readable when
     * {@link #wait} would find something), or -1 if the monitor has none and cannot be embedded
     * in another loop ({@link io.jaio.aio.AioSource}). Only epoll has one: its epoll fd. Any thread.
     *
     * @return the fd, or -1
     */
    default int embeddingFd() {
        return -1;
    }

    /** Releases the monitor's kernel objects and memory. Home thread, at context close. */
    void close();
}
