package io.jaio.aio;

import static io.jaio.aio.FdHandlers.PASS_DELETED;
import static io.jaio.aio.FdHandlers.PASS_EMBEDDED;
import static io.jaio.aio.FdHandlers.PASS_MONITOR;
import static io.jaio.aio.FdHandlers.PASS_POLL_DISABLED;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The word that lets a poll pass with work pending skip the fd monitor (FdHandlers' pass
 * checks, aio-semantics.md §5): each bit must be set exactly while its condition holds, on every
 * monitor, or a bottom-half-only pass would skip a wait an unpollable handler needs, leave a
 * deleted handler unfreed, or miss a request ring's completions.
 */
class PassChecksTest {
    private final List<AioContext> contexts = new ArrayList<>();
    private final List<Pipe> pipes = new ArrayList<>();

    @AfterEach
    void tearDown() {
        contexts.forEach(AioContext::close);
        pipes.forEach(Pipe::close);
    }

    private AioContext context(FdMonitorKind kind) {
        AioContext c = AioContext.builder().fdMonitor(kind).build();
        contexts.add(c);
        c.poll(false); // the creation's notify
        return c;
    }

    private Pipe pipe() {
        Pipe p = Pipe.open();
        pipes.add(p);
        return p;
    }

    /** The io_uring monitor reads its ring on every pass; poll and epoll need nothing until asked. */
    private static int base(FdMonitorKind kind) {
        return kind == FdMonitorKind.IO_URING ? PASS_MONITOR : 0;
    }

    @ParameterizedTest
    @EnumSource(value = FdMonitorKind.class, names = {"POLL", "EPOLL", "IO_URING"})
    void anUnpollableHandlerSetsTheBitWhileItIsRegistered(FdMonitorKind kind) {
        AioContext c = context(kind);
        assertEquals(base(kind), c.passChecks(), "the context's own notifier polls");
        Pipe p = pipe();
        c.setFdHandler(p.r, () -> Pipe.drain(p.r), null, null, null);
        assertEquals(base(kind) | PASS_POLL_DISABLED, c.passChecks());
        Pipe q = pipe();
        c.setFdHandler(q.r, () -> Pipe.drain(q.r), null, null, null);
        c.setFdHandler(p.r, null, null, null, null);
        assertEquals(base(kind) | PASS_POLL_DISABLED, c.passChecks(), "one unpollable handler left");
        c.setFdHandler(q.r, null, null, null, null);
        assertEquals(base(kind), c.passChecks(), "none left");
        c.setFdHandler(p.r, () -> Pipe.drain(p.r), null, () -> false, () -> { });
        assertEquals(base(kind), c.passChecks(), "a pollable handler does not disable polling");
        c.setFdHandler(p.r, null, null, null, null);
        c.poll(false);
    }

    @ParameterizedTest
    @EnumSource(value = FdMonitorKind.class, names = {"POLL", "EPOLL", "IO_URING"})
    void aHandlerRemovedDuringDispatchIsFlaggedUntilThePassFreesIt(FdMonitorKind kind) {
        AioContext c = context(kind);
        Pipe p = pipe();
        Pipe q = pipe();
        c.setFdHandler(q.r, () -> Pipe.drain(q.r), null, () -> false, () -> { });
        int[] seen = {-1};
        c.setFdHandler(p.r, () -> {
            Pipe.drain(p.r);
            c.setFdHandler(q.r, null, null, null, null); // the pass walks: freed at its end
            seen[0] = c.passChecks();
        }, null, () -> false, () -> { });
        p.writeByte();
        for (int i = 0; i < 10 && seen[0] < 0; i++) {
            c.poll(true); // blocking: a non-blocking pass over pollable handlers makes no syscall (QEMU)
        }
        assertEquals(base(kind) | PASS_DELETED, seen[0], "deleted while the pass walked");
        assertEquals(base(kind), c.passChecks(), "freed by that pass");
        c.setFdHandler(p.r, null, null, null, null);
        c.poll(false);
    }

    @ParameterizedTest
    @EnumSource(value = FdMonitorKind.class, names = {"POLL", "EPOLL"})
    void theFirstRequestOnPollOrEpollSetsTheMonitorBitForGood(FdMonitorKind kind) {
        AioContext c = context(kind);
        assertEquals(0, c.passChecks());
        int[] res = {Integer.MIN_VALUE};
        c.addSqe(sqe -> sqe.prepNop(), (r, f) -> res[0] = r);
        assertEquals(PASS_MONITOR, c.passChecks(), "the request ring is set up");
        for (int i = 0; i < 100 && res[0] == Integer.MIN_VALUE; i++) {
            c.poll(true);
        }
        assertEquals(0, res[0], "the NOP completed");
        assertEquals(PASS_MONITOR, c.passChecks(), "still set with nothing in flight");
    }

    @ParameterizedTest
    @EnumSource(value = FdMonitorKind.class, names = {"POLL", "EPOLL", "IO_URING"})
    void anEmbeddingsDispatchSetsTheBitWhileItRuns(FdMonitorKind kind) {
        AioContext c = context(kind);
        FdHandlers fds = fdsOf(c);
        fds.embeddedDispatch(true);
        assertEquals(base(kind) | PASS_EMBEDDED, c.passChecks());
        fds.embeddedDispatch(true); // nested
        fds.embeddedDispatch(false);
        assertEquals(base(kind) | PASS_EMBEDDED, c.passChecks(), "the outer dispatch still runs");
        fds.embeddedDispatch(false);
        assertEquals(base(kind), c.passChecks());
        assertEquals(base(kind) != 0, fds.passNeedsChecks());
    }

    private static FdHandlers fdsOf(AioContext c) {
        try {
            java.lang.reflect.Field f = AioContext.class.getDeclaredField("fds");
            f.setAccessible(true);
            return (FdHandlers) f.get(c);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }
}
