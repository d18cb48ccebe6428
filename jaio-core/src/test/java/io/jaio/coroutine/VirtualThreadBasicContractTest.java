package io.jaio.coroutine;

/** {@link CoroutineBasicContract} on the virtual-thread engine. */
class VirtualThreadBasicContractTest extends CoroutineBasicContract {
    @Override
    Engine engine() {
        return Engine.VIRTUAL;
    }
}
