package io.jaio.nbd;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A snapshot of an {@link NbdServer}'s counters. Per-command arrays are indexed by command type
 * ({@link Nbd#CMD_READ} ... {@link Nbd#CMD_BLOCK_STATUS}); index {@link Nbd#CMD_COUNT} counts
 * unknown commands. A snapshot: later requests do not change it. Any thread.
 *
 * @param connectionsAccepted connections served so far
 * @param connectionsActive connections open now
 * @param protocolErrors connections ended because the client broke the protocol
 * @param requests requests received, per command (DISC included)
 * @param errors requests answered with an error, per command
 * @param bytesRead bytes sent to clients by successful READs
 * @param bytesWritten bytes written by successful WRITEs
 */
public record NbdStats(long connectionsAccepted, long connectionsActive, long protocolErrors, long[] requests,
        long[] errors, long bytesRead, long bytesWritten) {

    /** Copies both arrays, so the snapshot cannot change behind its reader's back. Any thread. */
    public NbdStats {
        requests = requests.clone();
        errors = errors.clone();
    }

    /** Equal when every counter and every per-command count is (a record compares arrays by identity). Any thread. */
    @Override
    public boolean equals(Object o) {
        return o instanceof NbdStats s && connectionsAccepted == s.connectionsAccepted
                && connectionsActive == s.connectionsActive && protocolErrors == s.protocolErrors
                && java.util.Arrays.equals(requests, s.requests) && java.util.Arrays.equals(errors, s.errors)
                && bytesRead == s.bytesRead && bytesWritten == s.bytesWritten;
    }

    /** Consistent with {@link #equals}: the arrays' contents count. Any thread. */
    @Override
    public int hashCode() {
        return java.util.Objects.hash(connectionsAccepted, connectionsActive, protocolErrors,
                java.util.Arrays.hashCode(requests), java.util.Arrays.hashCode(errors), bytesRead, bytesWritten);
    }

    /** {@return a copy of the per-command request counts} Any thread. */
    @Override
    public long[] requests() {
        return requests.clone();
    }

    /** {@return a copy of the per-command error counts} Any thread. */
    @Override
    public long[] errors() {
        return errors.clone();
    }

    /**
     * Requests of one command received. Any thread.
     *
     * @param type the command ({@code Nbd.CMD_*}); any value outside 0 to
     *     {@link Nbd#CMD_COUNT} - 1 reads the unknown-command count
     * @return the number of requests
     */
    public long requests(int type) {
        return requests[index(type)];
    }

    /**
     * Requests of one command answered with an error. Any thread.
     *
     * @param type the command ({@code Nbd.CMD_*}); any value outside 0 to
     *     {@link Nbd#CMD_COUNT} - 1 reads the unknown-command count
     * @return the number of error replies
     */
    public long errors(int type) {
        return errors[index(type)];
    }

    /** {@return the requests received, over every command and unknown ones} Any thread. */
    public long totalRequests() {
        long n = 0;
        for (long r : requests) {
            n += r;
        }
        return n;
    }

    /** {@return the requests answered with an error, over every command and unknown ones} Any thread. */
    public long totalErrors() {
        long n = 0;
        for (long r : errors) {
            n += r;
        }
        return n;
    }

    static int index(int type) {
        return type >= 0 && type < Nbd.CMD_COUNT ? type : Nbd.CMD_COUNT;
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("NbdStats[connections=").append(connectionsAccepted).append(" (")
                .append(connectionsActive).append(" open), protocolErrors=").append(protocolErrors);
        for (int i = 0; i <= Nbd.CMD_COUNT; i++) {
            if (requests[i] != 0) {
                b.append(", ").append(i < Nbd.CMD_COUNT ? Nbd.commandName(i).substring(8) : "UNKNOWN").append('=')
                        .append(requests[i]).append('/').append(errors[i]).append(" err");
            }
        }
        return b.append(", bytesRead=").append(bytesRead).append(", bytesWritten=").append(bytesWritten).append(']')
                .toString();
    }

    /**
     * The live counters: written only by the server context's home thread (its coroutines, whose
     * hand-offs order them even under the virtual-thread engine), read from any thread. A single
     * writer needs no atomic read-modify-write: each add is a plain read and a release store,
     * which pairs with the volatile reads of {@link #snapshot()} (whole 64-bit values).
     */
    static final class Counters {
        private static final int ACCEPTED = 0;
        private static final int ACTIVE = 1;
        private static final int PROTOCOL_ERRORS = 2;
        private static final int BYTES_READ = 3;
        private static final int BYTES_WRITTEN = 4;
        private static final int REQUESTS = 5;
        private static final int ERRORS = REQUESTS + Nbd.CMD_COUNT + 1;
        private final AtomicLongArray c = new AtomicLongArray(ERRORS + Nbd.CMD_COUNT + 1);

        /** The single writer's add (see the class comment). */
        private void add(int i, long n) {
            c.setRelease(i, c.getPlain(i) + n);
        }

        void connectionOpened() {
            add(ACCEPTED, 1);
            add(ACTIVE, 1);
        }

        void connectionClosed() {
            add(ACTIVE, -1);
        }

        void protocolError() {
            add(PROTOCOL_ERRORS, 1);
        }

        void request(int type) {
            add(REQUESTS + index(type), 1);
        }

        void done(int type, int error, long bytes) {
            if (error != 0) {
                add(ERRORS + index(type), 1);
            } else if (type == Nbd.CMD_READ) {
                add(BYTES_READ, bytes);
            } else if (type == Nbd.CMD_WRITE) {
                add(BYTES_WRITTEN, bytes);
            }
        }

        NbdStats snapshot() {
            long[] req = new long[Nbd.CMD_COUNT + 1];
            long[] err = new long[Nbd.CMD_COUNT + 1];
            for (int i = 0; i <= Nbd.CMD_COUNT; i++) {
                req[i] = c.get(REQUESTS + i);
                err[i] = c.get(ERRORS + i);
            }
            return new NbdStats(c.get(ACCEPTED), c.get(ACTIVE), c.get(PROTOCOL_ERRORS), req, err, c.get(BYTES_READ),
                    c.get(BYTES_WRITTEN));
        }
    }
}
