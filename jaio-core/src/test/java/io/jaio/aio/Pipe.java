package io.jaio.aio;

import io.jaio.linux.Linux;

/** A non-blocking, close-on-exec pipe for fd-handler tests; each end closes at most once. */
final class Pipe implements AutoCloseable {

    final int r;
    final int w;
    private boolean readClosed;
    private boolean writeClosed;

    private Pipe(int r, int w) {
        this.r = r;
        this.w = w;
    }

    static Pipe open() {
        int[] fds = Linux.pipe2(Linux.O_NONBLOCK | Linux.O_CLOEXEC);
        return new Pipe(fds[0], fds[1]);
    }

    /** Make the read end readable. */
    void writeByte() {
        Linux.write(w, new byte[] {42});
    }

    /** Write until the pipe is full (the write end no longer reports OUT). */
    void fill() {
        byte[] chunk = new byte[65536];
        for (int i = 0; i < 1024; i++) {
            int n;
            try {
                n = Linux.write(w, chunk);
            } catch (Exception e) { // EAGAIN may be reported as -errno or as a NativeException
                return;
            }
            if (n <= 0) {
                return;
            }
        }
        throw new IllegalStateException("pipe never filled up");
    }

    /** Read everything that is buffered; returns the number of bytes read. */
    int drain() {
        return drain(r);
    }

    /** Read {@code fd} until it would block or reports EOF/an error; returns the bytes read. */
    static int drain(int fd) {
        byte[] buf = new byte[512];
        int total = 0;
        while (true) {
            int n;
            try {
                n = Linux.read(fd, buf);
            } catch (Exception e) { // EAGAIN may be reported as -errno or as a NativeException
                return total;
            }
            if (n <= 0) {
                return total;
            }
            total += n;
            if (n < buf.length) {
                return total;
            }
        }
    }

    void closeRead() {
        if (!readClosed) {
            readClosed = true;
            Linux.close(r);
        }
    }

    void closeWrite() {
        if (!writeClosed) {
            writeClosed = true;
            Linux.close(w);
        }
    }

    @Override
    public void close() {
        closeRead();
        closeWrite();
    }
}
