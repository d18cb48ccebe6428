package io.jaio.daemon;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;

/** The daemon tests' one image fixture. */
final class Images {
    private Images() {}

    /** A sparse raw image {@code dir/name} of {@code size} bytes (all zeros, nothing allocated). */
    static Path sparse(Path dir, String name, long size) throws IOException {
        Path p = dir.resolve(name);
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(size);
        }
        return p;
    }
}
