package io.jaio.aio;

import io.jaio.aio.fdmon.FdNode;

import java.util.function.BooleanSupplier;

/**
 * One fd-handler registration (QEMU's {@code AioHandler}). Replacement always makes a new record,
 * so a record's callbacks never change; only its polling state and list links do.
 *
 * <p>Threads: callbacks are fixed at construction. {@code ioPollBegin}/{@code ioPollEnd} are set
 * by {@link AioContext#setEventNotifierPoll} without locking, as QEMU does (volatile so the loop
 * sees them). Poll-list links, {@code pollNs} and {@code pollIdleDeadline} belong to the home
 * thread, except that a writer holding the list mutex unlinks from the poll list when no walker
 * exists (see {@link FdHandlers}).
 */
final class AioHandler extends FdNode {
    final Runnable ioRead;
    final Runnable ioWrite;
    final BooleanSupplier ioPoll;
    final Runnable ioPollReady;
    volatile Runnable ioPollBegin;
    volatile Runnable ioPollEnd;
    /** The context's own notifier: its read and poll-ready never count as progress. */
    final boolean isContextNotifier;

    // Poll list (QEMU's poll_aio_handlers), intrusive.
    boolean onPollList;
    AioHandler pollPrev;
    AioHandler pollNext;
    /** Adaptive polling time of this handler (QEMU's AioPolledEvent.ns); 0 = not polling. */
    volatile long pollNs;
    /** When this handler leaves the poll list if idle (io_uring only); 0 = not set. */
    long pollIdleDeadline;

    AioHandler(int fd, boolean external, Runnable ioRead, Runnable ioWrite, BooleanSupplier ioPoll,
               Runnable ioPollReady, boolean isContextNotifier, boolean edgeTriggered) {
        super(fd, (ioRead != null ? READ_EVENTS : 0) | (ioWrite != null ? WRITE_EVENTS : 0), external,
                edgeTriggered);
        this.ioRead = ioRead;
        this.ioWrite = ioWrite;
        this.ioPoll = ioPoll;
        this.ioPollReady = ioPollReady;
        this.isContextNotifier = isContextNotifier;
    }

    @Override
    public String toString() {
        return "AioHandler[fd=" + fd() + ", events=0x" + Integer.toHexString(events())
                + (isDeleted() ? ", deleted" : "") + (isContextNotifier ? ", context notifier" : "") + (isEdgeTriggered() ? ", edge" : "") + "]";
    }
}
