package io.jaio.linux;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The typed prep helpers against the kernel: each request does what its opcode promises. */
class IoUringPrepTest {
    private IoUring ring;
    private Arena arena;
    private final Map<Long, int[]> cqes = new HashMap<>();

    @BeforeEach
    void setUp() {
        try {
            ring = IoUring.create(8, IoUring.IORING_SETUP_CLAMP);
        } catch (NativeException e) {
            assumeTrue(false, "io_uring unavailable: " + e.getMessage());
        }
        arena = Arena.ofConfined();
    }

    @AfterEach
    void tearDown() {
        if (ring != null) {
            ring.close();
            arena.close();
        }
    }

    private int slot() {
        int i = ring.nextSqe();
        assertTrue(i >= 0, "ring has room");
        return i;
    }

    /** Submits, then reaps until {@code n} completions are in {@link #cqes}: {res, flags} by user_data. */
    private void await(int n) {
        ring.submit();
        while (cqes.size() < n) {
            ring.enter(1);
            ring.drain((ud, res, fl) -> assertEquals(null, cqes.put(ud, new int[] {res, fl}), "one CQE per ud"));
        }
    }

    private int res(long ud) {
        return cqes.get(ud)[0];
    }

    @Test
    void nopCompletesWithItsUserData() {
        long ud = UserData.encode(5, 77);
        int i = slot();
        ring.prepNop(i);
        ring.sqeUserData(i, ud);
        await(1);
        assertEquals(0, res(ud));
        assertEquals(5, UserData.slot(cqes.keySet().iterator().next()));
        assertEquals(77, UserData.generation(cqes.keySet().iterator().next()));
    }

    @Test
    void writeReadFsyncFallocateOnAFile(@TempDir Path dir) {
        int fd = Linux.open(dir.resolve("f").toString(), Linux.O_RDWR | Linux.O_CREAT | Linux.O_CLOEXEC, 0600);
        try {
            byte[] data = "typed helpers".getBytes(StandardCharsets.US_ASCII);
            MemorySegment out = arena.allocateFrom(JAVA_BYTE, data);
            MemorySegment in = arena.allocate(data.length);
            int i = slot();
            ring.prepWrite(i, fd, out.address(), data.length, 4096, 0);
            ring.sqeUserData(i, 1);
            await(1);
            assertEquals(data.length, res(1));
            i = slot();
            ring.prepRead(i, fd, in.address(), data.length, 4096, 0);
            ring.sqeUserData(i, 2);
            i = slot();
            ring.prepFsync(i, fd, IoUring.IORING_FSYNC_DATASYNC);
            ring.sqeUserData(i, 3);
            await(3);
            assertEquals(data.length, res(2));
            assertArrayEquals(data, in.toArray(JAVA_BYTE));
            assertEquals(0, res(3));

            // Punch the bytes out: the file keeps its size, the range reads back as zeroes.
            i = slot();
            ring.prepFallocate(i, fd, FileSys.FALLOC_FL_PUNCH_HOLE | FileSys.FALLOC_FL_KEEP_SIZE, 4096, 4096);
            ring.sqeUserData(i, 4);
            await(4);
            assumeTrue(res(4) != -Linux.EOPNOTSUPP, "file system cannot punch holes");
            assertEquals(0, res(4));
            assertEquals(4096 + data.length, FileSys.lseek(fd, 0, FileSys.SEEK_END));
            assertEquals(data.length, FileSys.pread(fd, in.address(), data.length, 4096));
            assertArrayEquals(new byte[data.length], in.toArray(JAVA_BYTE));
        } finally {
            Linux.close(fd);
        }
    }

    @Test
    void writevAndReadvGatherAndScatter(@TempDir Path dir) {
        int fd = Linux.open(dir.resolve("v").toString(), Linux.O_RDWR | Linux.O_CREAT | Linux.O_CLOEXEC, 0600);
        try {
            MemorySegment a = arena.allocateFrom(JAVA_BYTE, "abc".getBytes(StandardCharsets.US_ASCII));
            MemorySegment b = arena.allocateFrom(JAVA_BYTE, "defgh".getBytes(StandardCharsets.US_ASCII));
            MemorySegment iov = arena.allocate(32, 8); // two struct iovec {base, len}
            iov.set(JAVA_LONG, 0, a.address());
            iov.set(JAVA_LONG, 8, 3);
            iov.set(JAVA_LONG, 16, b.address());
            iov.set(JAVA_LONG, 24, 5);
            int i = slot();
            ring.prepWritev(i, fd, iov.address(), 2, 100, 0);
            ring.sqeUserData(i, 1);
            await(1);
            assertEquals(8, res(1));

            MemorySegment x = arena.allocate(5);
            MemorySegment y = arena.allocate(3);
            iov.set(JAVA_LONG, 0, x.address());
            iov.set(JAVA_LONG, 8, 5);
            iov.set(JAVA_LONG, 16, y.address());
            iov.set(JAVA_LONG, 24, 3);
            i = slot();
            ring.prepReadv(i, fd, iov.address(), 2, 100, 0);
            ring.sqeUserData(i, 2);
            await(2);
            assertEquals(8, res(2));
            assertEquals("abcde", new String(x.toArray(JAVA_BYTE), StandardCharsets.US_ASCII));
            assertEquals("fgh", new String(y.toArray(JAVA_BYTE), StandardCharsets.US_ASCII));
        } finally {
            Linux.close(fd);
        }
    }

    @Test
    void pollAddReportsReadinessAndPollRemoveWithdrawsIt() {
        int[] p = Linux.pipe2(Linux.O_CLOEXEC | Linux.O_NONBLOCK);
        try {
            long empty = UserData.encode(0, 1);
            int i = slot();
            ring.prepPollAdd(i, p[0], Linux.POLLIN, false);
            ring.sqeUserData(i, empty);
            ring.submit();
            i = slot();
            ring.prepPollRemove(i, empty);
            ring.sqeUserData(i, UserData.NONE);
            await(2);
            assertEquals(-Linux.ECANCELED, res(empty));
            assertEquals(0, res(UserData.NONE));

            assertEquals(1, Linux.write(p[1], new byte[] {42}));
            long ready = UserData.encode(1, 1);
            i = slot();
            ring.prepPollAdd(i, p[0], Linux.POLLIN, false);
            ring.sqeUserData(i, ready);
            await(3);
            assertEquals(Linux.POLLIN, res(ready));
            assertEquals(0, cqes.get(ready)[1] & IoUring.IORING_CQE_F_MORE, "one-shot");
        } finally {
            Linux.close(p[0]);
            Linux.close(p[1]);
        }
    }

    @Test
    void multishotPollStaysArmed() {
        assumeTrue((ring.features() & IoUring.IORING_FEAT_RSRC_TAGS) != 0, "multishot poll needs Linux 5.13");
        int[] p = Linux.pipe2(Linux.O_CLOEXEC | Linux.O_NONBLOCK);
        try {
            assertEquals(1, Linux.write(p[1], new byte[] {42}));
            long ud = UserData.encode(2, 3);
            int i = slot();
            ring.prepPollAdd(i, p[0], Linux.POLLIN, true);
            ring.sqeUserData(i, ud);
            await(1);
            assertEquals(Linux.POLLIN, res(ud));
            assertNotEquals(0, cqes.get(ud)[1] & IoUring.IORING_CQE_F_MORE, "still armed");
            cqes.clear();
            i = slot();
            ring.prepCancel(i, ud, 0);
            ring.sqeUserData(i, UserData.NONE);
            await(2);
            assertEquals(-Linux.ECANCELED, res(ud));
            assertEquals(0, res(UserData.NONE));
        } finally {
            Linux.close(p[0]);
            Linux.close(p[1]);
        }
    }

    @Test
    void timeoutExpiresWithEtimeAndCountZero() {
        try (KernelTimespec ts = new KernelTimespec().set(1_000_000L)) {
            int i = slot();
            ring.prepTimeout(i, ts, 0, 0);
            ring.sqeUserData(i, 9);
            await(1);
            assertEquals(-Linux.ETIME, res(9));
        }
    }

    @Test
    void timeoutWithCountOneEndsAtTheNextCompletion() {
        try (KernelTimespec ts = new KernelTimespec().set(3_600_000_000_000L)) { // an hour: never expires
            int i = slot();
            ring.prepTimeout(i, ts, 1, 0);
            ring.sqeUserData(i, 9);
            ring.submit();
            i = slot();
            ring.prepNop(i);
            ring.sqeUserData(i, 10);
            await(2);
            assertEquals(0, res(10));
            assertEquals(0, res(9), "count reached: completes with 0, not -ETIME");
        }
    }

    @Test
    void cancelAnyEndsEveryRequest() {
        assumeTrue(ring.supports(IoUring.IORING_OP_ASYNC_CANCEL), "ASYNC_CANCEL");
        int[] p = Linux.pipe2(Linux.O_CLOEXEC | Linux.O_NONBLOCK);
        try {
            for (int s = 0; s < 3; s++) {
                int i = slot();
                ring.prepPollAdd(i, p[0], Linux.POLLIN, false);
                ring.sqeUserData(i, UserData.encode(s, 0));
            }
            ring.submit();
            int i = slot();
            ring.prepCancel(i, UserData.NONE, IoUring.IORING_ASYNC_CANCEL_ANY);
            ring.sqeUserData(i, UserData.NONE);
            ring.submit();
            while (!cqes.containsKey(UserData.NONE)) { // an old kernel refuses the flag: nothing ends
                await(cqes.size() + 1);
            }
            assumeTrue(res(UserData.NONE) != -Linux.EINVAL, "IORING_ASYNC_CANCEL_ANY needs Linux 5.19");
            await(4);
            assertEquals(3, res(UserData.NONE), "cancelled count");
            for (int s = 0; s < 3; s++) {
                assertEquals(-Linux.ECANCELED, res(UserData.encode(s, 0)));
            }
        } finally {
            Linux.close(p[0]);
            Linux.close(p[1]);
        }
    }
}
