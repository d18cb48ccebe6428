package io.jaio.aio;

import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.unix.FileDescriptor;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs an {@link AioContext} inside a Netty 4.2 epoll {@link IoEventLoop} through its
 * {@link AioSource} (test scope: jaio-core depends on the JDK alone; this is the adapter an
 * application would copy). The context's epoll fd is registered with the loop as an
 * {@link EpollIoHandle}, level-triggered (no {@code EPOLLET}), so the loop wakes while the
 * context has work; each wake-up runs check + dispatch, then prepare, whose timeout becomes a
 * scheduled task on the loop (0: an immediate task).
 *
 * <p>Netty has no hook just before it blocks, so prepare runs at the end of every iteration and
 * stays in force while the loop runs its other tasks: a wake-up from another thread then writes
 * the context's eventfd even if the loop is busy, which costs a syscall but loses nothing.
 *
 * <p>Threads: {@link #register} and {@link #cancel()} in the loop's thread, which is the
 * context's home thread (create the context there).
 */
final class NettyEmbedding implements EpollIoHandle {
    private final IoEventLoop loop;
    private final AioSource source;
    private final FileDescriptor fd;
    private IoRegistration registration;
    private ScheduledFuture<?> timer;
    private boolean immediateQueued;
    private boolean cancelled;

    private NettyEmbedding(IoEventLoop loop, AioSource source) {
        this.loop = loop;
        this.source = source;
        this.fd = new FileDescriptor(source.fd()); // never closed here: the fd is the context's
    }

    /**
     * Registers {@code ctx} with {@code loop}; the result completes (in the loop's thread) once
     * the fd is watched. Loop thread.
     */
    static CompletableFuture<NettyEmbedding> register(IoEventLoop loop, AioContext ctx) {
        if (!loop.inEventLoop() || !ctx.isHomeThread()) {
            throw new IllegalStateException("register the context in its home thread, which must be the loop's thread");
        }
        NettyEmbedding e = new NettyEmbedding(loop, AioSource.of(ctx));
        CompletableFuture<NettyEmbedding> done = new CompletableFuture<>();
        loop.register(e).addListener((Future<IoRegistration> f) -> {
            if (!f.isSuccess()) {
                done.completeExceptionally(f.cause());
                return;
            }
            e.registration = f.getNow();
            e.registration.submit(EpollIoOps.EPOLLIN); // level-triggered: no EPOLLET
            e.iterate(); // the first prepare (and whatever is already pending)
            done.complete(e);
        });
        return done;
    }

    @Override
    public FileDescriptor fd() {
        return fd;
    }

    /** The loop saw the epoll fd readable. Loop thread. */
    @Override
    public void handle(IoRegistration r, IoEvent event) {
        iterate();
    }

    private void iterate() {
        if (cancelled) {
            return;
        }
        if (source.check()) {
            source.dispatch();
        }
        if (cancelled) { // a callback cancelled the embedding
            return;
        }
        long ns = source.prepare();
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
        if (ns == 0) {
            if (!immediateQueued) {
                immediateQueued = true;
                loop.execute(() -> {
                    immediateQueued = false;
                    iterate();
                });
            }
        } else if (ns > 0) {
            timer = loop.schedule(this::iterate, ns, TimeUnit.NANOSECONDS);
        }
    }

    /** Stops watching the context (it stays open: close it afterwards in this thread). Loop thread. */
    void cancel() {
        cancelled = true;
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
        if (registration != null) {
            registration.cancel();
        }
        source.check(); // lowers the external waiter's notify flag: nobody waits on the fd any more
    }

    @Override
    public void close() {
        // Netty closes handles when the loop shuts down; the fd belongs to the context.
    }
}
