package io.jaio.linux;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.function.Consumer;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The typed prep helpers write the bytes liburing's {@code io_uring_prep_*} write, at the offsets
 * of {@code struct io_uring_sqe} (<uapi/linux/io_uring.h>), spelled here as literals so a wrong
 * constant in {@link SubmissionQueue} fails. No kernel: the queue runs over plain native memory.
 */
class SqePrepTest {
    private static final int ENTRIES = 4;
    private Arena arena;
    private MemorySegment ring;
    private MemorySegment sqes;
    private SubmissionQueue sq;

    @BeforeEach
    void setUp() {
        arena = Arena.ofConfined();
        // A fake SQ ring: head 0, tail 4, mask 8, entries 12, flags 16, array from 32.
        ring = arena.allocate(32 + 4L * ENTRIES, 8);
        ring.set(JAVA_INT, 8, ENTRIES - 1);
        ring.set(JAVA_INT, 12, ENTRIES);
        sqes = arena.allocate(64L * ENTRIES, 64);
        sq = new SubmissionQueue(ring, 0, 4, 8, 12, 16, 32, sqes);
    }

    @AfterEach
    void tearDown() {
        arena.close();
    }

    /** A fresh entry (as nextSqe gives) after garbage was left in its slot, filled by {@code prep}. */
    private byte[] prepared(Consumer<Integer> prep) {
        sqes.fill((byte) 0xA5);
        int slot = sq.next();
        ring.set(JAVA_INT, 0, ring.get(JAVA_INT, 0) + 1); // the "kernel" consumes it: never full
        prep.accept(slot);
        return sqes.asSlice(64L * slot, 64).toArray(JAVA_BYTE);
    }

    /** The expected entry: the listed fields at their uapi offsets, every other byte zero. */
    private static final class Expect {
        final ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);

        Expect(int opcode) {
            b.put(0, (byte) opcode);
        }

        Expect fd(int v) { b.putInt(4, v); return this; }
        Expect off(long v) { b.putLong(8, v); return this; }
        Expect addr(long v) { b.putLong(16, v); return this; }
        Expect len(int v) { b.putInt(24, v); return this; }
        Expect opFlags(int v) { b.putInt(28, v); return this; }
        Expect userData(long v) { b.putLong(32, v); return this; }
        Expect sqeFlags(int v) { b.put(1, (byte) v); return this; }

        byte[] bytes() {
            return b.array();
        }
    }

    @Test
    void nextZeroesTheWholeEntry() {
        assertArrayEquals(new byte[64], prepared(slot -> { }));
    }

    @Test
    void nop() {
        assertArrayEquals(new Expect(0).bytes(), prepared(sq::prepNop));
    }

    @Test
    void readAndWriteCarryBufferLengthOffsetAndRwFlags() {
        assertArrayEquals(new Expect(22).fd(7).addr(0x1000_2000L).len(4096).off(1L << 40).bytes(),
                prepared(i -> sq.prepRw(i, IoUring.IORING_OP_READ, 7, 0x1000_2000L, 4096, 1L << 40, 0)));
        assertArrayEquals(new Expect(23).fd(9).addr(0x3000L).len(512).off(8192).opFlags(FileSys.RWF_DSYNC).bytes(),
                prepared(i -> sq.prepRw(i, IoUring.IORING_OP_WRITE, 9, 0x3000L, 512, 8192, FileSys.RWF_DSYNC)));
        assertArrayEquals(new Expect(1).fd(3).addr(0x4000L).len(2).off(-1).bytes(),
                prepared(i -> sq.prepRw(i, IoUring.IORING_OP_READV, 3, 0x4000L, 2, -1, 0)));
        assertArrayEquals(new Expect(2).fd(3).addr(0x4000L).len(16).off(0).bytes(),
                prepared(i -> sq.prepRw(i, IoUring.IORING_OP_WRITEV, 3, 0x4000L, 16, 0, 0)));
    }

    @Test
    void fsyncPutsItsFlagsInTheOpFlagsWord() {
        assertArrayEquals(new Expect(3).fd(11).opFlags(1).bytes(),
                prepared(i -> sq.prepFsync(i, 11, IoUring.IORING_FSYNC_DATASYNC)));
    }

    @Test
    void fallocateTakesLengthFromAddrAndModeFromLen() {
        int mode = FileSys.FALLOC_FL_PUNCH_HOLE | FileSys.FALLOC_FL_KEEP_SIZE;
        assertArrayEquals(new Expect(17).fd(5).off(65_536).addr(1L << 33).len(3).bytes(),
                prepared(i -> sq.prepFallocate(i, 5, mode, 65_536, 1L << 33)));
    }

    @Test
    void pollAddOneShotAndMultishot() {
        int events = Linux.POLLIN | Linux.POLLOUT;
        assertArrayEquals(new Expect(6).fd(12).opFlags(5).bytes(),
                prepared(i -> sq.prepPollAdd(i, 12, events, false)));
        assertArrayEquals(new Expect(6).fd(12).opFlags(5).len(1).bytes(),
                prepared(i -> sq.prepPollAdd(i, 12, events, true)));
    }

    @Test
    void pollRemoveNamesItsTargetInAddr() {
        long target = UserData.encode(3, 9);
        assertArrayEquals(new Expect(7).addr(target).bytes(), prepared(i -> sq.prepPollRemove(i, target)));
    }

    @Test
    void timeoutPointsAtTheTimespecWithCountInOff() {
        assertArrayEquals(new Expect(11).addr(0xdead_b000L).len(1).off(1).bytes(),
                prepared(i -> sq.prepTimeout(i, 0xdead_b000L, 1, 0)));
        assertArrayEquals(new Expect(11).addr(0xdead_b000L).len(1).off(0xffff_ffffL).opFlags(1).bytes(),
                prepared(i -> sq.prepTimeout(i, 0xdead_b000L, -1, IoUring.IORING_TIMEOUT_ABS)));
    }

    @Test
    void cancelHasNoFdAndTheTargetInAddr() {
        assertArrayEquals(new Expect(14).fd(-1).opFlags(4).bytes(),
                prepared(i -> sq.prepCancel(i, UserData.NONE, IoUring.IORING_ASYNC_CANCEL_ANY)));
        assertArrayEquals(new Expect(14).fd(-1).addr(0x42L).bytes(), prepared(i -> sq.prepCancel(i, 0x42L, 0)));
    }

    @Test
    void userDataAndFlagsGoToTheirOwnFields() {
        assertArrayEquals(new Expect(0).userData(0x1234_5678_9abc_def0L).sqeFlags(IoUring.IOSQE_IO_LINK).bytes(),
                prepared(i -> {
                    sq.prepNop(i);
                    sq.userData(i, 0x1234_5678_9abc_def0L);
                    sq.flags(i, IoUring.IOSQE_IO_LINK);
                }));
    }

    @Test
    void clearWipesAHalfPreparedEntry() {
        assertArrayEquals(new Expect(0).bytes(), prepared(i -> {
            sq.prepRw(i, IoUring.IORING_OP_READ, 7, 0x1000L, 4096, 0, 0);
            sq.flags(i, IoUring.IOSQE_IO_LINK);
            sq.userData(i, 99);
            sq.clear(i);
            sq.prepNop(i);
        }));
    }

    @Test
    void slotsAreSixtyFourBytesApart() {
        sqes.fill((byte) 0);
        int a = sq.next();
        int b = sq.next();
        assertEquals(1, b - a);
        sq.prepRw(b, IoUring.IORING_OP_READ, 7, 0x1000L, 4096, 0, 0);
        assertArrayEquals(new byte[64], sqes.asSlice(64L * a, 64).toArray(JAVA_BYTE), "slot a untouched");
        assertArrayEquals(new Expect(22).fd(7).addr(0x1000L).len(4096).bytes(),
                sqes.asSlice(64L * b, 64).toArray(JAVA_BYTE));
    }

    @Test
    void timespecSplitsSecondsAndNanoseconds() {
        try (KernelTimespec ts = new KernelTimespec()) {
            ts.set(3_000_000_123L);
            assertEquals(3, ts.seconds());
            assertEquals(123, ts.nanos());
            MemorySegment raw = MemorySegment.ofAddress(ts.address()).reinterpret(KernelTimespec.SIZE);
            assertEquals(3L, raw.get(java.lang.foreign.ValueLayout.JAVA_LONG, 0));
            assertEquals(123L, raw.get(java.lang.foreign.ValueLayout.JAVA_LONG, 8));
            ts.set(999_999_999L);
            assertEquals(0, ts.seconds());
            assertEquals(999_999_999L, ts.nanos());
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(
                    IllegalArgumentException.class, () -> ts.set(-1));
            assertEquals("timespec must be >= 0 ns, got -1", e.getMessage());
        }
    }
}
