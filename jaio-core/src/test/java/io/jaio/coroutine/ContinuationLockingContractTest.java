package io.jaio.coroutine;

/** {@link CoroutineLockingContract} on the continuation engine. */
class ContinuationLockingContractTest extends CoroutineLockingContract {
    @Override
    Engine engine() {
        return Engine.CONTINUATION;
    }
}
