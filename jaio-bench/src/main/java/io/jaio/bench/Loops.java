package io.jaio.bench;

import io.jaio.aio.AioContext;
import io.jaio.aio.FdMonitorKind;
import io.jaio.aio.IoThread;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Creates and stops the loops the benchmarks compare, from an {@code impl} parameter value. */
final class Loops {
    private Loops() {}

    /** What kind of loop an {@code impl} value names. */
    enum Kind { JAIO, NETTY, SPIN }

    static Kind kindOf(String impl) {
        if (impl.equals("jaio") || impl.startsWith("jaio-")) {
            return Kind.JAIO;
        }
        if (impl.startsWith("netty-")) {
            return Kind.NETTY;
        }
        if (impl.equals("spin")) {
            return Kind.SPIN;
        }
        throw new IllegalArgumentException("unknown impl " + impl
                + " (jaio[-auto|-ppoll|-epoll|-io_uring][-pollN], netty-nio|netty-epoll|netty-io_uring, spin)");
    }

    /**
     * Starts an IoThread for {@code impl = jaio[-MONITOR][-pollN]}: MONITOR picks the fd monitor
     * ({@code auto}, {@code ppoll}, {@code epoll}, {@code io_uring}; default the IoThread's), {@code pollN}
     * sets poll-max-ns to N (default the IoThread's, 32768). Prints what it built, so the log states it.
     */
    static IoThread jaio(String impl) {
        var b = IoThread.builder("jaio-bench-" + impl);
        String[] parts = impl.split("-");
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i];
            switch (p) {
                case "auto" -> b = b.fdMonitor(FdMonitorKind.AUTO);
                case "ppoll" -> b = b.fdMonitor(FdMonitorKind.POLL);
                case "epoll" -> b = b.fdMonitor(FdMonitorKind.EPOLL);
                case "io_uring" -> b = b.fdMonitor(FdMonitorKind.IO_URING);
                default -> {
                    if (p.matches("poll[0-9]+")) {
                        b = b.pollMaxNs(Long.parseLong(p.substring(4)));
                    } else {
                        throw new IllegalArgumentException("unknown jaio option '" + p + "' in " + impl);
                    }
                }
            }
        }
        IoThread io = b.build();
        AioContext ctx = io.context();
        System.out.println("# jaio loop for " + impl + ": IoThread, fd monitor " + ctx.fdMonitorKind()
                + ", poll-max-ns " + ctx.pollMaxNs());
        return io;
    }

    /** An executor that runs tasks on {@code ctx}'s loop, as oneshot bottom halves. */
    static Executor executor(AioContext ctx) {
        return r -> ctx.scheduleOneshot("jaio-bench", r);
    }

    /** Stops an IoThread and fails if any callback on it threw (jaio logs and counts those, and goes on). */
    static void close(IoThread io) {
        long errors = io.context().stats().callbackErrors();
        io.close();
        if (errors != 0) {
            throw new IllegalStateException(errors + " callback(s) threw on the jaio loop; see the log above");
        }
    }

    /** A one-thread Netty 4.2 event loop group for {@code impl = netty-nio|netty-epoll|netty-io_uring}. */
    static MultiThreadIoEventLoopGroup netty(String impl) {
        IoHandlerFactory factory = switch (impl) {
            case "netty-nio" -> NioIoHandler.newFactory();
            case "netty-epoll" -> {
                Epoll.ensureAvailability();
                yield EpollIoHandler.newFactory();
            }
            case "netty-io_uring" -> {
                IoUring.ensureAvailability();
                yield IoUringIoHandler.newFactory();
            }
            default -> throw new IllegalArgumentException("unknown Netty impl " + impl);
        };
        return new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("netty-bench-" + impl, true), factory);
    }

    /** Shuts a Netty group down (no quiet period) and waits for it. */
    static void close(MultiThreadIoEventLoopGroup group) {
        if (!group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(10, TimeUnit.SECONDS)) {
            throw new IllegalStateException("Netty event loop group did not terminate within 10 s");
        }
    }

    /** Runs {@code r} on the loop behind {@code loop} and waits (at most 10 s) for it; rethrows what it threw. */
    static void runAndWait(Executor loop, Runnable r) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        loop.execute(() -> {
            try {
                r.run();
                done.complete(null);
            } catch (Throwable t) {
                done.completeExceptionally(t);
            }
        });
        try {
            done.get(10, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new IllegalStateException("task on the loop failed", e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("the loop did not run a task within 10 s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
