package io.jaio.aio.fdmon;

import io.jaio.linux.Linux;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * The part of an fd-handler record that fd monitors see (QEMU's {@code AioHandler} minus the
 * callbacks): the fd, the events it asks for, the events last reported, and the links that put
 * it on one {@link ReadyList}.
 *
 * <p>Internal SPI. Threads: {@link #fd()}, {@link #events()}, {@link #isExternal()} and
 * {@link #isEdgeTriggered()} are fixed before the node is published; {@link #isDeleted()} is written under the context's list mutex
 * and read by the home thread (volatile); everything else belongs to the home thread.
 */
public abstract class FdNode {
    /** Readable; the value of poll(2)'s {@code POLLIN} and epoll's {@code EPOLLIN}. */
    public static final int IN = Linux.POLLIN;
    /** Writable ({@code POLLOUT}). */
    public static final int OUT = Linux.POLLOUT;
    /** Error condition ({@code POLLERR}); wakes both the read and the write callback. */
    public static final int ERR = Linux.POLLERR;
    /** Hang-up ({@code POLLHUP}); wakes the read callback. */
    public static final int HUP = Linux.POLLHUP;
    /** Events that make the read callback run (QEMU's {@code G_IO_IN | G_IO_HUP | G_IO_ERR}). */
    public static final int READ_EVENTS = IN | HUP | ERR;
    /** Events that make the write callback run ({@code G_IO_OUT | G_IO_ERR}). */
    public static final int WRITE_EVENTS = OUT | ERR;

    private static final AtomicInteger NEXT_ID = new AtomicInteger();

    private final int fd;
    private final int id;
    private final boolean external;
    private final boolean edgeTriggered;
    /** Requested events. Set once at construction; zeroed (under the list mutex) on delete. */
    private volatile int events;
    /** Set under the list mutex when the node is replaced or removed; read before every callback. */
    private volatile boolean deleted;

    // Home thread only: the monitor's latest report and the ready-list links.
    private int revents;
    private boolean pollReady;
    ReadyList readyOwner;
    FdNode readyNext;
    FdNode readyPrev;

    /**
     * A record for {@code fd}, given a process-unique {@link #id()}. The context's handler
     * record subclasses this; construct before publishing it.
     *
     * @param fd the watched file descriptor
     * @param events requested events, a mask of {@link #IN}, {@link #OUT}, {@link #ERR}, {@link #HUP}
     * @param external legacy {@code is_external}
     * @param edgeTriggered see {@link #isEdgeTriggered()}
     */
    protected FdNode(int fd, int events, boolean external, boolean edgeTriggered) {
        this.fd = fd;
        this.events = events;
        this.external = external;
        this.edgeTriggered = edgeTriggered;
        // Identifies this record (not the fd number) in kernel registrations, so an event for a
        // closed fd whose number was reused cannot be credited to the new handler.
        this.id = NEXT_ID.incrementAndGet() & 0x7fffffff;
    }

    /** {@return the watched file descriptor} Any thread. */
    public final int fd() {
        return fd;
    }

    /** {@return a process-unique id of this record, for the monitors' kernel cookies} Any thread. */
    public final int id() {
        return id;
    }

    /** {@return the requested events, a mask of {@link #IN}, {@link #OUT}, {@link #ERR}, {@link #HUP}; 0 once deleted} */
    public final int events() {
        return events;
    }

    /** Zeroes the requested events; list mutex held (QEMU's delete path). */
    public final void clearEvents() {
        events = 0;
    }

    /** {@return legacy {@code is_external}: whether the node is suppressed while the context's external clients are disabled} */
    public final boolean isExternal() {
        return external;
    }

    /**
     * Whether the handler consumes readiness fully before it waits again, so a monitor may report
     * an event once per arrival instead of while the condition lasts (io_uring: a multishot
     * {@code POLL_ADD} that is not re-armed after every event). Level-triggered reports remain
     * correct for such a handler.
     *
     * @return whether edge-triggered reports suffice
     */
    public final boolean isEdgeTriggered() {
        return edgeTriggered;
    }

    /** {@return true once replaced or removed} A deleted node's callbacks are never called again. */
    public final boolean isDeleted() {
        return deleted;
    }

    /** Marks the node deleted; list mutex held. */
    public final void markDeleted() {
        deleted = true;
    }

    /** {@return the events the monitor last reported for this node (ORed while it sits on a ready list)} Home thread. */
    public final int revents() {
        return revents;
    }

    /**
     * Sets the reported events; monitors and {@link ReadyList} do this. Home thread.
     *
     * @param revents a mask of {@link #IN}, {@link #OUT}, {@link #ERR}, {@link #HUP}
     */
    public final void setRevents(int revents) {
        this.revents = revents;
    }

    /** {@return whether the handler's userspace poll function reported it ready} Home thread. */
    public final boolean pollReady() {
        return pollReady;
    }

    /**
     * Sets or clears the userspace-poll-ready mark. Home thread.
     *
     * @param pollReady whether the poll function reported the node ready
     */
    public final void setPollReady(boolean pollReady) {
        this.pollReady = pollReady;
    }

    // io_uring monitor state: flag word (atomic, see IoUringFdMonitor), submit-list link (written
    // before the CAS that publishes the node) and the ring slot of its poll request (home thread).
    volatile int uringFlags;
    FdNode uringNext;
    int uringSlot = -1;
}
