package io.jaio.aio;

import io.jaio.linux.Linux;
import io.jaio.linux.NativeException;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A latch that an fd monitor can wait for (QEMU's {@code EventNotifier}): an eventfd, or a
 * non-blocking pipe pair where eventfd is missing. {@link #set()} is idempotent while pending;
 * {@link #testAndClear()} reports whether it had been set.
 *
 * <p>{@code set}, {@code testAndClear} and {@code fd}: any thread. {@code close}: once, when no
 * context watches the notifier any more; idempotent.
 */
public final class EventNotifier implements AutoCloseable {
    private final int readFd;
    private final int writeFd;
    private final boolean isEventfd;
    private final AtomicBoolean closed = new AtomicBoolean();

    private EventNotifier(int readFd, int writeFd, boolean isEventfd) {
        this.readFd = readFd;
        this.writeFd = writeFd;
        this.isEventfd = isEventfd;
    }

    /**
     * Creates a clear notifier: an eventfd, or a pipe where eventfd is missing. Any thread.
     *
     * @return the notifier; close it when no context watches it any more
     * @throws io.jaio.linux.NativeException if neither can be created (e.g. EMFILE)
     */
    public static EventNotifier create() {
        try {
            int fd = Linux.eventfd(0, Linux.EFD_NONBLOCK | Linux.EFD_CLOEXEC);
            return new EventNotifier(fd, fd, true);
        } catch (NativeException e) {
            if (e.errno() != Linux.ENOSYS && e.errno() != Linux.EINVAL) {
                throw e;
            }
            int[] p = Linux.pipe2(Linux.O_NONBLOCK | Linux.O_CLOEXEC);
            return new EventNotifier(p[0], p[1], false);
        }
    }

    /**
     * Creates a notifier that starts set ({@code active}) or clear. Any thread.
     *
     * @param active whether it starts set
     * @return the notifier
     * @throws io.jaio.linux.NativeException if it cannot be created
     */
    public static EventNotifier create(boolean active) {
        EventNotifier n = create();
        if (active) {
            n.set();
        }
        return n;
    }

    /** {@return the fd a monitor waits on (readable while set)} */
    public int fd() {
        return readFd;
    }

    /** Sets the notifier; "would block" means already set, which is success. Any thread. */
    public void set() {
        int r;
        if (isEventfd) {
            r = Linux.eventfdWrite(writeFd, 1);
        } else {
            r = Linux.write(writeFd, new byte[] {1});
            r = r < 0 ? r : 0;
        }
        if (r < 0 && r != -Linux.EAGAIN) {
            throw new NativeException("write", -r, "event notifier fd " + writeFd);
        }
    }

    /**
     * Clears the notifier. Any thread.
     *
     * @return true if it had been set
     */
    public boolean testAndClear() {
        if (isEventfd) {
            long r = Linux.eventfdRead(readFd);
            if (r < 0 && r != -Linux.EAGAIN) {
                throw new NativeException("read", (int) -r, "event notifier fd " + readFd);
            }
            return r > 0;
        }
        boolean any = false;
        byte[] buf = new byte[512];
        for (;;) {
            int r = Linux.read(readFd, buf);
            if (r > 0) {
                any = true;
                if (r == buf.length) {
                    continue;
                }
            } else if (r < 0 && r != -Linux.EAGAIN) {
                throw new NativeException("read", -r, "event notifier fd " + readFd);
            }
            return any;
        }
    }

    /** Closes the fds. Idempotent. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            Linux.close(readFd);
            if (writeFd != readFd) {
                Linux.close(writeFd);
            }
        }
    }

    @Override
    public String toString() {
        return "EventNotifier[fd=" + readFd + (isEventfd ? ", eventfd" : ", pipe") + "]";
    }
}
