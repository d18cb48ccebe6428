package io.jaio.examples;

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Replaces {@link System#out} until closed and keeps what is printed, so a test can run an
 * example's {@code main} in-process and check its output, or wait for a line it prints from
 * another thread. Surefire runs the test classes one at a time, so swapping System.out is safe.
 */
final class StdoutCapture implements AutoCloseable {
    private final PrintStream saved = System.out;
    private final StringBuilder text = new StringBuilder(); // guarded by itself; notified on append

    StdoutCapture() {
        OutputStream sink = new OutputStream() {
            @Override
            public void write(int b) {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                saved.write(b, off, len); // still visible in the test log
                synchronized (text) {
                    text.append(new String(b, off, len, StandardCharsets.UTF_8));
                    text.notifyAll();
                }
            }
        };
        System.setOut(new PrintStream(sink, true, StandardCharsets.UTF_8));
    }

    /** Everything printed so far. */
    String text() {
        synchronized (text) {
            return text.toString();
        }
    }

    /** The lines printed so far. */
    List<String> lines() {
        return Arrays.asList(text().split("\n"));
    }

    /**
     * Waits until the output matches {@code p} and returns its first group (the test's
     * {@code @Timeout} bounds the wait).
     */
    String await(Pattern p) throws InterruptedException {
        synchronized (text) {
            for (;;) {
                Matcher m = p.matcher(text);
                if (m.find()) {
                    return m.group(1);
                }
                text.wait();
            }
        }
    }

    @Override
    public void close() {
        System.out.flush();
        System.setOut(saved);
    }
}
