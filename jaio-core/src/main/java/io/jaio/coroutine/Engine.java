package io.jaio.coroutine;

import io.jaio.aio.JvmFlags;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The two coroutine engines and the choice between them. The default is
 * {@link #CONTINUATION} when {@code jdk.internal.vm.Continuation} is usable (probed once), else
 * {@link #VIRTUAL}; the system property {@value #PROPERTY} ({@code continuation} or
 * {@code virtual}) forces one and is read at every {@link Coroutine#create}. Each engine is
 * logged once, when its first coroutine is created.
 */
enum Engine {
    /** {@code jdk.internal.vm.Continuation} on the entering thread. */
    CONTINUATION("continuation") {
        @Override
        Strand newStrand(Coroutine co) {
            return new ContinuationStrand(co);
        }
    },
    /** One virtual thread per coroutine, handed a baton. */
    VIRTUAL("virtual") {
        @Override
        Strand newStrand(Coroutine co) {
            return new VirtualThreadStrand(co);
        }
    };

    static final String PROPERTY = "jaio.coroutines";
    private static final System.Logger LOG = System.getLogger("io.jaio.coroutine");

    final String propertyValue;
    private final AtomicBoolean logged = new AtomicBoolean();

    Engine(String propertyValue) {
        this.propertyValue = propertyValue;
    }

    abstract Strand newStrand(Coroutine co);

    /** Why continuations are unusable (null if they are usable); probed on first use. */
    private static final class Probe {
        static final Throwable CONTINUATION_FAILURE = probe();

        private static Throwable probe() {
            try {
                ContinuationStrand.probe();
                return null;
            } catch (Throwable t) { // IllegalAccessError without the export, UnsupportedOperationException, ...
                return t;
            }
        }
    }

    static boolean continuationsAvailable() {
        return Probe.CONTINUATION_FAILURE == null;
    }

    /** The engine {@link Coroutine#create(Runnable)} uses now. */
    static Engine selected() {
        String p = System.getProperty(PROPERTY);
        if (p == null || p.isBlank()) {
            return continuationsAvailable() ? CONTINUATION : VIRTUAL;
        }
        return parse(p);
    }

    static Engine parse(String value) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        for (Engine e : values()) {
            if (e.propertyValue.equals(v)) {
                return e;
            }
        }
        throw new IllegalArgumentException("-D" + PROPERTY + "=" + value + ": expected continuation or virtual");
    }

    /** Fails if this engine cannot run here; logs the engine the first time it is used. */
    void checkUsable() {
        if (this == CONTINUATION && !continuationsAvailable()) {
            throw new IllegalStateException("the continuation coroutine engine is unavailable ("
                    + Probe.CONTINUATION_FAILURE + "); run with " + JvmFlags.continuationExportFlag()
                    + ", or -D" + PROPERTY + "=virtual",
                    Probe.CONTINUATION_FAILURE);
        }
        if (!logged.get() && logged.compareAndSet(false, true)) {
            if (this == CONTINUATION) {
                LOG.log(System.Logger.Level.INFO, "jaio: coroutine engine: continuation (jdk.internal.vm.Continuation)");
            } else if (continuationsAvailable()) {
                LOG.log(System.Logger.Level.INFO, "jaio: coroutine engine: virtual (virtual threads with a baton)");
            } else {
                LOG.log(System.Logger.Level.INFO, "jaio: coroutine engine: virtual (virtual threads with a baton);"
                        + " continuations unavailable: {0}; add {1} to use them", Probe.CONTINUATION_FAILURE,
                        JvmFlags.continuationExportFlag());
            }
        }
    }
}
