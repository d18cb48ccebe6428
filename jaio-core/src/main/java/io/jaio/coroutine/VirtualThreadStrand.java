package io.jaio.coroutine;

import io.jaio.aio.AioContext;
import io.jaio.aio.HostBinding;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.locks.LockSupport;

/**
 * The fallback engine: a coroutine runs on its own virtual thread, and a baton makes sure that
 * only one of the entering thread and the coroutine runs at a time. {@link #resume} blocks the
 * entering thread until the coroutine yields or ends, so the observable order of events is the
 * same as with continuations; what differs is {@code Thread.currentThread()} inside the body.
 *
 * <p>Because thread-locals such as {@code AioContext.current()} belong to the virtual thread, each
 * resume records the entering thread and its current context ({@link #hostThread},
 * {@link #hostContext}); the virtual thread is bound to its strand ({@link HostBinding}), so
 * {@code AioContext.current()}, {@code AioContext.isHomeThread()} and
 * {@link Coroutine#hostThread()} answer from them.
 */
final class VirtualThreadStrand implements Strand, HostBinding.Host {
    /*
     * Implementation overview (for maintainers).
     *
     * The baton is the volatile boolean `coroutineTurn`.
     *  1. resume() (entering thread T): write hostThread/hostContext/resumer (plain), then
     *     coroutineTurn = true (volatile store: publishes them and everything T did before), then
     *     start the virtual thread on the first resume or unpark it, then park until
     *     coroutineTurn is false again.
     *  2. suspend() (the coroutine's virtual thread V): read resumer (it cannot change before step
     *     3's store, because no one can resume a coroutine that has not given the baton back),
     *  3. coroutineTurn = false (volatile store: publishes what V did), unpark the resumer, park
     *     until coroutineTurn is true.
     *  4. End of body: done = true, then step 2-3 once more; V then exits.
     * Every read of the other side's plain fields follows a volatile read of coroutineTurn that
     * saw the other side's store, so each hand-off is a happens-before edge. park() may return
     * spuriously; both sides re-check the baton in a loop (resume() spins briefly first).
     * Interrupts are remembered and re-asserted after the wait instead of turning the wait into
     * a spin.
     *
     * A coroutine abandoned while suspended may keep its virtual thread parked until the JVM exits
     * (the continuation engine lets it be collected); QEMU leaks the coroutine's stack likewise.
     */

    /**
     * How long resume() spins before parking: a coroutine usually runs briefly before it yields,
     * and a spin saves the entering thread a futex sleep and wake-up (round trip ~10 us -> well
     * under 1 us on a 2-CPU machine). The coroutine side never spins: it may stay suspended for
     * a long time.
     */
    private static final int RESUME_SPINS = 1000;
    private static final ThreadFactory THREADS = Thread.ofVirtual().name("jaio-coroutine-", 0).factory();
    /** The strand whose virtual thread the caller is (null on any other thread). */
    private static final ThreadLocal<VirtualThreadStrand> OWN = new ThreadLocal<>();

    private final Coroutine co;
    private volatile boolean coroutineTurn;
    /** The thread parked in resume(); written before the baton is passed to the coroutine. */
    private Thread resumer;
    /** Started by the first resume; touched only by the side that holds the baton. */
    private Thread thread;
    /** Set by the virtual thread before its last hand-back. */
    private boolean done;
    /** The entering side's thread and context at the last resume; read by the coroutine's thread. */
    private Thread hostThread;
    private AioContext hostContext;

    VirtualThreadStrand(Coroutine co) {
        this.co = co;
    }

    @Override
    public void resume(Coroutine to, Coroutine self) {
        hostThread = Coroutine.hostThread();
        hostContext = Coroutine.currentContext();
        resumer = Thread.currentThread();
        coroutineTurn = true; // pairs with the loop in awaitTurn(true) on the coroutine's thread
        if (thread == null) {
            thread = THREADS.newThread(this::main);
            thread.start();
        } else {
            LockSupport.unpark(thread);
        }
        awaitTurn(false);
    }

    @Override
    public void suspend() {
        Thread r = resumer;
        coroutineTurn = false; // pairs with awaitTurn(false) in resume()
        LockSupport.unpark(r);
        awaitTurn(true);
    }

    @Override
    public boolean isDone() {
        return done;
    }

    private void main() {
        OWN.set(this);
        HostBinding.bind(this);
        Coroutine.CURRENT.set(co);
        co.runBody();
        done = true;
        Thread r = resumer;
        coroutineTurn = false; // publishes `done` and the body's last writes to resume()
        LockSupport.unpark(r);
    }

    private void awaitTurn(boolean coroutine) {
        for (int i = coroutine ? 0 : RESUME_SPINS; i > 0 && coroutineTurn != coroutine; i--) {
            Thread.onSpinWait();
        }
        boolean interrupted = false;
        while (coroutineTurn != coroutine) {
            LockSupport.park(this);
            if (Thread.interrupted()) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** The strand whose virtual thread is calling, or null. */
    static VirtualThreadStrand ofCurrentThread() {
        return Thread.currentThread().isVirtual() ? OWN.get() : null;
    }

    /** The entering thread of the last resume. The coroutine's thread (after the baton hand-off). */
    @Override
    public Thread hostThread() {
        return hostThread;
    }

    /** The entering thread's context at the last resume. The coroutine's thread (after the baton hand-off). */
    @Override
    public AioContext hostContext() {
        return hostContext;
    }
}
