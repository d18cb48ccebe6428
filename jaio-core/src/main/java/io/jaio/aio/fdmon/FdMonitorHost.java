package io.jaio.aio.fdmon;

/**
 * What an {@link FdMonitor} may ask of the context that owns it. Implemented by the context.
 */
public interface FdMonitorHost {
    /**
     * The live handler records, a snapshot array the caller must not modify. Home thread, with
     * the list count held.
     */
    FdNode[] liveNodes();

    /** QEMU's {@code aio_poll_disabled}: some live handler has no userspace poll function. */
    boolean pollDisabled();

    /** Legacy: external clients are disabled, so external nodes must not be waited for. */
    boolean externalDisabled();

    /**
     * Takes the list mutex if the caller is the only walker (QEMU's {@code qemu_lockcnt_dec_if_lock}
     * on {@code list_lock}); false if a nested walker exists. Home thread, list count held.
     */
    boolean tryExclusive();

    /** Ends {@link #tryExclusive()}: restores the count and releases the mutex. */
    void endExclusive();

    /** Makes {@code next} the context's monitor. List mutex held. */
    void replaceMonitor(FdMonitor next);

    /**
     * Calls a request's completion handler with the context's error containment (a throw is
     * logged and counted). Home thread.
     */
    void completeCqe(io.jaio.aio.CqeHandler handler, int res, int flags);

    /** The context's {@code aio-max-batch} (0 = the monitor's default). Any thread. */
    long maxBatch();

    /** The context's name, for logs. */
    String name();
}
