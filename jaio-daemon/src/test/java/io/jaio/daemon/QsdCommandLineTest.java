package io.jaio.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.jaio.nbd.NbdClient;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** qemu-storage-daemon's command-line spellings, parsed in-process (no daemon started) and live. */
class QsdCommandLineTest {
    @TempDir
    Path dir;

    private static StorageDaemon cli(List<String> exports, List<String> servers, List<String> objects, List<String> blockdevs,
                                     List<String> chardevs, List<String> monitors) {
        StorageDaemon c = new StorageDaemon(new PrintWriter(new StringWriter()));
        c.exports.addAll(exports);
        c.servers.addAll(servers);
        c.objects.addAll(objects);
        c.blockdevs.addAll(blockdevs);
        c.chardevs.addAll(chardevs);
        c.monitors.addAll(monitors);
        return c;
    }

    private static String error(StorageDaemon c) {
        return assertThrows(IllegalArgumentException.class, () -> DaemonConfig.from(c)).getMessage();
    }

    @Test
    void qsdFormsAreParsed() {
        DaemonConfig c = DaemonConfig.from(cli(
                List.of("type=nbd,id=e0,node-name=n0,name=disk,writable=on,iothread=io1"),
                List.of("addr.type=unix,addr.path=/tmp/x.sock,max-connections=7"),
                List.of("iothread,id=io1,poll-max-ns=100,poll-grow=2"),
                List.of("driver=file,node-name=n0,filename=/tmp/x.img,cache.direct=on"),
                List.of("socket,id=m0,path=/tmp/m.sock,server=on,wait=off"),
                List.of("chardev=m0", "unix=/tmp/m2.sock")));
        assertEquals(List.of(new Specs.IoThreadSpec("io1", 100, 2, 0)), c.iothreads());
        assertEquals(List.of(Map.of("type", "nbd", "id", "e0", "node-name", "n0", "name", "disk", "writable", "on",
                "iothread", "io1")), c.qsdExports());
        assertEquals(List.of(Map.of("driver", "file", "node-name", "n0", "filename", "/tmp/x.img", "cache.direct", "on")),
                c.blockdevs());
        assertEquals(UnixDomainSocketAddress.of("/tmp/x.sock"), c.listens().get(0).address());
        assertEquals(7, c.maxConnections());
        assertEquals(List.of(Path.of("/tmp/m.sock"), Path.of("/tmp/m2.sock")), c.monitors());
        assertEquals(List.of("io1"), c.exportIoThreads());
    }

    @Test
    void badQsdFormsNameTheirMistake() {
        List<String> none = List.of();
        assertEquals("--monitor: chardev 'nope' not found", error(cli(none, none, none, none, none, List.of("chardev=nope"))));
        assertEquals("--chardev: id=ID and path=PATH are required in 'socket,id=m0'",
                error(cli(none, none, none, none, List.of("socket,id=m0"), List.of("chardev=m0"))));
        assertEquals("--chardev: wait=on is not supported (use wait=off)",
                error(cli(none, none, none, none, List.of("socket,id=m0,path=/tmp/q,server=on,wait=on"), none)));
        assertEquals("--monitor: give exactly one of unix=PATH or chardev=ID, got 'mode=control'",
                error(cli(none, none, none, none, none, List.of("mode=control"))));
        assertEquals("--nbd-server: Parameter 'addr.path' is missing",
                error(cli(List.of("type=nbd,id=e,node-name=n"), List.of("addr.type=unix"), none, none, none, none)));
        assertEquals("--nbd-server: Parameter 'addr.type' does not accept value 'tcp'",
                error(cli(List.of("type=nbd,id=e,node-name=n"), List.of("addr.type=tcp"), none, none, none, none)));
        assertEquals("no --nbd-server given: add --nbd-server unix=PATH or tcp=HOST:PORT",
                error(cli(List.of("type=nbd,id=e,node-name=n"), none, none, none, none, none)));
        assertEquals("--object iothread: unknown key 'bogus' (known: id, poll-max-ns, poll-grow, poll-shrink, poll-contention, fd-monitor)",
                error(cli(none, none, List.of("iothread,id=a,bogus=1"), none, none, List.of("unix=/tmp/q"))));
    }

    @Test
    void aQsdCommandLineServesAndMaxConnectionsRefusesTheExtraClient() throws Exception {
        Path img = Images.sparse(dir, "d.img", 2 << 20);
        Path sock = dir.resolve("nbd.sock");
        try (DaemonProcess d = DaemonProcess.start(dir.resolve("logs"),
                "--object", "iothread,id=io1",
                "--blockdev", "driver=file,node-name=f,filename=" + img + ",aio=io_uring",
                "--blockdev", "driver=raw,node-name=r,file=f",
                "--nbd-server", "addr.type=unix,addr.path=" + sock + ",max-connections=1",
                "--export", "type=nbd,id=e,node-name=r,name=disk,writable=on,iothread=io1")) {
            assertEquals(List.of("nbd+unix:///disk?socket=" + sock), d.uris());
            try (NbdClient c = NbdClient.connect(UnixDomainSocketAddress.of(sock), "disk")) {
                assertEquals(2 << 20, c.size());
                assertThrows(UncheckedIOException.class, () -> NbdClient.connect(UnixDomainSocketAddress.of(sock), "disk"),
                        "a second client is refused: max-connections=1");
                c.write(0, new byte[4096]);
            }
        }
    }
}
