package io.jaio.coroutine;

/** {@link CoroutineMultithreadContract} on the continuation engine. */
class ContinuationMultithreadContractTest extends CoroutineMultithreadContract {
    @Override
    Engine engine() {
        return Engine.CONTINUATION;
    }
}
