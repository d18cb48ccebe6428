package io.jaio.nbd;

import io.jaio.channel.ChannelException;
import io.jaio.channel.CoSocket;
import io.jaio.coroutine.CoMutex;
import io.jaio.coroutine.CoQueue;
import io.jaio.coroutine.Coroutine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;

/**
 * One client connection of an {@link NbdServer}: the handshake, then the receive loop that
 * decodes requests and starts one coroutine per request. Replies leave in any order, each as
 * one gathering write under {@link #writeLock}, so they never interleave on the wire.
 *
 * <p>Threads: everything runs in coroutines of the server context's home thread.
 */
final class NbdConnection {
    /*
     * Implementation overview.
     *
     * serve() (the connection's coroutine):
     *  1. Handshake: write the greeting; loop { read exactly hs.bytesNeeded() bytes; consume;
     *     write the step's output } until TRANSMISSION (session set) or CLOSE.
     *  2. Receive loop: wait while `inflight` >= the per-connection cap; after REQUEST_BUDGET
     *     requests in a row without waiting for the socket, step aside for one loop iteration
     *     if the context has other work ready (or after FORCED_YIELD_ROUNDS such runs), for
     *     fairness; read a 28-byte header
     *     (EOF, reset or a closed socket end the loop); decode (bad magic ends the loop); DISC
     *     ends the loop; check(); a WRITE's payload is read here, into a pooled buffer, so the
     *     stream stays in step (a refused WRITE's payload is read and dropped; one too large
     *     even for that is answered EINVAL and ends the loop);
     *     inflight++; enter the request's coroutine at once (it runs until its first wait, so
     *     its backend I/O is submitted before the next header is read), then read on.
     *  3. Drain: wait until inflight == 0, so no request coroutine outlives the socket; close.
     * Request coroutine: execute (or build the error reply), take writeLock, writeFully all
     * parts, unlock, release buffers, inflight--, wake the receive loop if it waits. A failed
     * write closes the socket, which wakes the receive loop's read with CLOSED.
     *
     * Invariants: only the receive loop reads the socket; only writeLock's holder writes it;
     * inflight counts request coroutines started and not finished; the connection's serve()
     * returns only when inflight == 0.
     */

    private static final System.Logger LOG = System.getLogger("io.jaio.nbd");
    /**
     * Requests the receive loop starts in a row, without its socket making it wait, before it
     * lets the loop run other work: with
     * inline I/O a request may finish without ever suspending, and a client that keeps its
     * queue full would otherwise hold the thread until its socket runs dry, starving the other
     * connections (p99 latency of 10 ms with 4 connections at QD32 before this bound).
     */
    static final int REQUEST_BUDGET = 64;
    /** Budgets in a row after which the receive loop yields even if no other work is known. */
    static final int FORCED_YIELD_ROUNDS = 8;
    /** Bytes of per-connection scratch memory (options up to this size need no pooled buffer). */
    private static final int SCRATCH_SIZE = 1024;

    private final NbdServer server;
    private final CoSocket sock;
    private final BufferPool pool;
    private final CoMutex writeLock = new CoMutex();
    /** The receive loop waits here for inflight to drop (below the cap, or to 0 at the end). */
    private final CoQueue receiverWait = new CoQueue();
    private final int maxInflight;
    private final long id;
    /**
     * Native scratch memory for the connection's whole life (handshake messages, request
     * headers): outside the buffer pool, so idle connections never take budget from busy ones.
     */
    private final MemorySegment scratch = Arena.ofAuto().allocate(SCRATCH_SIZE, 8);
    private int inflight;
    private NbdSession session;

    NbdConnection(NbdServer server, CoSocket sock, BufferPool pool, int maxInflight, long id) {
        this.server = server;
        this.sock = sock;
        this.pool = pool;
        this.maxInflight = maxInflight;
        this.id = id;
    }

    /** Ends the connection now (shutdown, or a failed write): pending socket operations throw CLOSED. */
    void abort() {
        sock.close();
    }

    /** Serves the connection until it ends; returns with no request in flight. Coroutine. */
    void serve() {
        try {
            if (handshake()) {
                receiveLoop();
            }
        } catch (NbdProtocolException e) {
            server.counters().protocolError();
            LOG.log(System.Logger.Level.INFO, "NBD connection {0}: protocol error, disconnecting: {1}", id,
                    e.getMessage());
        } catch (ChannelException e) {
            LOG.log(System.Logger.Level.DEBUG, "NBD connection {0} ended: {1}", id, e.getMessage());
        } finally {
            while (inflight > 0) {
                receiverWait.await(null);
            }
            sock.close();
        }
    }

    // ---- handshake ----

    /** Runs the handshake; true if transmission begins. */
    private boolean handshake() {
        NbdHandshake hs = new NbdHandshake(server.catalog());
        send(NbdHandshake.greeting());
        for (;;) {
            int need = hs.bytesNeeded();
            NbdHandshake.Step step;
            if (need <= scratch.byteSize()) {
                MemorySegment in = scratch.asSlice(0, need);
                sock.readFully(in);
                step = hs.consume(in.asByteBuffer());
            } else {
                // A large option (at most MAX_OPTION_LENGTH): a pooled buffer for just this read.
                BufferPool.Buffer big = pool.acquire(need);
                try {
                    MemorySegment in = big.segment().asSlice(0, need);
                    sock.readFully(in);
                    step = hs.consume(in.asByteBuffer());
                } finally {
                    pool.release(big);
                }
            }
            send(step.output());
            switch (step.next()) {
                case CONTINUE -> { }
                case CLOSE -> {
                    LOG.log(System.Logger.Level.DEBUG, "NBD connection {0}: client aborted the handshake", id);
                    return false;
                }
                case TRANSMISSION -> {
                    session = hs.session();
                    LOG.log(System.Logger.Level.DEBUG,
                            "NBD connection {0}: export ''{1}'', structured replies {2}, base:allocation {3}",
                            id, session.export().name(), session.structuredReplies(), session.baseAllocation());
                    return true;
                }
            }
        }
    }

    /** Writes {@code bytes} through the scratch buffer, in pieces if needed. */
    private void send(byte[] bytes) {
        int done = 0;
        while (done < bytes.length) {
            int n = (int) Math.min(scratch.byteSize(), bytes.length - done);
            MemorySegment.copy(bytes, done, scratch, ValueLayout.JAVA_BYTE, 0, n);
            sock.writeFully(scratch.asSlice(0, n));
            done += n;
        }
    }

    // ---- transmission ----

    private void receiveLoop() {
        MemorySegment hdr = scratch.asSlice(0, Nbd.REQUEST_SIZE);
        ByteBuffer hdrView = hdr.asByteBuffer();
        int budget = REQUEST_BUDGET;
        long waits = sock.waitCount();
        int rounds = 0;
        for (;;) {
            while (inflight >= maxInflight) {
                receiverWait.await(null);
            }
            // Only a connection that keeps the thread without waiting for its socket gives way,
            // and only to known work: yielding blindly every REQUEST_BUDGET requests cost an extra
            // loop iteration each time (p99 at QD1 with 4 clients, whose receive loops often find
            // the next request already there: 230 -> 550 µs).
            long w = sock.waitCount();
            if (w != waits) {
                waits = w;
                budget = REQUEST_BUDGET;
                rounds = 0;
            } else if (--budget == 0) {
                budget = REQUEST_BUDGET;
                // Step aside when someone else is known to be ready; on monitors that cannot tell
                // without a syscall (poll, epoll) after every FORCED_YIELD_ROUNDS budgets anyway.
                if (sock.context().hasPendingWork() || ++rounds == FORCED_YIELD_ROUNDS) {
                    rounds = 0;
                    yieldToLoop();
                }
            }
            sock.readFully(hdr);
            NbdRequest r = NbdRequest.decode(hdrView.clear());
            server.counters().request(r.type());
            if (r.type() == Nbd.CMD_DISC) {
                LOG.log(System.Logger.Level.DEBUG, "NBD connection {0}: client disconnects", id);
                return;
            }
            NbdCommands.Verdict v = NbdCommands.check(session, r, server.isShuttingDown());
            BufferPool.Buffer payload = null;
            if (r.type() == Nbd.CMD_WRITE && !v.disconnect() && r.length() != 0) {
                if (v.ok()) {
                    payload = pool.acquire(r.lengthUnsigned());
                    try {
                        sock.readFully(payload.segment().asSlice(0, r.lengthUnsigned()));
                    } catch (RuntimeException e) {
                        pool.release(payload);
                        throw e;
                    }
                } else {
                    skip(r.lengthUnsigned());
                }
            }
            inflight++;
            boolean executes = v.ok();
            if (executes) {
                server.requestStarted();
            }
            BufferPool.Buffer p = payload;
            Coroutine.create(() -> runRequest(r, v, p, executes)).enter();
            if (v.disconnect()) {
                throw new NbdProtocolException(v.message());
            }
        }
    }

    /**
     * Lets the context run everything else that is ready (other connections' handlers, bottom
     * halves, timers) and continues in a later loop iteration: QEMU's idiom
     * {@code aio_co_schedule(ctx, self); qemu_coroutine_yield()}.
     */
    private void yieldToLoop() {
        sock.context().coSchedule(Coroutine.self());
        Coroutine.yield();
    }

    /** Reads and drops {@code n} bytes (the payload of a refused WRITE). */
    private void skip(long n) {
        BufferPool.Buffer b = pool.acquire(Math.min(n, 1 << 20));
        try {
            MemorySegment seg = b.segment();
            while (n > 0) {
                long k = Math.min(n, seg.byteSize());
                sock.readFully(seg.asSlice(0, k));
                n -= k;
            }
        } finally {
            pool.release(b);
        }
    }

    private void runRequest(NbdRequest r, NbdCommands.Verdict v, BufferPool.Buffer payload, boolean executes) {
        NbdRequestEvent ev = new NbdRequestEvent();
        ev.begin();
        NbdReply reply = null;
        int error = 0;
        long bytes = 0;
        try {
            if (v.ok()) {
                reply = NbdCommands.execute(session, r, payload == null ? null : payload.segment(), pool);
            } else {
                reply = NbdCommands.errorReply(session, r, v.error(), v.message(), pool);
                LOG.log(System.Logger.Level.DEBUG, "NBD connection {0}: {1} rejected with {2}: {3}", id, r,
                        Nbd.errorName(v.error()), v.message());
            }
            pool.release(payload);
            payload = null;
            error = reply.error;
            bytes = reply.bytes;
            writeLock.lock();
            try {
                sock.writeFully(reply.parts());
            } finally {
                writeLock.unlock();
            }
        } catch (ChannelException e) {
            LOG.log(System.Logger.Level.DEBUG, "NBD connection {0}: reply to {1} not sent: {2}", id, r,
                    e.getMessage());
            abort();
        } catch (RuntimeException | Error e) {
            LOG.log(System.Logger.Level.WARNING, "NBD connection " + id + ": request " + r + " failed", e);
            abort();
        } finally {
            pool.release(payload);
            if (reply != null) {
                reply.release();
            }
            server.counters().done(r.type(), error, bytes);
            if (ev.shouldCommit()) {
                ev.export = session.export().name();
                ev.command = Nbd.commandName(r.type());
                ev.offset = r.offset();
                ev.length = r.lengthUnsigned();
                ev.error = error;
                ev.commit();
            }
            inflight--;
            if (executes) {
                server.requestFinished();
            }
            receiverWait.restartAll();
        }
    }
}
