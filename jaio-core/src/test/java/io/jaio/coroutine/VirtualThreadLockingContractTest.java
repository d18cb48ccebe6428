package io.jaio.coroutine;

/** {@link CoroutineLockingContract} on the virtual-thread engine. */
class VirtualThreadLockingContractTest extends CoroutineLockingContract {
    @Override
    Engine engine() {
        return Engine.VIRTUAL;
    }
}
