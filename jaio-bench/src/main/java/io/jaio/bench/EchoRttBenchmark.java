package io.jaio.bench;

import io.jaio.aio.IoThread;
import io.jaio.channel.CoListener;
import io.jaio.channel.CoSocket;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Echo round trip over a Unix socket, 64-byte messages, one server loop thread, the same client for every
 * server.
 *
 * <ul>
 *   <li>{@code jaio-epoll}, {@code jaio-io_uring}: a {@link CoListener} on an IoThread (that fd monitor,
 *       default poll-max-ns 32768), one coroutine per connection: {@code read} then {@code writeFully}.</li>
 *   <li>{@code netty-epoll}: Netty 4.2.18 {@code EpollServerDomainSocketChannel} on one
 *       {@code EpollIoHandler} loop (acceptor and connections on the same loop thread), the classic echo
 *       handler ({@code write} in {@code channelRead}, {@code flush} in {@code channelReadComplete}).</li>
 * </ul>
 * Client: one benchmark thread with {@code conns} blocking {@link SocketChannel}s over
 * {@link UnixDomainSocketAddress}. One invocation writes one 64-byte message on every connection, then
 * reads the 64-byte echo from every connection, in connection order. With 1 connection that is the echo
 * RTT; with 64 it is the time for a round of 64 requests in flight at once (÷64 = per-message cost).
 * Score: µs per invocation (SampleTime). Placement: unpinned.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED",
        "--add-exports", "java.base/jdk.internal.vm=ALL-UNNAMED"})
public class EchoRttBenchmark {
    static final int SIZE = 64;

    @Param({"jaio-epoll", "jaio-io_uring", "netty-epoll"})
    public String impl;

    @Param({"1", "64"})
    public int conns;

    private Path dir;
    private Path path;
    private SocketChannel[] clients;
    private final ByteBuffer out = ByteBuffer.allocateDirect(SIZE);
    private final ByteBuffer in = ByteBuffer.allocateDirect(SIZE);

    private IoThread io;
    private CoListener listener;
    /** Server connections whose coroutine has not ended yet (jaio). */
    private final AtomicInteger open = new AtomicInteger();

    private MultiThreadIoEventLoopGroup group;
    private Channel serverChannel;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        dir = Files.createTempDirectory("jaio-echo-bench");
        path = dir.resolve("echo.sock");
        switch (Loops.kindOf(impl)) {
            case JAIO -> {
                io = Loops.jaio(impl);
                Loops.runAndWait(Loops.executor(io.context()), () -> listener = CoListener.listen(io.context(),
                        UnixDomainSocketAddress.of(path), 128, this::echo));
            }
            case NETTY -> {
                group = Loops.netty(impl);
                serverChannel = new ServerBootstrap()
                        .group(group)
                        .channel(EpollServerDomainSocketChannel.class)
                        .childHandler(new ChannelInitializer<Channel>() {
                            @Override
                            protected void initChannel(Channel ch) {
                                ch.pipeline().addLast(NettyEcho.INSTANCE);
                            }
                        })
                        .bind(new DomainSocketAddress(path.toString()))
                        .syncUninterruptibly()
                        .channel();
            }
            case SPIN -> throw new IllegalArgumentException("no spin echo server");
        }
        clients = new SocketChannel[conns];
        for (int i = 0; i < conns; i++) {
            clients[i] = SocketChannel.open(StandardProtocolFamily.UNIX);
            clients[i].connect(UnixDomainSocketAddress.of(path));
        }
        for (int i = 0; i < SIZE; i++) {
            out.put(i, (byte) i);
        }
        round(); // every connection accepted and echoing
    }

    /** jaio's echo handler (as in ChannelEchoTest): read, write back, until EOF. */
    private void echo(CoSocket s) {
        open.incrementAndGet();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(64 * 1024);
            for (;;) {
                int n = s.read(buf);
                if (n < 0) {
                    return;
                }
                s.writeFully(buf.asSlice(0, n));
            }
        } finally {
            open.decrementAndGet();
        }
    }

    @ChannelHandler.Sharable
    static final class NettyEcho extends ChannelInboundHandlerAdapter {
        static final NettyEcho INSTANCE = new NettyEcho();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ctx.write(msg);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.flush();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            cause.printStackTrace();
            ctx.close();
        }
    }

    private void round() {
        try {
            for (SocketChannel c : clients) {
                out.clear();
                while (out.hasRemaining()) {
                    c.write(out);
                }
            }
            for (SocketChannel c : clients) {
                in.clear();
                while (in.hasRemaining()) {
                    if (c.read(in) < 0) {
                        throw new IllegalStateException("server closed the connection");
                    }
                }
                if (in.get(SIZE - 1) != (byte) (SIZE - 1)) {
                    throw new IllegalStateException("echo does not match");
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Benchmark
    public void roundTrip() {
        round();
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        for (SocketChannel c : clients) {
            if (c != null) {
                c.close();
            }
        }
        if (io != null) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (open.get() > 0 && System.nanoTime() - deadline < 0) {
                Thread.onSpinWait();
                Thread.yield();
            }
            if (open.get() > 0) {
                throw new IllegalStateException(open.get() + " jaio server connections still open after 10 s");
            }
            Loops.runAndWait(Loops.executor(io.context()), () -> listener.close());
            Loops.close(io);
        }
        if (group != null) {
            serverChannel.close().syncUninterruptibly();
            Loops.close(group);
        }
        Files.deleteIfExists(path);
        Files.deleteIfExists(dir);
    }
}
