package io.jaio.nbd;

import io.jaio.aio.IoThread;
import org.junit.jupiter.api.Test;
import java.net.UnixDomainSocketAddress;
import java.nio.file.*;

class TmpPerfTest {
    @Test
    void perf() throws Exception {
        Path dir = Files.createTempDirectory("perf");
        try (IoThread io = IoThread.start("perf")) {
            MemoryBackend disk = new MemoryBackend(256 << 20);
            NbdServer server = NbdServer.builder(io.context()).export(NbdExport.builder("disk", disk).build()).build();
            Path sock = dir.resolve("s");
            server.listen(UnixDomainSocketAddress.of(sock));
            for (String rw : new String[] {"randread", "randwrite"}) {
              for (String qd : new String[] {"1", "32"}) {
                Process p = new ProcessBuilder("fio", "--name=p", "--ioengine=nbd", "--uri=nbd+unix:///disk?socket=" + sock,
                    "--rw=" + rw, "--bs=4k", "--size=256M", "--iodepth=" + qd, "--time_based", "--runtime=4", "--group_reporting")
                    .redirectErrorStream(true).start();
                String out = new String(p.getInputStream().readAllBytes());
                p.waitFor();
                for (String l : out.split("\n")) if (l.contains("IOPS") || l.contains("lat (usec)") && l.contains("avg")) System.out.println(rw + " qd" + qd + ": " + l.trim());
              }
            }
            server.close();
        }
    }
}
