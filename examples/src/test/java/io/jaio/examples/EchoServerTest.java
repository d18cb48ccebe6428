package io.jaio.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Runs {@link EchoServer#main} for one connection and talks to it with a plain JDK socket. */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class EchoServerTest {

    @Test
    void theServerEchoesAClientsLinesAndStopsAfterTheConnection() throws Exception {
        try (StdoutCapture out = new StdoutCapture()) {
            AtomicReference<Throwable> failed = new AtomicReference<>();
            Thread server = Thread.ofPlatform().name("echo-server-main").start(() -> {
                try {
                    EchoServer.main(new String[] {"0", "1"});
                } catch (Throwable t) {
                    failed.set(t);
                    System.out.println("server failed: " + t); // ends the wait below too
                }
            });
            String port = out.await(Pattern.compile("(?:listening on 127\\.0\\.0\\.1:(\\d+)|server failed: .*)"));
            assertNull(failed.get(), () -> "the server failed: " + failed.get());
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), Integer.parseInt(port))) {
                OutputStream o = s.getOutputStream();
                BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
                o.write("hello jaio\n".getBytes(StandardCharsets.UTF_8));
                assertEquals("hello jaio", in.readLine());
                o.write("second line\n".getBytes(StandardCharsets.UTF_8));
                assertEquals("second line", in.readLine());
                s.shutdownOutput();
                assertEquals(-1, in.read(), "the server closes after the client's EOF");
            }
            server.join();
            assertNull(failed.get(), () -> "the server failed: " + failed.get());
            assertTrue(out.text().contains("connection closed after echoing 23 bytes"), out.text());
        }
    }
}
