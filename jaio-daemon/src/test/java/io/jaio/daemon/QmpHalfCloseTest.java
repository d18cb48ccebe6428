package io.jaio.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A script that writes its commands and then half-closes the socket ({@code socat},
 * {@code nc -N}, {@code printf ... | socat - UNIX:qmp.sock}) still reads every reply, as from
 * qemu-storage-daemon: the daemon's EOF on input ends the session only after the replies to what
 * was read are written. The monitor used to close the whole socket when its reader saw EOF, so
 * such a client got the greeting and then nothing.
 */
class QmpHalfCloseTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(QmpDaemon.Kind.class)
    void repliesToEverythingSentBeforeHalfClose(QmpDaemon.Kind kind) throws Exception {
        Path img = Images.sparse(dir, "a.img", 4 << 20);
        try (QmpDaemon d = QmpDaemon.start(kind, dir, 1,
                     "--blockdev", "driver=file,node-name=a,filename=" + img);
             QmpClient c = QmpClient.connect(d.monitors.get(0))) {
            c.sendRaw("{\"execute\": \"qmp_capabilities\", \"id\": 1}\n"
                    + "{\"execute\": \"query-block-exports\", \"id\": 2}\n"
                    + "{\"execute\": \"no-such-command\", \"id\": 3}\n"
                    + "{\"execute\": \"query-block-exports\", \"id\": 4}\n");
            c.shutdownOutput();
            assertEquals(Map.of("return", Map.of(), "id", 1L), c.reply());
            assertEquals(Map.of("return", List.of(), "id", 2L), c.reply());
            Map<String, Object> err = c.reply();
            assertEquals(3, ((Number) err.get("id")).intValue(), String.valueOf(err));
            assertEquals("CommandNotFound", ((Map<?, ?>) err.get("error")).get("class"), String.valueOf(err));
            assertEquals(Map.of("return", List.of(), "id", 4L), c.reply());
            assertNull(c.readLine(), "the daemon closes after the last reply");
            // The monitor serves the next client as before.
            try (QmpClient later = QmpClient.negotiated(d.monitors.get(0))) {
                assertEquals(List.of(), later.ok("query-block-exports", null));
            }
        }
    }
}
