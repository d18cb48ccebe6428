package io.jaio.coroutine;

/** {@link CoroutineMisuseContract} on the continuation engine. */
class ContinuationMisuseContractTest extends CoroutineMisuseContract {
    @Override
    Engine engine() {
        return Engine.CONTINUATION;
    }
}
