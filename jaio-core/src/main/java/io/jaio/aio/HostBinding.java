package io.jaio.aio;

/**
 * The hook through which a thread that runs code on behalf of another thread tells the loop whom
 * it stands for. jaio's virtual-thread coroutine engine (in the coroutine package) runs each
 * coroutine body on a virtual thread of its own while the entering thread (the host) waits; it
 * binds that virtual thread to its strand, and then {@link AioContext#current()} answers with the
 * host's context and {@link AioContext#isHomeThread()} as the host would. {@code io.jaio.aio}
 * knows nothing of coroutines: this hook is the whole interface (QEMU needs none, because its
 * coroutines always run on the entering thread's own stack).
 *
 * <p>Internal: for jaio's own packages; no compatibility promise.
 */
public final class HostBinding {
    /** What a bound thread stands for, at any moment it runs. */
    public interface Host {
        /**
         * The thread the bound thread stands in for now. Called only on the bound thread; the
         * implementation publishes the value through its own hand-off to that thread.
         *
         * @return the host thread
         */
        Thread hostThread();

        /** {@return the context current on the host thread now (or null)} Same thread rules as {@link #hostThread()}. */
        AioContext hostContext();
    }

    /** Set once per bound thread (by the thread itself), read only by that thread. */
    private static final ThreadLocal<Host> HOST = new ThreadLocal<>();

    private HostBinding() {}

    /**
     * Binds the calling thread to {@code host} for the rest of its life. Called once, first thing,
     * by a virtual thread that runs code on behalf of others.
     *
     * @param host what the thread stands in for
     */
    public static void bind(Host host) {
        HOST.set(host);
    }

    /** {@return the host the calling thread is bound to, or null} Any thread. */
    public static Host ofCurrentThread() {
        return Thread.currentThread().isVirtual() ? HOST.get() : null;
    }
}
