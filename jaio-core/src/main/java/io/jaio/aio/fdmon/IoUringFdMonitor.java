package io.jaio.aio.fdmon;

import io.jaio.aio.CqeHandler;
import io.jaio.aio.FdMonitorKind;
import io.jaio.aio.Sqe;
import io.jaio.linux.IoUring;
import io.jaio.linux.KernelTimespec;
import io.jaio.linux.Linux;
import io.jaio.linux.NativeException;
import io.jaio.linux.UserData;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * The io_uring monitor (QEMU's {@code util/fdmon-io_uring.c}): fd readiness through one-shot
 * {@code POLL_ADD} requests re-armed after each completion (multishot ones, never re-armed while
 * they carry {@code F_MORE}, for edge-triggered nodes), {@code POLL_REMOVE} to withdraw them,
 * a {@code TIMEOUT} request for a wait's deadline, and any other io_uring request through
 * {@link #addSqe} with its completion delivered in the home thread.
 *
 * <p>Threads: the ring is touched only by the home thread. {@link #update} (any thread, list
 * mutex held) only pushes the node on a lock-free submit list with flag bits; the home thread
 * turns those into SQEs inside {@link #wait} ({@code fill_sq_ring}).
 *
 * <p>Protocol, per node (bits in {@code FdNode.uringFlags}, all changed atomically):
 * <ol>
 *   <li>enqueue(flags), any thread: OR in {@code PENDING|flags}; if PENDING was clear, CAS-push
 *       the node on {@link #submitHead}.
 *   <li>fill (home thread): take the whole list; per node read its link, then clear
 *       {@code PENDING|ADD} (REMOVE stays: it also tells completion handling that the node is
 *       gone); ADD queues {@code POLL_ADD}; REMOVE queues {@code POLL_REMOVE} of that request;
 *       DELETE releases the node's ring slot.
 *   <li>completion of a node's {@code POLL_ADD}: clear REMOVE; if it was set the node is gone:
 *       release its slot now, or, if the node is still on the submit list, set DELETE so the
 *       fill releases it (after which no {@code POLL_REMOVE} can still target the slot).
 *       Otherwise the node goes on the ready list and its {@code POLL_ADD} is re-armed.
 * </ol>
 * A slot is therefore never reused while a request or a {@code POLL_REMOVE} may still name it;
 * {@code user_data} also carries a generation, checked on every completion.
 *
 * <p>{@code user_data} is {@link UserData}'s {@code generation << 32 | (slot + 1)};
 * {@link UserData#NONE} marks the monitor's own timeouts, removes and cancels, whose completions
 * are ignored. Entries are built only with {@link IoUring}'s typed {@code prep*} helpers.
 * Completions of {@link #addSqe} requests are queued FIFO and run by {@link #dispatch()}, first
 * in {@code poll}'s dispatch phase.
 */
public final class IoUringFdMonitor implements FdMonitor {
    /** QEMU's {@code FDMON_IO_URING_ENTRIES}. */
    public static final int RING_ENTRIES = 128;
    /** Set to {@code true} to make every io_uring set-up fail (tests of the fallback path). */
    public static final String FORCE_FAILURE_PROPERTY = "jaio.iouring.forceSetupFailure";

    private static final int PENDING = 1;
    private static final int ADD = 2;
    private static final int REMOVE = 4;
    private static final int DELETE = 8;

    private static final long CLOSE_DRAIN_NS = 5_000_000_000L;

    private static final VarHandle FLAGS;
    private static final VarHandle SUBMIT_HEAD;

    static {
        try {
            FLAGS = MethodHandles.lookup()
                    .findVarHandle(FdNode.class, "uringFlags", int.class);
            SUBMIT_HEAD = MethodHandles.lookup().findVarHandle(IoUringFdMonitor.class, "submitHead", FdNode.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** A ring request's bookkeeping, reused. Home thread. */
    private static final class Slot {
        final int index;
        int generation;
        int nextFree = -1;
        boolean inUse;
        /** Poll request of this node, or null for an addSqe request. */
        FdNode node;
        /** The node's POLL_ADD is in the kernel. */
        boolean armed;
        CqeHandler handler;
        int res;
        int cqeFlags;
        Slot nextDone;

        Slot(int index) {
            this.index = index;
        }

        long userData() {
            return UserData.encode(index, generation);
        }
    }

    private final FdMonitorHost host;
    private final IoUring ring;
    private final Sqe sqeView;
    /** The deadline of a wait's TIMEOUT request; the kernel copies it when it consumes the entry. */
    private final KernelTimespec timespec;
    /** Nodes with queued changes; pushed by any thread, taken whole by the home thread. */
    @SuppressWarnings("unused")
    private volatile FdNode submitHead;

    private Slot[] slots = new Slot[RING_ENTRIES * 2];
    private int freeSlot = -1;
    private int slotCount;
    private int slotsInUse;
    private Slot doneHead;
    private Slot doneTail;
    /** Readiness found outside a wait (while flushing a full ring); merged into the next wait's list. */
    private final ReadyList deferred = new ReadyList();
    /** The ready list serviceRequests() passes to wait(): stays empty, the ring watches no fd. */
    private final ReadyList requestsOnly = new ReadyList();
    private ReadyList reaping;
    private int reaped;
    private final IoUring.CqeConsumer onCqe = this::onCqe;
    /**
     * Legacy external clients: external nodes that became ready while external clients were
     * disabled. Their poll requests are not re-armed (that would spin on a level-triggered fd)
     * until the next wait after re-enabling. Home thread.
     */
    private final java.util.ArrayList<FdNode> parked = new java.util.ArrayList<>();
    /** Polls that fired during a drain, re-armed right after it. Home thread. */
    private final java.util.ArrayList<FdNode> rearm = new java.util.ArrayList<>();
    /** addSqe requests queued since the last io_uring_enter (re-armed polls are not counted). */
    private int userSqesQueued;
    /** How often {@link #needWait()} reads the TASKRUN flag: every this many calls (a power of two). */
    static final int TASKRUN_EVERY = 8;
    /**
     * Calls of {@link #needWait()} and of {@link #needWaitWithWork()} in quiet mode, for their
     * sampling. Shared on purpose: of any {@link #TASKRUN_EVERY} calls in a row one lands on a
     * multiple, and either method reads the ring there (needWait reads the CQ tail on every call
     * anyway), so a pass sequence mixing both still looks within that many passes. Home thread
     * (plain).
     */
    private int needWaitCalls;
    /**
     * Ring reads in a row, by {@link #needWaitWithWork()}, that found nothing posted (capped at
     * {@link #QUIET_READS}); reset by any that finds something and by every wait that reaps.
     * Home thread (plain).
     */
    private int quietReads;
    /** Empty ring reads in a row after which a pass with work ready samples the ring. */
    static final int QUIET_READS = 64;
    private boolean closed;
    /** Whether edge-triggered nodes get a multishot POLL_ADD (Linux 5.13+). */
    private final boolean multishot;

    private IoUringFdMonitor(FdMonitorHost host, IoUring ring) {
        this.host = host;
        this.ring = ring;
        this.sqeView = new Sqe(ring);
        this.timespec = new KernelTimespec();
        this.multishot = (ring.features() & IoUring.IORING_FEAT_RSRC_TAGS) != 0;
    }

    /**
     * Sets up a ring for {@code host}.
     *
     * @param host the owning context
     * @return the monitor, with no fd watched yet
     * @throws NativeException if io_uring is unavailable (ENOSYS, EPERM from
     *     {@code kernel.io_uring_disabled}, ...), or forced off by {@value #FORCE_FAILURE_PROPERTY}
     */
    public static IoUringFdMonitor open(FdMonitorHost host) {
        if (Boolean.getBoolean(FORCE_FAILURE_PROPERTY)) {
            throw new NativeException("io_uring_setup", Linux.ENOSYS, "forced by -D" + FORCE_FAILURE_PROPERTY);
        }
        IoUring ring;
        try {
            ring = IoUring.create(RING_ENTRIES, IoUring.IORING_SETUP_CLAMP | IoUring.IORING_SETUP_COOP_TASKRUN
                    | IoUring.IORING_SETUP_TASKRUN_FLAG);
        } catch (NativeException e) {
            if (e.errno() != Linux.EINVAL) {
                throw e;
            }
            ring = IoUring.create(RING_ENTRIES, IoUring.IORING_SETUP_CLAMP); // before Linux 5.19
        }
        if (!ring.supports(IoUring.IORING_OP_POLL_ADD) || !ring.supports(IoUring.IORING_OP_TIMEOUT)
                || (ring.features() & IoUring.IORING_FEAT_NODROP) == 0) {
            ring.close();
            throw new NativeException("io_uring_setup", Linux.ENOSYS,
                    "kernel io_uring lacks POLL_ADD/TIMEOUT or IORING_FEAT_NODROP");
        }
        return new IoUringFdMonitor(host, ring);
    }

    @Override
    public FdMonitorKind kind() {
        return FdMonitorKind.IO_URING;
    }

    @Override
    public boolean canPollReadiness() {
        return true;
    }

    @Override
    public boolean hasIoUring() {
        return true;
    }

    @Override
    public IoUring ioUring() {
        return ring;
    }

    // ---- slots ----

    private Slot allocSlot() {
        Slot s;
        if (freeSlot >= 0) {
            s = slots[freeSlot];
            freeSlot = s.nextFree;
        } else {
            if (slotCount == slots.length) {
                slots = Arrays.copyOf(slots, slots.length * 2);
            }
            s = slots[slotCount] = new Slot(slotCount);
            slotCount++;
        }
        s.inUse = true;
        s.generation = UserData.nextGeneration(s.generation);
        slotsInUse++;
        return s;
    }

    private void freeSlot(Slot s) {
        s.inUse = false;
        s.node = null;
        s.handler = null;
        s.armed = false;
        s.nextFree = freeSlot;
        freeSlot = s.index;
        slotsInUse--;
    }

    private Slot slotOf(long userData) {
        int idx = UserData.slot(userData);
        if (idx < 0 || idx >= slotCount) {
            return null;
        }
        Slot s = slots[idx];
        return s.inUse && s.generation == UserData.generation(userData) ? s : null;
    }

    // ---- submit list (any thread) ----

    private void enqueue(FdNode node, int flags) {
        int old = (int) FLAGS.getAndBitwiseOr(node, PENDING | flags); // full fence, before the push
        if ((old & PENDING) == 0) {
            FdNode h;
            do {
                h = submitHead;
                node.uringNext = h; // published by the CAS; read after fill's getAndSet
            } while (!SUBMIT_HEAD.compareAndSet(this, h, node));
        }
    }

    @Override
    public void update(FdNode old, FdNode neu) {
        if (neu != null) {
            enqueue(neu, ADD);
        }
        if (old != null) {
            enqueue(old, REMOVE);
        }
    }

    // ---- SQEs (home thread) ----

    /** A free SQE slot, submitting queued entries first if the ring is full: never dropped. */
    private int sqe() {
        int idx = ring.nextSqe();
        while (idx < 0) {
            int r = ring.submit();
            userSqesQueued = 0;
            if (r < 0) {
                // CQ backlog (EBUSY/EAGAIN): reap completions to make room, then retry.
                reap(deferred);
            }
            idx = ring.nextSqe();
        }
        return idx;
    }

    private void addPollAdd(FdNode node) {
        Slot s = node.uringSlot >= 0 ? slots[node.uringSlot] : null;
        if (s == null) {
            s = allocSlot();
            s.node = node;
            node.uringSlot = s.index;
        }
        int i = sqe();
        // jaio's event bits are poll(2)'s. Multishot stays armed: its completions carry F_MORE.
        ring.prepPollAdd(i, node.fd(), node.events(), multishot && node.isEdgeTriggered() && !node.isExternal());
        ring.sqeUserData(i, s.userData());
        s.armed = true;
    }

    private void addPollRemove(FdNode node) {
        if (node.uringSlot < 0) {
            return;
        }
        Slot s = slots[node.uringSlot];
        if (!s.armed) {
            // Its POLL_ADD already ended (an error completion): nothing to withdraw.
            FLAGS.getAndBitwiseAnd(node, ~REMOVE); // atomic: enqueue may OR in bits from any thread
            releaseNode(node);
            return;
        }
        int i = sqe();
        ring.prepPollRemove(i, s.userData());
        ring.sqeUserData(i, UserData.NONE);
    }

    private void releaseNode(FdNode node) {
        if (node.uringSlot >= 0) {
            freeSlot(slots[node.uringSlot]);
            node.uringSlot = -1;
        }
    }

    /** QEMU's {@code fill_sq_ring}. */
    private void fillSqRing() {
        FdNode n = (FdNode) SUBMIT_HEAD.getAndSet(this, (FdNode) null); // pairs with enqueue's CAS
        while (n != null) {
            FdNode next = n.uringNext; // before clearing PENDING: the node may be pushed again after
            // Atomic against enqueue's getAndBitwiseOr (any thread): after this clear a new change
            // pushes the node again.
            int flags = (int) FLAGS.getAndBitwiseAnd(n, ~(PENDING | ADD));
            if ((flags & ADD) != 0) {
                addPollAdd(n);
            }
            if ((flags & REMOVE) != 0) {
                addPollRemove(n);
            }
            if ((flags & DELETE) != 0) {
                FLAGS.getAndBitwiseAnd(n, ~DELETE); // atomic: enqueue may set PENDING meanwhile
                releaseNode(n);
            }
            n = next;
        }
    }

    private void addTimeout(long timeoutNs) {
        timespec.set(timeoutNs);
        int i = sqe();
        ring.prepTimeout(i, timespec, 1, 0); // count 1: any other completion ends it
        ring.sqeUserData(i, UserData.NONE);
    }

    // ---- completions (home thread) ----

    /**
     * Reaps every completion (also those the kernel held back in its overflow list), then re-arms
     * the polls that fired. Re-arming happens after the drain, never inside it, so a full SQ
     * (which makes sqe() reap again) cannot recurse through the CQE consumer.
     */
    private int reap(ReadyList ready) {
        ReadyList saved = reaping;
        int savedCount = reaped;
        reaping = ready;
        reaped = 0;
        int n;
        try {
            do {
                if (ring.cqOverflowed()) {
                    ring.flushOverflow();
                }
                ring.drain(onCqe);
            } while (ring.cqReady() > 0 || ring.cqOverflowed());
            n = reaped;
        } finally {
            reaping = saved;
            reaped = savedCount;
        }
        FdNode node;
        while ((node = popRearm()) != null) {
            // Even if a remove was queued meanwhile: the POLL_REMOVE that follows cancels this one.
            addPollAdd(node);
        }
        return n;
    }

    private FdNode popRearm() {
        int last = rearm.size() - 1;
        return last < 0 ? null : rearm.remove(last);
    }

    private void onCqe(long userData, int res, int flags) {
        if (userData == UserData.NONE) {
            return; // our timeouts, removes and cancels
        }
        Slot s = slotOf(userData);
        if (s == null) {
            return; // stale (cannot happen by the protocol; ignored defensively)
        }
        FdNode node = s.node;
        if (node == null) {
            s.res = res;
            s.cqeFlags = flags;
            s.nextDone = null;
            if (doneTail == null) {
                doneHead = s;
            } else {
                doneTail.nextDone = s;
            }
            doneTail = s;
            return;
        }
        if ((flags & IoUring.IORING_CQE_F_MORE) != 0) {
            // A multishot poll that stays armed: report it, re-arm nothing. If the node is being
            // removed, only the final completion (no F_MORE, after POLL_REMOVE) releases it.
            // Volatile read pairs with enqueue's getAndBitwiseOr (REMOVE set by any thread). A
            // REMOVE missed here is the race a one-shot completion arriving just before a
            // replacement has too: dispatch checks isDeleted() before every callback.
            if (((int) FLAGS.getVolatile(node) & REMOVE) == 0) {
                reaping.add(node, res);
                reaped++;
            }
            return;
        }
        s.armed = false;
        // Atomic against enqueue (any thread) and fill's clear: REMOVE read and cleared at once.
        int old = (int) FLAGS.getAndBitwiseAnd(node, ~REMOVE);
        if ((old & REMOVE) != 0) {
            // The node was removed; its POLL_ADD has ended, so its slot can go.
            if ((old & PENDING) != 0) {
                FLAGS.getAndBitwiseOr(node, DELETE); // still on the submit list: fill releases it
            } else {
                releaseNode(node);
            }
            return;
        }
        if (res < 0) {
            // The fd cannot be polled (e.g. closed while registered): report an error once and
            // leave the request disarmed until the handler is registered again.
            System.getLogger("io.jaio.aio").log(System.Logger.Level.WARNING,
                    "context {0}: polling fd {1} failed: {2}", host.name(), node.fd(), Linux.strerror(-res));
            reaping.add(node, FdNode.ERR);
            reaped++;
            return;
        }
        if (node.isExternal() && host.externalDisabled()) {
            parked.add(node); // legacy: suppressed; re-armed once external clients are enabled
            return;
        }
        reaping.add(node, res);
        reaped++;
        rearm.add(node); // one-shot: re-armed once the drain is over
    }

    private void unparkIfEnabled() {
        if (!parked.isEmpty() && !host.externalDisabled()) {
            for (FdNode n : parked) {
                if (!n.isDeleted() && n.uringSlot >= 0 && !slots[n.uringSlot].armed) {
                    addPollAdd(n);
                }
            }
            parked.clear();
        }
    }

    /**
     * QEMU's rule: true while completions wait to be reaped, SQEs wait to be submitted, or
     * handler changes wait to be turned into requests. Beyond QEMU (which sets up its ring without
     * COOP_TASKRUN and so never looks): completions the kernel still holds as task work
     * (IORING_SQ_TASKRUN) count too, but that flag is read on every {@link #TASKRUN_EVERY}th call
     * only. A pass that only runs bottom halves then reads one ring word instead of two, and such a
     * completion waits at most that many passes (less if the loop enters the kernel sooner:
     * every return from a system call or interrupt runs the task work, which posts it).
     */
    @Override
    public boolean needWait() {
        if (ring.cqReady() > 0 || queuedHere()) {
            return true;
        }
        return (++needWaitCalls & (TASKRUN_EVERY - 1)) == 0 && ring.taskRunPending();
    }

    /**
     * {@link #needWait()} for a pass that has work ready anyway. What this side queued (SQEs,
     * handler changes) is checked every time. The ring itself (posted completions and the
     * TASKRUN flag) is read every time too, until {@link #QUIET_READS} reads in a row have found
     * it empty; from then on it is read on every {@link #TASKRUN_EVERY}th call only, until a read
     * or a wait finds something. A chain of passes that only run bottom halves then reads no
     * ring word on 7 passes of 8, and the first event after such a silence waits at most that
     * many passes; a ring that keeps posting is read on every pass, as QEMU's is. (QEMU's poll and
     * epoll monitors do not look at fds at all on such a pass.)
     */
    @Override
    public boolean needWaitWithWork() {
        if (queuedHere()) {
            return true;
        }
        if (quietReads == QUIET_READS && (++needWaitCalls & (TASKRUN_EVERY - 1)) != 0) {
            return false;
        }
        if (ring.cqReady() > 0 || ring.taskRunPending()) {
            quietReads = 0;
            return true;
        }
        if (quietReads < QUIET_READS) {
            quietReads++;
        }
        return false;
    }

    /**
     * Whether this side has something for the kernel that only a wait hands over: SQEs not yet
     * submitted, handler changes not yet turned into requests, or parked polls to re-arm. Reads
     * Java-side state only (no ring word). Home thread.
     */
    private boolean queuedHere() {
        return ring.unsubmitted() > 0 || submitHead != null || (!parked.isEmpty() && !host.externalDisabled());
    }

    @Override
    public int wait(ReadyList ready, long timeoutNs) {
        int found = 0;
        FdNode d;
        while ((d = deferred.poll()) != null) {
            ready.add(d, d.revents());
            found++;
        }
        unparkIfEnabled();
        if (timeoutNs > 0) {
            addTimeout(timeoutNs);
        }
        fillSqRing();
        int want = timeoutNs == 0 || found > 0 || ring.cqReady() > 0 ? 0 : 1;
        for (;;) {
            int r = ring.enter(want);
            userSqesQueued = 0;
            if (r < 0) {
                found += reap(ready); // EBUSY/EAGAIN: make room, then submit again
                want = 0;
                continue;
            }
            if (want == 0 || ring.cqReady() >= want) {
                break;
            }
            // EINTR while waiting: wait again (a finite wait's TIMEOUT is still queued)
        }
        // Polls re-armed here go to the kernel with the next wait, after their handlers have run
        // (submitting them now would report the same readiness twice), or in prepareToPoll().
        found += reap(ready);
        if (found > 0 || doneHead != null) {
            quietReads = 0; // the ring is busy (fd events or requests): passes with work read it every time again
        }
        return found;
    }

    /**
     * Before busy polling: hand re-armed poll requests to the kernel, so that they do not keep
     * {@link #needWait()} true and forbid polling (QEMU would skip busy polling after every fd
     * event on this monitor). Costs one non-blocking enter, only when polling is about to run.
     */
    @Override
    public void prepareToPoll() {
        if (userSqesQueued == 0 && submitHead == null && ring.unsubmitted() > 0 && ring.cqReady() == 0) {
            if (ring.submit() < 0) {
                reap(deferred);
            }
        }
    }

    /**
     * For a ring that carries requests only ({@link RequestRing}, beside the poll and epoll
     * monitors): if requests are in flight and the ring has something to move (entries to submit,
     * posted completions, or task work the kernel holds), one non-blocking enter submits and reaps.
     * Reads no ring memory while no request is in flight. Home thread.
     *
     * @return whether reaped completions wait for {@link #dispatch()}
     */
    boolean serviceRequests() {
        if (slotsInUse > 0 && (ring.unsubmitted() > 0 || ring.cqReady() > 0 || ring.taskRunPending()
                || ring.cqOverflowed())) {
            wait(requestsOnly, 0); // requests only: no node can become ready, so nothing lands on it
        }
        return doneHead != null;
    }

    /** {@return whether requests are queued or in flight (the slots in use)} Home thread. */
    boolean requestsInFlight() {
        return slotsInUse > 0;
    }

    @Override
    public boolean hasPendingEvents() {
        return ring.cqReady() > 0 || ring.taskRunPending() || doneHead != null;
    }

    @Override
    public boolean hasUndispatched() {
        return doneHead != null;
    }

    @Override
    public boolean dispatch() {
        boolean progress = false;
        Slot s;
        while ((s = doneHead) != null) {
            doneHead = s.nextDone;
            if (doneHead == null) {
                doneTail = null;
            }
            s.nextDone = null;
            CqeHandler h = s.handler;
            int res = s.res;
            int flags = s.cqeFlags;
            freeSlot(s); // unlinked and released before the call: a nested poll continues the FIFO
            host.completeCqe(h, res, flags);
            progress = true;
        }
        return progress;
    }

    @Override
    public void addSqe(Consumer<Sqe> prep, CqeHandler handler) {
        if (closed) {
            throw new IllegalStateException("io_uring monitor of context '" + host.name() + "' is closed");
        }
        java.util.Objects.requireNonNull(prep, "prep");
        java.util.Objects.requireNonNull(handler, "handler");
        Slot s = allocSlot();
        s.handler = handler;
        int i = sqe();
        try {
            prep.accept(sqeView.bindSlot(i));
        } catch (RuntimeException | Error e) {
            // The entry is already in the ring: turn it into a NOP whose completion is ignored.
            freeSlot(s);
            ring.clearSqe(i); // no flags, user_data NONE
            ring.prepNop(i);
            throw e;
        }
        ring.sqeUserData(i, s.userData()); // the context's own: the preparer cannot set it
        userSqesQueued++;
        long max = host.maxBatch();
        if (max > 0 && userSqesQueued >= max) {
            if (ring.submit() < 0) {
                reap(deferred);
            }
            userSqesQueued = 0;
        }
    }

    /**
     * Cancels every request, waits (bounded) until the kernel has completed all of them, without
     * calling any handler, then unmaps the ring. Home thread.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        doneHead = doneTail = null;
        try {
            fillSqRing();
            if (slotsInUse > 0) {
                int i = sqe();
                ring.prepCancel(i, UserData.NONE, IoUring.IORING_ASYNC_CANCEL_ANY);
                ring.sqeUserData(i, UserData.NONE);
                long deadline = System.nanoTime() + CLOSE_DRAIN_NS;
                IoUring.CqeConsumer discard = (ud, res, fl) -> {
                    Slot s = (fl & IoUring.IORING_CQE_F_MORE) != 0 ? null : slotOf(ud); // final ones only
                    if (s != null) {
                        if (s.node != null) {
                            s.node.uringSlot = -1;
                        }
                        freeSlot(s);
                    }
                };
                while (slotsInUse > 0 && System.nanoTime() < deadline) {
                    addTimeout(50_000_000L);
                    ring.enter(1);
                    ring.drain(discard);
                }
                if (slotsInUse > 0) {
                    System.getLogger("io.jaio.aio").log(System.Logger.Level.WARNING,
                            "context {0}: {1} io_uring requests still in flight at close", host.name(), slotsInUse);
                }
            }
        } finally {
            ring.close();
            timespec.close();
        }
    }
}
