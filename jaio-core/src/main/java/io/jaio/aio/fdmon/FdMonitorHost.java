package io.jaio.aio.fdmon;

/**
 * What an {@link FdMonitor} may ask of the context that owns it. Implemented by the context.
 */
public interface FdMonitorHost {
    /**
     * The live handler records, a snapshot array the caller must not modify. Home thread, with
     * the list count held.
     *
     * @return the live nodes
     */
    FdNode[] liveNodes();

    /**
     * QEMU's {@code aio_poll_disabled}. Home thread.
     *
     * @return true if some live handler has no userspace poll function
     */
    boolean pollDisabled();

    /**
     * Legacy: whether external clients are disabled. Home thread.
     *
     * @return true if external nodes must not be waited for
     */
    boolean externalDisabled();

    /**
     * Takes the list mutex if the caller is the only walker (QEMU's {@code qemu_lockcnt_dec_if_lock}
     * on {@code list_lock}); false if a nested walker exists. Home thread, list count held.
     *
     * @return whether the caller now holds the list mutex exclusively
     */
    boolean tryExclusive();

    /** Ends {@link #tryExclusive()}: restores the count and releases the mutex. */
    void endExclusive();

    /**
     * Tells the context that from now on every pass, also one that will not block, must ask this
     * monitor {@link FdMonitor#needWait()} and {@link FdMonitor#hasUndispatched()}: it holds a ring
     * whose completions no syscall-free check other than those two can see (the io_uring monitor,
     * or the request ring of poll and epoll once set up). Sticky; until it is called, a pass with
     * work pending skips both calls while no handler disables polling and none waits to be freed.
     * Home thread.
     */
    void requirePassChecks();

    /**
     * Makes {@code next} the context's monitor (an upgrade, e.g. poll to epoll). List mutex held.
     *
     * @param next the new monitor, already holding every live node
     */
    void replaceMonitor(FdMonitor next);

    /**
     * Calls a request's completion handler with the context's error containment (a throw is
     * logged and counted). Home thread.
     *
     * @param handler the request's handler
     * @param res the CQE's result (≥ 0, or {@code -errno})
     * @param flags the CQE's flags
     */
    void completeCqe(io.jaio.aio.CqeHandler handler, int res, int flags);

    /** {@return the context's {@code aio-max-batch} (0 = the monitor's default)} Any thread. */
    long maxBatch();

    /** {@return the context's name, for logs} Any thread. */
    String name();
}
