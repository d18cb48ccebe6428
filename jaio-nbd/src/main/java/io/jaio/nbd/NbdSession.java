package io.jaio.nbd;

/**
 * What a finished handshake agreed on: the export, whether structured replies were negotiated,
 * whether {@code base:allocation} is selected for this export (then block status replies use
 * {@link #BASE_ALLOCATION_ID}), whether {@code qemu:allocation-depth} is
 * ({@link #ALLOCATION_DEPTH_ID}), the transmission flags sent to the client, and whether
 * extended headers (32-byte requests and reply chunks; implies structured replies) were
 * negotiated.
 */
record NbdSession(NbdExport export, boolean structuredReplies, boolean baseAllocation, int transmissionFlags,
        boolean extendedHeaders, boolean allocationDepth) {
    /** The metadata context id given to {@code base:allocation} by NBD_OPT_SET_META_CONTEXT. */
    static final int BASE_ALLOCATION_ID = 1;
    /** The metadata context id given to {@code qemu:allocation-depth}. */
    static final int ALLOCATION_DEPTH_ID = 2;

    /** A session with compact headers and no context but perhaps base:allocation. */
    NbdSession(NbdExport export, boolean structuredReplies, boolean baseAllocation, int transmissionFlags) {
        this(export, structuredReplies, baseAllocation, transmissionFlags, false, false);
    }

    /** A session with no context but perhaps base:allocation. */
    NbdSession(NbdExport export, boolean structuredReplies, boolean baseAllocation, int transmissionFlags,
            boolean extendedHeaders) {
        this(export, structuredReplies, baseAllocation, transmissionFlags, extendedHeaders, false);
    }

    /** Whether any metadata context was selected (BLOCK_STATUS is allowed). */
    boolean anyMetaContext() {
        return baseAllocation || allocationDepth;
    }

    /** Bytes of a request header in this session. */
    int requestSize() {
        return extendedHeaders ? Nbd.EXTENDED_REQUEST_SIZE : Nbd.REQUEST_SIZE;
    }
}
