package io.jaio.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A QMP client that sends commands but never reads cannot stall the daemon: another client's
 * export removals still complete and their BLOCK_EXPORT_DELETED events (emitted by the control
 * executor to every client, the silent one included) still arrive, and the silent client is
 * disconnected once its unsent output passes QmpMonitor.MAX_PENDING. Before output went through a
 * per-client queue, the control executor blocked in the silent client's socket write and no
 * further removal completed.
 */
class QmpSlowClientTest {
    @TempDir
    Path dir;

    @Test
    void aClientThatDoesNotReadStallsNobody() throws Exception {
        Path img = Images.sparse(dir, "a.img", 4 << 20);
        try (QmpDaemon d = QmpDaemon.start(QmpDaemon.Kind.JAIO, dir, 1,
                     "--blockdev", "driver=file,node-name=a,filename=" + img,
                     "--nbd-server", "addr.type=unix,addr.path=" + dir.resolve("nbd.sock"));
             QmpClient silent = QmpClient.negotiated(d.monitors.get(0));
             QmpClient busy = QmpClient.negotiated(d.monitors.get(0))) {
            int replyBytes = silent.raw("{\"execute\": \"query-commands\"}\n").toString().length();
            // Enough commands that their replies pass MAX_PENDING plus what the socket buffers hold.
            int n = (int) ((QmpMonitor.MAX_PENDING + (8 << 20)) / replyBytes) + 1;
            String flood = "{\"execute\": \"query-commands\"}\n".repeat(n);
            CompletableFuture<Void> sent = CompletableFuture.runAsync(() -> silent.sendRaw(flood));

            for (int round = 0; round < 3; round++) {
                busy.ok("block-export-add", "{\"type\": \"nbd\", \"id\": \"e\", \"node-name\": \"a\"}");
                busy.ok("block-export-del", "{\"id\": \"e\"}");
                assertEquals(Map.of("id", "e"), busy.awaitEvent("BLOCK_EXPORT_DELETED").get("data"));
            }
            assertEquals(List.of(), busy.ok("query-block-exports", null));

            // The flood ends written, or broken off by the daemon's disconnect (EPIPE): either is fine.
            sent.handle((v, e) -> null).get(120, TimeUnit.SECONDS);
            // The silent client was cut off: what it finally reads ends in EOF, short of n replies.
            int replies = 0;
            while (silent.readLine() != null) {
                replies++;
            }
            assertTrue(replies < n, replies + " of " + n + " replies");
            // And it did not take the monitor with it.
            try (QmpClient later = QmpClient.negotiated(d.monitors.get(0))) {
                assertEquals(List.of(), later.ok("query-block-exports", null));
            }
        }
    }
}
