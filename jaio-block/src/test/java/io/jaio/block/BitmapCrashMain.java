package io.jaio.block;

import java.nio.file.Path;

/**
 * A process for {@link DirtyBitmapCrashTest}: opens a sidecar, adds bitmap "b", marks 1 MiB at
 * 64 KiB, persists, then either closes cleanly ({@code close}) or prints "ready" and waits to be
 * killed.
 */
public final class BitmapCrashMain {
    private BitmapCrashMain() {}

    public static void main(String[] args) throws Exception {
        DirtyBitmaps b = DirtyBitmaps.open(Path.of(args[0]), 8 << 20);
        b.add("b", 65536).mark(65536, 1 << 20);
        b.persist();
        if (args.length > 1 && args[1].equals("close")) {
            b.close();
            return;
        }
        System.out.println("ready");
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
