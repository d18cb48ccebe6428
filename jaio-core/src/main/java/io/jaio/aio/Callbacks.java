package io.jaio.aio;

import java.util.concurrent.atomic.LongAdder;
import java.util.function.BooleanSupplier;

/**
 * The one place where a context contains what user callbacks throw (style rule 10, Agrona's
 * {@code AgentRunner}): the throwable is logged through {@link System.Logger}
 * ({@code io.jaio.aio}) and counted, and the loop goes on. A {@link VirtualMachineError} is not
 * contained: the JVM is in no state to go on.
 *
 * <p>Threads: the home thread runs callbacks; {@link #errorCount()} is read by any thread.
 */
final class Callbacks {
    private static final System.Logger LOG = System.getLogger("io.jaio.aio");

    private final String contextName;
    /** Incremented by the home thread, summed by any thread (a LongAdder: no ordering needed). */
    private final LongAdder errors = new LongAdder();

    Callbacks(String contextName) {
        this.contextName = contextName;
    }

    /** Runs {@code cb}; a throw is contained. Home thread. */
    void run(Runnable cb, Object source) {
        try {
            cb.run();
        } catch (Throwable t) {
            contain(source, t);
        }
    }

    /** Calls a handler's poll function; a throw is contained and counts as "not ready". Home thread. */
    boolean poll(BooleanSupplier ioPoll, Object source) {
        try {
            return ioPoll.getAsBoolean();
        } catch (Throwable t) {
            contain(source, t);
            return false;
        }
    }

    /** Completes an io_uring request; a throw is contained. Home thread. */
    void complete(CqeHandler handler, int res, int flags) {
        try {
            handler.complete(res, flags);
        } catch (Throwable t) {
            contain(handler, t);
        }
    }

    /** How many callbacks threw. Any thread. */
    long errorCount() {
        return errors.sum();
    }

    private void contain(Object source, Throwable t) {
        if (t instanceof VirtualMachineError e) {
            throw e;
        }
        errors.increment();
        LOG.log(System.Logger.Level.WARNING, "context " + contextName + ": callback of " + source + " threw", t);
    }
}
