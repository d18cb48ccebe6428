package io.jaio.nbd;

import io.jaio.block.DirtyBitmap;

import java.util.List;

/**
 * What a finished handshake agreed on: the export, whether structured replies were negotiated,
 * whether {@code base:allocation} is selected for this export (then block status replies use
 * {@link #BASE_ALLOCATION_ID}), whether {@code qemu:allocation-depth} is
 * ({@link #ALLOCATION_DEPTH_ID}), the dirty bitmaps selected (ids from 3 on), the transmission flags sent to the client, and whether
 * extended headers (32-byte requests and reply chunks; implies structured replies) were
 * negotiated.
 */
record NbdSession(NbdExport export, boolean structuredReplies, boolean baseAllocation, int transmissionFlags,
        boolean extendedHeaders, boolean allocationDepth, List<ExportedBitmap> bitmaps) {
    /** A dirty bitmap selected as {@code qemu:dirty-bitmap:NAME} under context id {@code id}. */
    record ExportedBitmap(int id, DirtyBitmap bitmap) {}

    /** The metadata context id given to {@code base:allocation} by NBD_OPT_SET_META_CONTEXT. */
    static final int BASE_ALLOCATION_ID = 1;
    /** The metadata context id given to {@code qemu:allocation-depth}. */
    static final int ALLOCATION_DEPTH_ID = 2;

    /** A session with compact headers and no context but perhaps base:allocation. */
    NbdSession(NbdExport export, boolean structuredReplies, boolean baseAllocation, int transmissionFlags) {
        this(export, structuredReplies, baseAllocation, transmissionFlags, false, false, List.of());
    }

    /** A session with no context but perhaps base:allocation. */
    NbdSession(NbdExport export, boolean structuredReplies, boolean baseAllocation, int transmissionFlags,
            boolean extendedHeaders) {
        this(export, structuredReplies, baseAllocation, transmissionFlags, extendedHeaders, false, List.of());
    }

    /** A session without dirty bitmaps. */
    NbdSession(NbdExport export, boolean structuredReplies, boolean baseAllocation, int transmissionFlags,
            boolean extendedHeaders, boolean allocationDepth) {
        this(export, structuredReplies, baseAllocation, transmissionFlags, extendedHeaders, allocationDepth,
                List.of());
    }

    /** This session (everything negotiated) on another instance of its export, for a moved connection. */
    NbdSession withExport(NbdExport e) {
        return new NbdSession(e, structuredReplies, baseAllocation, transmissionFlags, extendedHeaders,
                allocationDepth, bitmaps);
    }

    /** Whether any metadata context was selected (then BLOCK_STATUS is allowed). */
    boolean anyMetaContext() {
        return baseAllocation || allocationDepth || !bitmaps.isEmpty();
    }

    /** Bytes of a request header in this session. */
    int requestSize() {
        return extendedHeaders ? Nbd.EXTENDED_REQUEST_SIZE : Nbd.REQUEST_SIZE;
    }
}
