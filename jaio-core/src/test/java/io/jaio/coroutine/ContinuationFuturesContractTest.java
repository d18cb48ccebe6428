package io.jaio.coroutine;

/** {@link CoroutineFuturesContract} on the continuation engine. */
class ContinuationFuturesContractTest extends CoroutineFuturesContract {
    @Override
    Engine engine() {
        return Engine.CONTINUATION;
    }
}
