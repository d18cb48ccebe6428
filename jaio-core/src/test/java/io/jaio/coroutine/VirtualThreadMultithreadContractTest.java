package io.jaio.coroutine;

/** {@link CoroutineMultithreadContract} on the virtual-thread engine. */
class VirtualThreadMultithreadContractTest extends CoroutineMultithreadContract {
    @Override
    Engine engine() {
        return Engine.VIRTUAL;
    }
}
