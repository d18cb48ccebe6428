package io.jaio.coroutine;

/** {@link CoroutineSchedulingContract} on the virtual-thread engine. */
class VirtualThreadSchedulingContractTest extends CoroutineSchedulingContract {
    @Override
    Engine engine() {
        return Engine.VIRTUAL;
    }
}
