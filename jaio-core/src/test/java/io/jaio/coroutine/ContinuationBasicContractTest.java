package io.jaio.coroutine;

/** {@link CoroutineBasicContract} on the continuation engine. */
class ContinuationBasicContractTest extends CoroutineBasicContract {
    @Override
    Engine engine() {
        return Engine.CONTINUATION;
    }
}
