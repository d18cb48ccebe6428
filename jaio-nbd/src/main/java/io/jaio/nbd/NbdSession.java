package io.jaio.nbd;

/**
 * What a finished handshake agreed on: the export, whether structured replies were negotiated,
 * whether {@code base:allocation} is selected for this export (then block status replies use
 * {@link #BASE_ALLOCATION_ID}), and the transmission flags sent to the client.
 */
record NbdSession(NbdExport export, boolean structuredReplies, boolean baseAllocation, int transmissionFlags) {
    /** The metadata context id given to {@code base:allocation} by NBD_OPT_SET_META_CONTEXT. */
    static final int BASE_ALLOCATION_ID = 1;
}
