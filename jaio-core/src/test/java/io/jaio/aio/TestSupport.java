package io.jaio.aio;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** Small static helpers shared by the test classes. */
final class TestSupport {

    private TestSupport() {}

    /** Number of entries in /proc/self/fd (the listing's own directory fd included, consistently). */
    static long openFdCount() {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The open fds with their link targets, for a readable failure message. */
    static List<String> openFdTargets() {
        List<String> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            for (Path p : (Iterable<Path>) s::iterator) {
                String target;
                try {
                    target = Files.readSymbolicLink(p).toString();
                } catch (IOException e) {
                    target = "?";
                }
                out.add(p.getFileName() + " -> " + target);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    /** Busy-wait for at least {@code ns} nanoseconds (used to make a measured interval non-trivial). */
    static void spinNs(long ns) {
        long end = System.nanoTime() + ns;
        while (System.nanoTime() - end < 0) {
            Thread.onSpinWait();
        }
    }

    /** A started daemon platform thread. */
    static Thread startThread(String name, Runnable body) {
        return Thread.ofPlatform().daemon().name(name).start(body);
    }

    /** Sleep in a helper thread of a bounded cross-thread test. */
    static void sleepMs(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Join with a bound; returns whether the thread ended. */
    static boolean join(Thread t, long ms) {
        try {
            t.join(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return !t.isAlive();
    }
}
