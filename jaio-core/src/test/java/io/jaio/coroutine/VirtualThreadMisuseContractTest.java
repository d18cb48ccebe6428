package io.jaio.coroutine;

/** {@link CoroutineMisuseContract} on the virtual-thread engine. */
class VirtualThreadMisuseContractTest extends CoroutineMisuseContract {
    @Override
    Engine engine() {
        return Engine.VIRTUAL;
    }
}
