package io.jaio.examples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Runs {@link FileCopy#main} on a temporary file: the copy has the source's bytes, the line says how many. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FileCopyTest {
    @TempDir
    Path dir;

    @Test
    void copiesEveryByteAndSaysHowMany() throws Exception {
        byte[] data = new byte[3 * (1 << 20) + 12_345]; // several chunks, the last one partial
        new Random(14).nextBytes(data);
        Path src = dir.resolve("src.bin");
        Path dst = dir.resolve("dst.bin");
        Files.write(src, data);
        Files.write(dst, new byte[5 << 20]);           // longer than the source: must be truncated

        String out;
        try (StdoutCapture captured = new StdoutCapture()) {
            FileCopy.main(new String[] {src.toString(), dst.toString()});
            out = captured.text().strip();
        }
        assertTrue(out.matches("copied " + data.length + " bytes in \\d+ ms \\(engine (io_uring|thread_pool|inline)\\)"), out);
        assertArrayEquals(data, Files.readAllBytes(dst));
    }
}
