/**
 * jaio's core: QEMU's AioContext event loop for Java.
 *
 * <p>{@code io.jaio.aio} is the public API. {@code io.jaio.aio.fdmon} (the fd-monitor SPI) and
 * {@code io.jaio.linux} (every FFM downcall) are internal; they are exported so jaio's own
 * modules and tests can reach them, and carry no compatibility promise.
 */
module io.jaio.core {
    requires jdk.jfr;
    exports io.jaio.aio;
    exports io.jaio.aio.fdmon;
    exports io.jaio.coroutine;
    exports io.jaio.channel;
    exports io.jaio.linux;
}
