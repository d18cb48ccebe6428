package io.jaio.coroutine;

/** {@link CoroutineSchedulingContract} on the continuation engine. */
class ContinuationSchedulingContractTest extends CoroutineSchedulingContract {
    @Override
    Engine engine() {
        return Engine.CONTINUATION;
    }
}
