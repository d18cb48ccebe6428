package io.jaio.coroutine;

/** {@link CoroutineFuturesContract} on the virtual-thread engine. */
class VirtualThreadFuturesContractTest extends CoroutineFuturesContract {
    @Override
    Engine engine() {
        return Engine.VIRTUAL;
    }
}
