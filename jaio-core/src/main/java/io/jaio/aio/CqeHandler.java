package io.jaio.aio;

/**
 * Receives the completion of an io_uring request submitted with {@link AioContext#addSqe}
 * (QEMU's {@code CqeHandler}). Called once, in the home thread, in CQE order.
 */
@FunctionalInterface
public interface CqeHandler {
    /**
     * Called with the request's completion.
     *
     * @param res   the CQE's result: ≥ 0 on success (bytes, a new fd...), {@code -errno} on failure
     * @param flags the CQE's flags ({@code IORING_CQE_F_*})
     */
    void complete(int res, int flags);
}
