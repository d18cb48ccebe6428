package io.jaio.coroutine;

import jdk.internal.vm.Continuation;
import jdk.internal.vm.ContinuationScope;

/**
 * The default engine: a coroutine is a {@code jdk.internal.vm.Continuation} run on the thread
 * that enters it, exactly like QEMU's stack switching. Loading this class needs
 * {@code --add-exports java.base/jdk.internal.vm=ALL-UNNAMED} (jaio runs on the class path);
 * {@link Engine} probes it and falls back to {@link VirtualThreadStrand} when it is missing.
 *
 * <p>All coroutines share one scope, so {@link #suspend()} always suspends the innermost
 * coroutine. {@code Continuation.run()} resets its parent on every yield, so a coroutine may be
 * resumed from a different coroutine, or thread, than the one that first ran it.
 */
final class ContinuationStrand extends Continuation implements Strand {

    static final ContinuationScope SCOPE = new ContinuationScope("jaio-coroutine");

    ContinuationStrand(Coroutine co) {
        super(SCOPE, co::runBody);
    }

    @Override
    public void resume(Coroutine to, Coroutine self) {
        // The coroutine runs on this thread, so the thread's current coroutine switches with it.
        Coroutine.CURRENT.set(to);
        try {
            run();
        } finally {
            Coroutine.CURRENT.set(self);
        }
    }

    @Override
    public void suspend() {
        Continuation.yield(SCOPE);
    }

    /**
     * A yield that cannot unmount (a native frame on the coroutine's stack, or a critical
     * section) fails here, inside the coroutine, instead of the JDK's bare "Pinned" message.
     */
    @Override
    protected void onPinned(Pinned reason) {
        throw new IllegalStateException("Coroutine.yield() cannot suspend the coroutine here (pinned: " + reason
                + "); a coroutine must not yield from inside a native call or a JDK critical section");
    }

    /** Runs a continuation through one yield; throws whatever makes the engine unusable. */
    static void probe() {
        int[] steps = new int[1];
        Continuation c = new Continuation(SCOPE, () -> {
            steps[0]++;
            Continuation.yield(SCOPE);
            steps[0]++;
        });
        c.run();
        c.run();
        if (!c.isDone() || steps[0] != 2) {
            throw new IllegalStateException("a probe continuation did not run to completion");
        }
    }
}
