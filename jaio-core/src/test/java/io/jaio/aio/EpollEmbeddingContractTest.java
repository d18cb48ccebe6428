package io.jaio.aio;

/** {@link EmbeddingContract} on the EPOLL fd monitor (the one monitor that can be embedded). */
class EpollEmbeddingContractTest extends EmbeddingContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.EPOLL;
    }
}
