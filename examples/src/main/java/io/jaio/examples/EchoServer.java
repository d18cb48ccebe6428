package io.jaio.examples;

import io.jaio.aio.AioContext;
import io.jaio.channel.CoListener;
import io.jaio.channel.CoSocket;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/**
 * A TCP echo server: one coroutine per connection, each suspended in {@link CoSocket#read} until
 * its client sends something, all on the calling thread's {@link AioContext}.
 *
 * <p>{@code java ... io.jaio.examples.EchoServer [PORT [CONNECTIONS]]}: listens on 127.0.0.1:PORT
 * (0, the default, picks a free port; the line "listening on 127.0.0.1:N" says which) and stops
 * after CONNECTIONS connections have ended (default: never). Try it with {@code nc 127.0.0.1 N}.
 */
public final class EchoServer {
    private EchoServer() {}

    /**
     * Runs the server in the calling thread until enough connections have ended.
     *
     * @param args {@code [PORT [CONNECTIONS]]}
     */
    public static void main(String[] args) {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 0;
        long connections = args.length > 1 ? Long.parseLong(args[1]) : Long.MAX_VALUE;
        long[] ended = {0}; // touched only by this thread: handlers run in its coroutines

        try (AioContext ctx = AioContext.create()) {          // this thread is its home thread
            InetSocketAddress addr = new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
            try (CoListener listener = CoListener.listen(ctx, addr, 16, socket -> {
                // A coroutine per accepted connection; CoListener closes the socket when it returns.
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment buf = arena.allocate(4096);
                    long total = 0;
                    int n;
                    while ((n = socket.read(buf)) > 0) {        // yields until data or EOF
                        socket.writeFully(buf.asSlice(0, n));   // yields while the socket is full
                        total += n;
                    }
                    System.out.println("connection closed after echoing " + total + " bytes");
                } finally {
                    ended[0]++;
                }
            })) {
                System.out.println("listening on " + ((InetSocketAddress) listener.address()).getHostString()
                        + ":" + ((InetSocketAddress) listener.address()).getPort());
                System.out.flush();
                while (ended[0] < connections) {
                    ctx.poll(true);                             // accept, read, write: all here
                }
            }
        }
    }
}
