package io.jaio.block;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A process killed with SIGKILL leaves its bitmaps marked invalid; a clean close does not. */
class DirtyBitmapCrashTest {
    @TempDir
    Path dir;

    private static Process start(Path car, String... more) throws Exception {
        String cp = System.getProperty("java.class.path", "");
        String mp = System.getProperty("jdk.module.path", "");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", mp.isEmpty() ? cp : cp + File.pathSeparator + mp, BitmapCrashMain.class.getName(),
                car.toString()));
        cmd.addAll(List.of(more));
        return new ProcessBuilder(cmd).redirectErrorStream(true).start();
    }

    @Test
    void sigkillLeavesTheBitmapInconsistentNeverStale() throws Exception {
        Path car = dir.resolve("disk.raw.bitmaps");
        Process p = start(car);
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
            assertEquals("ready", r.readLine());
            p.destroyForcibly(); // SIGKILL
            assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        }
        assertEquals(137, p.exitValue(), "killed by SIGKILL");
        DirtyBitmaps after = DirtyBitmaps.open(car, 8 << 20);
        DirtyBitmap b = after.get("b");
        assertTrue(b.isInconsistent(), "a bitmap that may have missed writes is not trusted");
        assertTrue(b.isDirty(0) && b.isDirty((8 << 20) - 1));
        after.close();

        Path clean = dir.resolve("clean.raw.bitmaps");
        Process q = start(clean, "close");
        assertTrue(q.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, q.exitValue(), new String(q.getInputStream().readAllBytes()));
        DirtyBitmaps ok = DirtyBitmaps.open(clean, 8 << 20);
        DirtyBitmap c = ok.get("b");
        assertFalse(c.isInconsistent());
        assertFalse(c.isDirty(0));
        assertTrue(c.isDirty(65536) && c.isDirty(65536 + (1 << 20) - 1));
        assertEquals(1 << 20, c.dirtyBytes());
        ok.close();
    }
}
