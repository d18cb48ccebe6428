package io.jaio.aio;

import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * A platform thread that owns an {@link AioContext} and runs {@code poll(true)} until closed
 * (QEMU's {@code IOThread}). Adaptive polling is on by default (poll-max-ns 32768), which on
 * this kind of machine saves a cross-CPU wake-up (≈25–30 µs) for work that arrives within it.
 *
 * <pre>{@code
 * try (IoThread io = IoThread.start("disk0")) {
 *     io.context().scheduleOneshot("hello", () -> System.out.println("in " + Thread.currentThread()));
 * }
 * }</pre>
 *
 * <p>{@link #context()} and {@link #thread()}: any thread. {@link #close()}: any thread but the
 * IoThread itself.
 */
public final class IoThread implements AutoCloseable {
    /** QEMU's default poll-max-ns for an IOThread on POSIX hosts. */
    public static final long DEFAULT_POLL_MAX_NS = 32768;

    private final Thread thread;
    private final AioContext ctx;
    /** Cleared by the stop BH in the IoThread; read by its loop (same thread). */
    private boolean running = true;
    private volatile boolean stopping;
    private volatile Throwable failure;
    /** Non-blocking passes the stopped loop runs at most before closing its context. */
    static final int STOP_DRAIN_PASSES = 64;

    private IoThread(Builder b) {
        CompletableFuture<AioContext> started = new CompletableFuture<>();
        this.thread = Thread.ofPlatform().name("IO " + b.name).daemon(true).unstarted(() -> run(b, started));
        thread.start();
        try {
            this.ctx = started.get();
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException("IoThread '" + b.name + "' failed to start", c);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting IoThread '" + b.name + "'", e);
        }
    }

    private void run(Builder b, CompletableFuture<AioContext> started) {
        AioContext c;
        try {
            c = AioContext.builder().name(b.name).fdMonitor(b.fdMonitor).pollMaxNs(b.pollMaxNs)
                    .pollGrow(b.pollGrow).pollShrink(b.pollShrink).maxBatch(b.maxBatch)
                    .clockSource(b.clockSource).build();
            if (b.pollContention) {
                c.setPollContention(true);
            }
        } catch (Throwable t) {
            started.completeExceptionally(t);
            return;
        }
        started.complete(c);
        try {
            while (running) {
                c.poll(true);
            }
            // Work queued while the stop was on its way (a oneshot that landed after the stop's
            // pass began, or one scheduled by that pass) runs now rather than being dropped as a
            // leak by close(); bounded, since a BH may reschedule itself for ever.
            for (int i = 0; i < STOP_DRAIN_PASSES && c.poll(false); i++) {
                // each pass runs what the previous one scheduled
            }
        } catch (Throwable t) {
            failure = t;
        } finally {
            try {
                c.close();
            } catch (Throwable t) {
                if (failure == null) {
                    failure = t;
                } else {
                    failure.addSuppressed(t);
                }
            }
        }
    }

    /**
     * Starts an IoThread with the defaults. Any thread.
     *
     * @param name the IoThread's name (its thread is "IO name", its context {@code name})
     * @return the running IoThread; close it to stop the loop
     * @throws NullPointerException if {@code name} is null
     */
    public static IoThread start(String name) {
        return builder(name).build();
    }

    /**
     * A builder for an IoThread named {@code name} (its thread is "IO name"). Any thread.
     *
     * @param name the IoThread's name
     * @return a builder with the defaults
     * @throws NullPointerException if {@code name} is null
     */
    public static Builder builder(String name) {
        return new Builder(name);
    }

    /** {@return the IoThread's context} Any thread. */
    public AioContext context() {
        return ctx;
    }

    /** {@return the platform thread running the loop} Any thread. */
    public Thread thread() {
        return thread;
    }

    /**
     * Stops the loop through a oneshot bottom half and joins the thread, which closes the context.
     * Oneshots queued before the stop ran, and what they schedule in turn, still run: the stopped
     * loop makes up to {@value #STOP_DRAIN_PASSES} non-blocking passes while they make progress.
     * Rethrows (as {@link IllegalStateException}) anything the loop or the context's close threw,
     * such as a leaked bottom half. Idempotent. Any thread except the IoThread.
     */
    @Override
    public void close() {
        if (Thread.currentThread() == thread) {
            throw new IllegalStateException("IoThread '" + ctx.name() + "' cannot close itself");
        }
        if (!stopping) {
            stopping = true;
            if (!ctx.isClosed()) {
                ctx.scheduleOneshot("iothread-stop", () -> running = false);
            }
        }
        boolean interrupted = false;
        while (true) {
            try {
                thread.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        Throwable f = failure;
        if (f != null) {
            failure = null;
            throw f instanceof IllegalStateException ise ? ise
                    : new IllegalStateException("IoThread '" + ctx.name() + "' failed", f);
        }
    }

    @Override
    public String toString() {
        return "IoThread[" + thread.getName() + "]";
    }

    /**
     * Parameters of a new IoThread, as QEMU's {@code -object iothread,...} properties. Not
     * thread-safe: configure and build it on one thread.
     */
    public static final class Builder {
        private final String name;
        private FdMonitorKind fdMonitor = FdMonitorKind.AUTO;
        private long pollMaxNs = DEFAULT_POLL_MAX_NS;
        private long pollGrow;
        private long pollShrink;
        private long maxBatch;
        private ClockSource clockSource = ClockSource.system();
        private boolean pollContention;

        private Builder(String name) {
            this.name = Objects.requireNonNull(name, "name");
        }

        /**
         * The fd monitor (default {@link FdMonitorKind#AUTO}); see {@link AioContext.Builder#fdMonitor}.
         *
         * @param kind the monitor kind, not null
         * @return this builder
         */
        public Builder fdMonitor(FdMonitorKind kind) {
            this.fdMonitor = Objects.requireNonNull(kind, "fdMonitor");
            return this;
        }

        /**
         * QEMU's {@code poll-max-ns} (default {@link #DEFAULT_POLL_MAX_NS}); 0 disables busy polling.
         *
         * @param ns the longest busy-poll in ns, ≥ 0
         * @return this builder
         * @throws IllegalArgumentException if negative
         */
        public Builder pollMaxNs(long ns) {
            AioContext.checkRange("poll-max-ns", ns);
            this.pollMaxNs = ns;
            return this;
        }

        /**
         * QEMU's {@code poll-grow}: the polling time's growth factor (0, the default: ×2).
         *
         * @param grow the factor, ≥ 0
         * @return this builder
         * @throws IllegalArgumentException if negative
         */
        public Builder pollGrow(long grow) {
            AioContext.checkRange("poll-grow", grow);
            this.pollGrow = grow;
            return this;
        }

        /**
         * QEMU's {@code poll-shrink}: its divisor when it shrinks (0, the default: back to 0).
         *
         * @param shrink the divisor, ≥ 0
         * @return this builder
         * @throws IllegalArgumentException if negative
         */
        public Builder pollShrink(long shrink) {
            AioContext.checkRange("poll-shrink", shrink);
            this.pollShrink = shrink;
            return this;
        }

        /**
         * QEMU's {@code aio-max-batch}, see {@link AioContext#setAioParams} (default 0).
         *
         * @param maxBatch the maximum submission batch, ≥ 0 (0: the engine's default)
         * @return this builder
         * @throws IllegalArgumentException if negative
         */
        public Builder maxBatch(long maxBatch) {
            AioContext.checkRange("aio-max-batch", maxBatch);
            this.maxBatch = maxBatch;
            return this;
        }

        /**
         * The CPU-contention cap on busy polling (off by default; see {@link AioContext#setPollContention}).
         *
         * @param on whether to cap busy polling under CPU contention
         * @return this builder
         */
        public Builder pollContention(boolean on) {
            this.pollContention = on;
            return this;
        }

        /**
         * The context's clocks (default: the system's).
         *
         * @param clockSource the clocks, not null
         * @return this builder
         */
        public Builder clockSource(ClockSource clockSource) {
            this.clockSource = Objects.requireNonNull(clockSource, "clockSource");
            return this;
        }

        /**
         * Starts the thread and returns once its context exists.
         *
         * @return the running IoThread
         * @throws RuntimeException whatever building the context threw (e.g. a refused fd
         *     monitor), rethrown on the caller's thread
         */
        public IoThread build() {
            return new IoThread(this);
        }
    }
}
