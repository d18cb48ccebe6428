package io.jaio.nbd;

import io.jaio.channel.ChannelException;
import io.jaio.channel.CoSocket;
import io.jaio.coroutine.CoQueue;
import io.jaio.coroutine.Coroutine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;

/**
 * One client connection of an {@link NbdServer}: the handshake, then the receive loop that
 * decodes requests and starts one coroutine per request. Replies leave in any order, written by
 * one coroutine at a time, so they never interleave on the wire; the receive loop itself never
 * waits for the socket to take a reply.
 *
 * <p>Threads: everything runs in coroutines of the server context's home thread.
 */
final class NbdConnection {
    /*
     * Implementation overview.
     *
     * serve() (the connection's coroutine):
     *  1. Handshake: write the greeting; loop { read exactly hs.bytesNeeded() bytes; consume;
     *     write the step's output } until TRANSMISSION (session set) or CLOSE. Exact reads: no
     *     byte of the transmission phase is read here.
     *  2. Receive loop: wait while `inflight` >= the per-connection cap; after REQUEST_BUDGET
     *     requests in a row without waiting for the socket, step aside for one loop iteration
     *     if the context has other work ready (or after FORCED_YIELD_ROUNDS such runs), for
     *     fairness; take a 28-byte header from the receive buffer, refilling it with one read()
     *     of whatever has arrived (up to RECEIVE_BUFFER bytes: at queue depth 32 one read brings
     *     many headers) when it holds less (EOF, reset or a closed socket end the loop); decode
     *     (bad magic ends the loop); DISC ends the loop; check(); a WRITE's payload is taken
     *     here, from the receive buffer and then the socket, into a pooled buffer, so the stream
     *     stays in step (a refused WRITE's payload is dropped; one too large even for that is
     *     answered EINVAL and ends the loop); inflight++; enter the request's coroutine at once
     *     (it runs until its first wait, so its backend I/O is submitted before the next header
     *     is read), then go on.
     *  3. Drain: write the queued replies, wait until inflight == 0, so no request coroutine
     *     outlives the socket; close.
     * Request coroutine: execute (or build the error reply) and queue the reply.
     * Replies (the cork): while the receive loop runs (`corked`), queued replies wait, so the
     * replies to every request taken from one read leave in one writev; the receive loop
     * uncorks before anything that may suspend it (a read from the socket, the in-flight cap,
     * the pool, a yield), and a reply queued while it is suspended (an engine completion) is
     * written at once by its request coroutine. flush() sets `flushing`, writes
     * the queued replies oldest first, one gathering write of up to BATCH_PARTS segments at a
     * time, and finishes each write's requests as soon as it is out (buffers back, statistics,
     * unsent--, inflight--, wake the receive loop if it waits), so `unsent` counts a reply sent
     * only until the rest of its write is out; once the socket is closed, the rest are finished
     * unwritten; a flush() that finds `flushing` set returns at once, leaving
     * its reply to the writer in progress. A failed write closes the socket, which wakes the
     * receive loop's read with CLOSED; the requests are finished all the same.
     * The receive loop never writes itself: uncork() enters the connection's writer coroutine,
     * which flushes and yields back. If the socket is full the writer suspends there and the
     * receive loop goes on reading requests (up to the in-flight cap). A client that writes its
     * next request before it reads any reply (nbd-tester-client) depends on that: while it
     * waits for its socket to take the request it reads nothing, so a receive loop that waited
     * for the client to read its replies deadlocked with it until the client's 1 s timeout.
     * The in-flight cap therefore counts requests still executing, not those whose reply is
     * built and only waits for the socket (`unsent`): with 1 KiB reads, 128 replies fill the
     * socket's send buffer, and a cap that counted them stopped reading just when the client's
     * own buffer of unread requests was full (1 run in 5). The read-ahead stays bounded: at most
     * the cap executing, UNSENT_FACTOR times the cap of unsent replies (their data buffers come
     * from the pool, which bounds the bytes), plus one receive buffer.
     *
     * Invariants: only the receive loop reads the socket; only the coroutine that set
     * `flushing` writes it; inflight counts requests started and not finished (a queued reply is
     * not finished); the receive loop never suspends with replies queued and corked set, and
     * never inside a write; serve() returns only when inflight == 0 and the writer has ended.
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
    /**
     * Unsent replies (built, waiting for the socket) a connection may hold, in multiples of its
     * in-flight cap: enough for a client that writes its next request before it reads (it stops
     * writing when its unread requests fill its socket buffer, about 280 headers on a Unix
     * socket), small enough to keep a client that never reads from piling up replies.
     */
    static final int UNSENT_FACTOR = 4;
    /** Budgets in a row after which the receive loop yields even if no other work is known. */
    static final int FORCED_YIELD_ROUNDS = 8;
    /** Bytes of per-connection scratch memory (options up to this size need no pooled buffer). */
    private static final int SCRATCH_SIZE = 1024;
    /**
     * Bytes of the receive buffer requests are read ahead into. One read() takes every header
     * (and small WRITE payload) that has arrived: at 4k QD32 that is up to 15 WRITEs or all 32
     * READs, where reading exact headers cost one read() per request.
     */
    static final int RECEIVE_BUFFER = 64 * 1024;
    /** Queued reply segments written by one writev (the channel's iovec limit). */
    private static final int BATCH_PARTS = 64;
    /** Queued reply bytes after which the queue is written without waiting for the batch to end. */
    private static final long BATCH_BYTES = 256 * 1024;

    private final NbdServer server;
    /** The plain socket, kept for the TLS upgrade. */
    private final CoSocket socket;
    /** The stream requests and replies travel on: the socket, or TLS over it after STARTTLS. */
    private NbdTransport sock;
    private final BufferPool pool;
    /** The receive loop waits here for inflight to drop (below the cap, or to 0 at the end). */
    private final CoQueue receiverWait = new CoQueue();
    private final int maxInflight;
    private final long id;
    /**
     * Native scratch memory for the connection's whole life (handshake messages, request
     * headers): outside the buffer pool, so idle connections never take budget from busy ones.
     */
    private final MemorySegment scratch = Arena.ofAuto().allocate(SCRATCH_SIZE, 8);
    /** The receive buffer (freed when serve() returns); bytes [rpos, rlim) are unread input. */
    private final Arena receiveArena = Arena.ofShared();
    private final MemorySegment rbuf = receiveArena.allocate(RECEIVE_BUFFER, 8);
    private final ByteBuffer rview = rbuf.asByteBuffer();
    private int rpos;
    private int rlim;
    /** Replies built and not yet written, oldest first; their requests are still in flight. */
    private final ArrayDeque<Queued> queued = new ArrayDeque<>();
    /** The replies of the write in progress (flush()). */
    private final ArrayList<Queued> writing = new ArrayList<>();
    private int queuedParts;
    private long queuedBytes;
    /** The receive loop runs: queued replies wait for the end of its batch. */
    private boolean corked;
    /** A coroutine is inside flush(), writing the socket; nobody else writes it meanwhile. */
    private boolean flushing;
    /**
     * Writes the queued replies for the receive loop (created at its first uncork). Whenever
     * nobody is flushing, it waits at its yield for the next uncork (or has ended).
     */
    private Coroutine writer;
    /** serve() is done with the writer: when entered next, it ends. */
    private boolean writerDone;
    private int inflight;
    /** Of {@link #inflight}: requests whose reply is queued or being written (not executing). */
    private int unsent;
    private NbdSession session;

    /** A reply waiting to be written, with what finishing its request needs. */
    private record Queued(NbdRequest request, NbdReply reply, boolean executes, NbdRequestEvent event) {
    }

    /** {@code moved}: the session of a handshake done on another server of the group, or null. */
    NbdConnection(NbdServer server, CoSocket sock, BufferPool pool, int maxInflight, long id, NbdSession moved) {
        this.server = server;
        this.session = moved;
        this.socket = sock;
        this.sock = NbdTransport.plain(sock);
        this.pool = pool;
        this.maxInflight = maxInflight;
        this.id = id;
    }

    /** Requests started and not yet answered (for NbdServer.removeExport). Home thread. */
    int inflight() {
        return inflight;
    }

    /** Ends the connection now (shutdown, or a failed write): pending socket operations throw CLOSED. */
    void abort() {
        sock.close();
    }

    /** Serves the connection until it ends; returns with no request in flight. Coroutine. */
    void serve() {
        try {
            boolean moved = session != null;
            if (moved || handshake()) {
                session = server.attach(this, socket, sock instanceof TlsTransport, session, moved);
                if (session != null) {
                    receiveLoop();
                }
            }
        } catch (NbdProtocolException e) {
            server.counters().protocolError();
            LOG.log(System.Logger.Level.INFO, "NBD connection {0}: protocol error, disconnecting: {1}", id,
                    e.getMessage());
        } catch (ChannelException e) {
            LOG.log(System.Logger.Level.DEBUG, "NBD connection {0} ended: {1}", id, e.getMessage());
        } finally {
            try {
                uncork();
                while (inflight > 0) {
                    receiverWait.await(null);
                }
                endWriter();
            } finally {
                sock.finish(); // TLS close_notify
                sock.close();
                sock.free(); // nothing uses the transport's buffers any more
                receiveArena.close(); // no request coroutine reads the receive buffer
            }
        }
    }

    // ---- handshake ----

    /** Runs the handshake; true if transmission begins. */
    private boolean handshake() {
        NbdTls tls = server.tls();
        NbdHandshake hs = new NbdHandshake(server.catalog(), tls != null);
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
                case STARTTLS -> {
                    TlsTransport t = TlsTransport.accept(socket, tls);
                    sock = t;
                    hs.tlsEstablished();
                    LOG.log(System.Logger.Level.DEBUG, "NBD connection {0}: TLS established ({1})", id, t.describe());
                }
                case CLOSE -> {
                    LOG.log(System.Logger.Level.DEBUG, "NBD connection {0}: client aborted the handshake", id);
                    return false;
                }
                case TRANSMISSION -> {
                    session = hs.session();
                    LOG.log(System.Logger.Level.DEBUG,
                            "NBD connection {0}: export ''{1}'', structured replies {2}, extended headers {3},"
                            + " base:allocation {4}", id, session.export().name(), session.structuredReplies(),
                            session.extendedHeaders(), session.baseAllocation());
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
        int budget = REQUEST_BUDGET;
        long waits = sock.waitCount();
        int rounds = 0;
        corked = true;
        for (;;) {
            if (mustWait()) {
                uncork(); // the replies queued may be what brings inflight down
                if (mustWait()) { // a real stop (the uncork did not end it): counted, by its reason
                    session.export().receiveWait(unsentAtBound());
                }
                while (mustWait()) {
                    receiverWait.await(null);
                }
                corked = true;
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
            int header = session.requestSize(); // 28, or 32 with extended headers
            fill(header);
            NbdRequest r = NbdRequest.decode(rview.limit(rpos + header).position(rpos), session.extendedHeaders());
            rpos += header;
            server.counters().request(r.type());
            if (r.type() == Nbd.CMD_DISC) {
                LOG.log(System.Logger.Level.DEBUG, "NBD connection {0}: client disconnects", id);
                return;
            }
            NbdCommands.Verdict v = NbdCommands.check(session, r, server.isShuttingDown(session.export()));
            BufferPool.Buffer payload = null;
            long payloadLength = r.payloadLength(); // a WRITE's data (any command's, with extended headers)
            if (payloadLength != 0 && !v.disconnect()) {
                if (v.ok()) {
                    if (!pool.canLendNow(payloadLength)) {
                        uncork(); // queued replies hold pool buffers, and acquire will wait
                    }
                    payload = pool.acquire(payloadLength);
                    corked = true;
                    try {
                        receive(payload.segment().asSlice(0, payloadLength));
                    } catch (RuntimeException e) {
                        pool.release(payload);
                        throw e;
                    }
                } else {
                    skip(payloadLength);
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
     * Makes the receive buffer hold at least {@code need} unread bytes (a request header): keeps the
     * unread tail, writes the queued replies (the socket read may suspend), then reads whatever
     * has arrived.
     */
    private void fill(int need) {
        if (rlim - rpos >= need) {
            return;
        }
        if (rpos != 0) {
            MemorySegment.copy(rbuf, rpos, rbuf, 0, rlim - rpos);
            rlim -= rpos;
            rpos = 0;
        }
        uncork();
        try {
            while (rlim < need) {
                int n = sock.read(rbuf.asSlice(rlim));
                if (n < 0) {
                    throw new ChannelException(ChannelException.Kind.EOF, 0,
                            "unexpected end of stream after " + rlim + " of " + need + " bytes");
                }
                rlim += n;
            }
        } finally {
            corked = true;
        }
    }

    /** Fills {@code dst} with the next bytes of the stream: read-ahead first, then the socket. */
    private void receive(MemorySegment dst) {
        long have = Math.min(dst.byteSize(), rlim - rpos);
        MemorySegment.copy(rbuf, rpos, dst, 0, have);
        rpos += (int) have;
        if (have < dst.byteSize()) {
            uncork();
            try {
                sock.readFully(dst.asSlice(have));
            } finally {
                corked = true;
            }
        }
    }

    /**
     * Whether the receive loop must wait before it starts another request: the in-flight cap
     * counts executing requests only, and unsent replies have a bound of their own (see the
     * class comment).
     */
    private boolean mustWait() {
        return inflight - unsent >= maxInflight || unsentAtBound();
    }

    /** Whether the replies waiting for the socket have reached their bound (class comment). */
    private boolean unsentAtBound() {
        return unsent >= UNSENT_FACTOR * maxInflight;
    }

    /**
     * Ends the batch: replies queued from now on are written at once. Has the writer write the
     * queue, without waiting for the socket to take it. Receive loop.
     */
    private void uncork() {
        corked = false;
        if (queued.isEmpty() || flushing) {
            return; // nothing to write, or the writer in progress takes the queue too
        }
        if (writer == null || writer.isTerminated()) { // (it ends early only if a flush threw)
            writer = Coroutine.create(this::writerLoop);
        }
        writer.enter(); // returns when the queue is written, or when the socket is full
    }

    /** The writer's body: flush, then wait at the yield until uncork() enters it again. */
    private void writerLoop() {
        for (;;) {
            flush();
            if (writerDone) {
                return;
            }
            Coroutine.yield();
        }
    }

    /**
     * Lets the writer coroutine end. inflight is 0, so nobody is flushing and the writer (if
     * any) waits at its yield: entered once more, it finds the queue empty and returns.
     */
    private void endWriter() {
        writerDone = true;
        if (writer != null && !writer.isTerminated()) {
            writer.enter();
        }
    }

    /**
     * Lets the context run everything else that is ready (other connections' handlers, bottom
     * halves, timers) and continues in a later loop iteration: QEMU's idiom
     * {@code aio_co_schedule(ctx, self); qemu_coroutine_yield()}.
     */
    private void yieldToLoop() {
        uncork();
        Coroutine.schedule(sock.context(), Coroutine.self());
        Coroutine.yield();
        corked = true;
    }

    /** Reads and drops {@code n} bytes (the payload of a refused WRITE). */
    private void skip(long n) {
        long have = Math.min(n, rlim - rpos);
        rpos += (int) have;
        n -= have;
        if (n == 0) {
            return;
        }
        uncork();
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
            corked = true;
        }
    }

    private void runRequest(NbdRequest r, NbdCommands.Verdict v, BufferPool.Buffer payload, boolean executes) {
        NbdRequestEvent ev = new NbdRequestEvent();
        ev.begin();
        ev.startNs = System.nanoTime();
        NbdReply reply;
        try {
            if (v.ok()) {
                reply = NbdCommands.execute(session, r, payload == null ? null : payload.segment(), pool);
            } else {
                reply = NbdCommands.errorReply(session, r, v.error(), v.message(), pool);
                LOG.log(System.Logger.Level.DEBUG, "NBD connection {0}: {1} rejected with {2}: {3}", id, r,
                        Nbd.errorName(v.error()), v.message());
            }
        } catch (RuntimeException | Error e) {
            LOG.log(System.Logger.Level.WARNING, "NBD connection " + id + ": request " + r + " failed", e);
            abort();
            finish(new Queued(r, null, executes, ev));
            receiverWait.restartAll();
            return;
        } finally {
            pool.release(payload);
        }
        queued.add(new Queued(r, reply, executes, ev));
        unsent++;
        if (!corked) {
            // The receive loop may wait on the cap, which this request no longer takes up:
            // with the socket full it must go on reading (class comment).
            receiverWait.restartAll();
        }
        queuedParts += reply.partCount();
        queuedBytes += reply.byteSize();
        if (!corked || queuedParts >= BATCH_PARTS || queuedBytes >= BATCH_BYTES) {
            flush();
        }
    }

    /**
     * Writes every queued reply, oldest first, in gathering writes of up to BATCH_PARTS segments,
     * and finishes each write's requests as soon as it is out. A write that fails closes the
     * socket; its replies and every later one are finished unwritten, so each queued reply is
     * finished exactly once whatever happens. Returns at once if another coroutine is writing:
     * that one writes these replies too. Coroutine, not the receive loop (it may wait for the
     * socket).
     *
     * <p>Finishing per write, not per queue taken, keeps {@link #unsent} close to what still
     * waits for the socket (at most one write's replies are counted after they left): a client
     * that reads replies only between its own writes drains a full socket a few replies at a
     * time, and counting hundreds of replies already sent as unsent kept the receive loop at its
     * bound until the client, blocked on its write, read no more.
     */
    private void flush() {
        if (queued.isEmpty() || flushing) {
            return;
        }
        flushing = true;
        try {
            while (!queued.isEmpty()) { // replies queued while one write was out go in a later one
                int parts = 0;
                do {
                    Queued q = queued.poll();
                    writing.add(q);
                    parts += q.reply().partCount();
                    queuedBytes -= q.reply().byteSize();
                } while (!queued.isEmpty() && parts + queued.peek().reply().partCount() <= BATCH_PARTS);
                queuedParts -= parts;
                try {
                    if (sock.isClosed()) {
                        continue; // an earlier write failed, or the connection was aborted: finish unwritten
                    }
                    // Segments go out in gathering writes; a file range ends the write before it
                    // and is sent from the file.
                    MemorySegment[] segs = new MemorySegment[parts];
                    int n = 0;
                    for (Queued q : writing) {
                        NbdReply rp = q.reply();
                        for (int k = 0, c = rp.partCount(); k < c; k++) {
                            MemorySegment seg = rp.part(k);
                            if (seg != null) {
                                segs[n++] = seg;
                            } else {
                                writeParts(segs, n);
                                n = 0;
                                sock.sendFile(rp.fileFd(), rp.fileOffset(), rp.fileLength());
                            }
                        }
                    }
                    writeParts(segs, n);
                } catch (ChannelException e) {
                    if (!sock.isClosed()) {
                        LOG.log(System.Logger.Level.DEBUG, "NBD connection {0}: {1} replies not sent: {2}", id,
                                writing.size() + queued.size(), e.getMessage());
                    }
                    abort();
                } catch (RuntimeException e) {
                    // Not the socket's own failure (that is a ChannelException): a fault, but the
                    // requests must still finish, so the connection ends and the rest go unwritten.
                    LOG.log(System.Logger.Level.WARNING, "NBD connection " + id + ": writing replies failed", e);
                    abort();
                } finally {
                    for (Queued q : writing) {
                        unsent--;
                        finish(q);
                    }
                    writing.clear();
                    receiverWait.restartAll();
                }
            }
        } finally {
            flushing = false;
        }
    }

    /** Writes {@code parts[0, n)} with gathering writes. */
    private void writeParts(MemorySegment[] parts, int n) {
        if (n > 0) {
            sock.writeFully(n == parts.length ? parts : Arrays.copyOf(parts, n));
        }
    }

    /** A request is answered (or will never be): buffers back, statistics, event, inflight--. */
    private void finish(Queued q) {
        NbdRequest r = q.request();
        NbdReply reply = q.reply();
        int error = 0;
        long bytes = 0;
        if (reply != null) {
            error = reply.error;
            bytes = reply.bytes;
            reply.release();
        }
        server.counters().done(r.type(), error, bytes);
        session.export().requestDone(r.type(), error, bytes, System.nanoTime() - q.event().startNs);
        NbdRequestEvent ev = q.event();
        if (ev.shouldCommit()) {
            ev.export = session.export().name();
            ev.command = Nbd.commandName(r.type());
            ev.offset = r.offset();
            ev.length = r.length();
            ev.error = error;
            ev.commit();
        }
        inflight--;
        if (q.executes()) {
            server.requestFinished();
        }
        server.requestAnswered();
    }
}
