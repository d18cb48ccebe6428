package io.jaio.block;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Dirty bitmaps: bits, runs, merge, checkpoint, and the sidecar's in-use rule. */
class DirtyBitmapTest {
    private static final long MB = 1 << 20;

    @TempDir
    Path dir;

    @Test
    void marksWholeChunksAndReportsRuns() {
        DirtyBitmap b = new DirtyBitmap("b", 10 * MB + 100, 65536);
        b.mark(65536 + 1, 1); // one byte dirties its 64 KiB chunk
        b.mark(MB - 1, 2);    // straddles two chunks
        b.mark(10 * MB + 50, 1000); // the short last chunk, clamped
        assertTrue(b.isDirty(65536) && b.isDirty(2 * 65536 - 1));
        assertFalse(b.isDirty(0));
        assertFalse(b.isDirty(2 * 65536));
        assertEquals(65536, b.runLength(0, 10 * MB));
        assertEquals(65536, b.runLength(65536, 10 * MB));
        assertEquals(MB - 65536 - 2 * 65536, b.runLength(2 * 65536, 10 * MB));
        assertEquals(2 * 65536, b.runLength(MB - 65536, 10 * MB));
        assertEquals(1000, b.runLength(2 * 65536, 1000), "cut at max");
        assertEquals(100, b.runLength(10 * MB, 10 * MB), "cut at the end of the image");
        assertEquals(3 * 65536 + 100, b.dirtyBytes());
        assertEquals(0, b.runLength(10 * MB + 100, 1));
        // A run over many words.
        DirtyBitmap big = new DirtyBitmap("big", 1L << 40, 65536);
        big.set(0, 1L << 39);
        assertEquals(1L << 39, big.runLength(0, 1L << 40));
        assertEquals(1L << 39, big.runLength(1L << 39, 1L << 40));
        b.setEnabled(false);
        b.mark(0, 1);
        assertFalse(b.isDirty(0), "a disabled bitmap records nothing");
        b.clear();
        assertEquals(0, b.dirtyBytes());
    }

    @Test
    void mergeAndChecks() {
        DirtyBitmap a = new DirtyBitmap("a", 4 * MB, 65536);
        DirtyBitmap c = new DirtyBitmap("c", 4 * MB, 65536);
        a.set(0, 65536);
        c.set(3 * MB, 65536);
        a.merge(c);
        assertEquals(2 * 65536, a.dirtyBytes());
        assertThrows(IllegalArgumentException.class, () -> a.merge(new DirtyBitmap("x", 4 * MB, 512)));
        assertThrows(IllegalArgumentException.class, () -> new DirtyBitmap("", 1, 65536));
        assertThrows(IllegalArgumentException.class, () -> new DirtyBitmap("n", 1, 1000));
        assertThrows(IllegalArgumentException.class, () -> new DirtyBitmap("n", 1, 256));
    }

    @Test
    void checkpointFreezesGenerationNAndStartsNPlusOne() {
        DirtyBitmaps s = DirtyBitmaps.inMemory(4 * MB);
        s.add("backup", 65536);
        s.mark(0, 4096);
        DirtyBitmap frozen = s.checkpoint("backup");
        assertEquals("backup@0", frozen.name());
        assertFalse(frozen.isEnabled());
        s.mark(MB, 4096);
        assertTrue(frozen.isDirty(0));
        assertFalse(frozen.isDirty(MB), "writes after the checkpoint are not in generation 0");
        DirtyBitmap next = s.get("backup");
        assertEquals(1, next.generation());
        assertFalse(next.isDirty(0));
        assertTrue(next.isDirty(MB));
        assertEquals(List.of("backup", "backup@0"), s.list().stream().map(DirtyBitmap::name).toList());
        s.remove("backup@0");
        assertEquals("backup@1", s.checkpoint("backup").name());
        assertThrows(IllegalArgumentException.class, () -> s.checkpoint("nope"));
        // merge / enable / disable / clear by name.
        s.add("other", 65536);
        s.disable("other");
        s.mark(2 * MB, 1);
        assertFalse(s.get("other").isDirty(2 * MB));
        s.enable("other");
        s.merge("other", List.of("backup@1"));
        assertTrue(s.get("other").isDirty(MB));
        s.clear("other");
        assertEquals(0, s.get("other").dirtyBytes());
        assertThrows(IllegalArgumentException.class, () -> s.add("other", 65536));
    }

    /**
     * Four threads mark disjoint chunks (as IOThreads serving one export do) while the main
     * thread takes checkpoints: every mark is in some generation - none falls between N and N+1.
     */
    @Test
    void marksRacingWithCheckpointsAreNeverLost() throws Exception {
        int chunks = 1 << 14;
        DirtyBitmaps s = DirtyBitmaps.inMemory((long) chunks * 65536);
        s.add("b", 65536);
        java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
        List<Thread> threads = new java.util.ArrayList<>();
        for (int t = 0; t < 4; t++) {
            int id = t;
            threads.add(Thread.ofPlatform().start(() -> {
                try {
                    go.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int c = id; c < chunks; c += 4) {
                    s.mark((long) c * 65536, 1);
                }
            }));
        }
        go.countDown();
        List<DirtyBitmap> frozen = new java.util.ArrayList<>();
        for (int i = 0; i < 200; i++) {
            frozen.add(s.checkpoint("b"));
        }
        for (Thread t : threads) {
            t.join();
        }
        frozen.add(s.get("b"));
        for (int c = 0; c < chunks; c++) {
            boolean found = false;
            for (DirtyBitmap f : frozen) {
                found |= f.isDirty((long) c * 65536);
            }
            assertTrue(found, "chunk " + c + " marked in no generation");
        }
        assertEquals(201, s.list().size());
    }

    @Test
    void aCleanCloseKeepsTheBitsAndACrashMakesThemInconsistent() throws Exception {
        Path image = dir.resolve("disk.raw");
        Path car = DirtyBitmaps.sidecarFor(image);
        assertEquals(dir.resolve("disk.raw.bitmaps"), car);
        DirtyBitmaps s = DirtyBitmaps.open(car, 8 * MB);
        assertTrue(Files.exists(car), "marked in use at once");
        s.add("backup", 65536).mark(MB, 10);
        s.add("off", 1 << 20).setEnabled(false);
        s.close();
        DirtyBitmaps t = DirtyBitmaps.open(car, 8 * MB);
        DirtyBitmap b = t.get("backup");
        assertFalse(b.isInconsistent());
        assertEquals(65536, b.dirtyBytes());
        assertTrue(b.isDirty(MB));
        assertFalse(t.get("off").isEnabled());
        assertEquals(1 << 20, t.get("off").granularity());
        // Killed without close (persist() keeps IN_USE): the next open must not trust the bits.
        t.mark(4 * MB, 1);
        t.persist();
        DirtyBitmaps after = DirtyBitmaps.open(car, 8 * MB);
        DirtyBitmap c = after.get("backup");
        assertTrue(c.isInconsistent());
        assertTrue(c.isDirty(0) && c.isDirty(7 * MB), "reads as all dirty");
        assertEquals(8 * MB, c.runLength(0, 8 * MB));
        after.clear("backup");
        assertFalse(after.get("backup").isInconsistent());
        after.close();
        // An image resized outside: every bitmap is kept, resized and inconsistent (all dirty),
        // with its settings; cleared, it is an ordinary bitmap of the new size.
        DirtyBitmaps other = DirtyBitmaps.open(car, 16 * MB);
        DirtyBitmap grown = other.get("backup");
        assertNotNull(grown, "a resize must not drop the bitmap");
        assertTrue(grown.isInconsistent());
        assertEquals(16 * MB, grown.runLength(0, 16 * MB), "reads as all dirty, new area included");
        assertFalse(other.get("off").isEnabled());
        assertEquals(1 << 20, other.get("off").granularity());
        assertTrue(other.get("off").isInconsistent());
        other.clear("backup");
        other.mark(9 * MB, 1);
        assertEquals(65536, other.get("backup").dirtyBytes());
        other.close();
        DirtyBitmaps reopened = DirtyBitmaps.open(car, 16 * MB);
        assertFalse(reopened.get("backup").isInconsistent(), "a clean close at the new size is trusted");
        assertEquals(65536, reopened.get("backup").dirtyBytes());
        assertTrue(reopened.get("off").isDirty(0), "an inconsistent bitmap is persisted all dirty");
        reopened.close();
        Files.writeString(car, "not a sidecar");
        assertThrows(UncheckedIOException.class, () -> DirtyBitmaps.open(car, 8 * MB));
        DirtyBitmaps closed = DirtyBitmaps.inMemory(MB);
        closed.close();
        assertThrows(IllegalStateException.class, () -> closed.add("x", 65536));
    }
}
