package io.jaio.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The daemon's command line and process behaviour, on a child JVM: bad arguments (exit 2, one
 * stderr line naming the bad part), --help/--version, SIGTERM/SIGINT (exit 0, pidfile and socket
 * removed), TCP port 0, and the no-argument default mode.
 */
@Timeout(180)
class StorageDaemonCliTest {
    private static final Duration CMD_TIMEOUT = Duration.ofSeconds(60);
    private static final String PREFIX = "jaio-storage-daemon: ";

    @TempDir
    Path tmp;

    private final List<DaemonProcess> daemons = new ArrayList<>();

    @AfterEach
    void killChildren() {
        for (DaemonProcess d : daemons) {
            d.close();
        }
    }

    private DaemonProcess start(String... args) throws IOException {
        DaemonProcess d = DaemonProcess.launch(tmp.resolve("logs"), List.of(args));
        daemons.add(d);
        d.awaitReady();
        return d;
    }

    private Tools.Result runDaemon(String... args) {
        return Tools.run(CMD_TIMEOUT, DaemonProcess.command(List.of(args)));
    }


    // --- bad arguments ---------------------------------------------------------------------------

    static Stream<Arguments> badArguments() {
        // FILE and SOCK are replaced by a real image and a socket path in the temp dir.
        return Stream.of(
                Arguments.of("unknown key", List.of("--export", "name=a,file=FILE,bogus=1", "--nbd-server", "unix=SOCK"),
                        List.of("bogus")),
                Arguments.of("missing name=", List.of("--export", "file=FILE", "--nbd-server", "unix=SOCK"),
                        List.of("name=")),
                Arguments.of("missing file=", List.of("--export", "name=a", "--nbd-server", "unix=SOCK"),
                        List.of("file=")),
                Arguments.of("port out of range", List.of("--export", "name=a,file=FILE", "--nbd-server", "tcp=127.0.0.1:70000"),
                        List.of("70000")),
                Arguments.of("port not a number", List.of("--export", "name=a,file=FILE", "--nbd-server", "tcp=127.0.0.1:http"),
                        List.of("127.0.0.1:http")),
                Arguments.of("tcp without port", List.of("--export", "name=a,file=FILE", "--nbd-server", "tcp=127.0.0.1"),
                        List.of("tcp=127.0.0.1")),
                Arguments.of("unknown iothread", List.of("--iothread", "id=io0", "--export", "name=a,file=FILE,iothread=nope",
                        "--nbd-server", "unix=SOCK"), List.of("nope")),
                Arguments.of("duplicate export", List.of("--export", "name=a,file=FILE", "--export", "name=a,file=FILE",
                        "--nbd-server", "unix=SOCK"), List.of("'a'", "twice")),
                Arguments.of("duplicate iothread", List.of("--iothread", "id=io0", "--iothread", "id=io0",
                        "--export", "name=a,file=FILE", "--nbd-server", "unix=SOCK"), List.of("io0", "twice")),
                Arguments.of("bad readonly value", List.of("--export", "name=a,file=FILE,readonly=maybe", "--nbd-server", "unix=SOCK"),
                        List.of("readonly=maybe")),
                Arguments.of("bad cache mode", List.of("--export", "name=a,file=FILE,cache=directsync", "--nbd-server", "unix=SOCK"),
                        List.of("cache=directsync")),
                Arguments.of("bad aio engine", List.of("--export", "name=a,file=FILE,aio=native", "--nbd-server", "unix=SOCK"),
                        List.of("aio=native")),
                Arguments.of("bad discard mode", List.of("--export", "name=a,file=FILE,discard=maybe", "--nbd-server", "unix=SOCK"),
                        List.of("discard=maybe")),
                Arguments.of("undefined iothread in a list", List.of("--iothread", "id=io0", "--export",
                        "name=a,file=FILE,iothread=io0:zz", "--nbd-server", "unix=SOCK"), List.of("zz", "not defined")),
                Arguments.of("iothread listed twice", List.of("--iothread", "id=io0", "--export",
                        "name=a,file=FILE,iothread=io0:io0", "--nbd-server", "unix=SOCK"), List.of("io0", "twice")),
                Arguments.of("bad inline value", List.of("--export", "name=a,file=FILE,inline=sometimes", "--nbd-server", "unix=SOCK"),
                        List.of("inline=sometimes")),
                Arguments.of("bad poll-max-ns", List.of("--iothread", "id=io0,poll-max-ns=-5", "--export", "name=a,file=FILE",
                        "--nbd-server", "unix=SOCK"), List.of("poll-max-ns=-5")),
                Arguments.of("unknown nbd-server key", List.of("--export", "name=a,file=FILE", "--nbd-server", "vsock=3"),
                        List.of("vsock")),
                Arguments.of("no --nbd-server", List.of("--export", "name=a,file=FILE"), List.of("--nbd-server")),
                Arguments.of("no --export", List.of("--nbd-server", "unix=SOCK"), List.of("--export")),
                Arguments.of("unknown option", List.of("--bogus-option"), List.of("--bogus-option")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badArguments")
    void badArgumentsExit2WithOneStderrLineNamingTheBadPart(String what, List<String> args, List<String> needles)
            throws IOException {
        Path img = Images.sparse(tmp, "bad.img", 1 << 20);
        Path sock = tmp.resolve("bad.sock");
        String[] a = args.stream().map(s -> s.replace("FILE", img.toString()).replace("SOCK", sock.toString()))
                .toArray(String[]::new);
        Tools.Result r = runDaemon(a);
        assertEquals(2, r.exit(), what + ": exit code\n" + r.describe());
        List<String> errLines = Tools.lines(r.stderr());
        assertEquals(1, errLines.size(), what + ": want exactly one stderr line\n" + r.describe());
        String line = errLines.get(0);
        assertTrue(line.startsWith(PREFIX), what + ": stderr line should start with '" + PREFIX + "': " + line);
        for (String n : needles) {
            assertTrue(line.contains(n), what + ": stderr line should name the bad part '" + n + "': " + line);
        }
        assertFalse(Files.exists(sock), what + ": no socket may be left behind");
    }

    /** The daemon polls up to 64 µs unless told otherwise (Specs.IoThreadSpec.DEFAULT_POLL_MAX_NS says why). */
    @Test
    void iothreadPollingDefaultsAndOverrides() {
        assertEquals(new Specs.IoThreadSpec("io0", 65536, 0, 0), Specs.IoThreadSpec.parse("id=io0"));
        assertEquals(new Specs.IoThreadSpec("io1", 0, 4, 2),
                Specs.IoThreadSpec.parse("id=io1,poll-max-ns=0,poll-grow=4,poll-shrink=2"));
        assertEquals(Specs.IoThreadSpec.parse("id=io0"), Specs.IoThreadSpec.withDefaults("io0"));
        assertEquals(true, Specs.IoThreadSpec.parse("id=io2,poll-contention=on").pollContention());
        assertEquals(false, Specs.IoThreadSpec.parse("id=io2,poll-contention=off").pollContention());
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> Specs.IoThreadSpec.parse("id=io2,poll-contention=maybe"));
        assertEquals("--iothread: poll-contention=maybe must be on or off", e.getMessage());
        assertEquals(io.jaio.aio.FdMonitorKind.AUTO, Specs.IoThreadSpec.parse("id=io3").fdMonitor());
        assertEquals(io.jaio.aio.FdMonitorKind.EPOLL, Specs.IoThreadSpec.parse("id=io3,fd-monitor=epoll").fdMonitor());
        assertEquals(io.jaio.aio.FdMonitorKind.IO_URING, Specs.IoThreadSpec.parse("id=io3,fd-monitor=io_uring").fdMonitor());
        e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> Specs.IoThreadSpec.parse("id=io3,fd-monitor=select"));
        assertEquals("--iothread: fd-monitor=select must be one of auto, poll, epoll, io_uring", e.getMessage());
    }

    @Test
    void unopenableImageExits1() {
        Path missing = tmp.resolve("no-such-dir").resolve("missing.img");
        Path sock = tmp.resolve("s1.sock");
        Tools.Result r = runDaemon("--export", "name=a,file=" + missing, "--nbd-server", "unix=" + sock);
        assertEquals(1, r.exit(), r.describe());
        assertTrue(r.stderr().lines().anyMatch(l -> l.startsWith(PREFIX + "cannot start")), r.describe());
        assertFalse(Files.exists(sock), "socket left behind after a failed start\n" + r.describe());
    }

    @Test
    void helpExits0() {
        Tools.Result r = runDaemon("--help");
        assertEquals(0, r.exit(), r.describe());
        for (String opt : List.of("--export", "--iothread", "--nbd-server", "--pidfile", "--help", "--version")) {
            assertTrue(r.stdout().contains(opt), "--help should mention " + opt + "\n" + r.describe());
        }
    }

    @Test
    void versionExits0() {
        Tools.Result r = runDaemon("--version");
        assertEquals(0, r.exit(), r.describe());
        assertTrue(r.stdout().startsWith("jaio-storage-daemon "), r.describe());
    }

    // --- signals ---------------------------------------------------------------------------------

    /** Reads the NBD fixed-newstyle greeting from {@code addr} and returns the open channel. */
    private static SocketChannel greet(SocketAddress addr) throws IOException {
        SocketChannel ch = addr instanceof UnixDomainSocketAddress
                ? SocketChannel.open(StandardProtocolFamily.UNIX) : SocketChannel.open();
        try {
            ch.connect(addr);
            ByteBuffer b = ByteBuffer.allocate(18);
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (b.hasRemaining() && System.nanoTime() < deadline) {
                if (ch.read(b) < 0) {
                    break;
                }
            }
            String magic = new String(b.array(), 0, 16, StandardCharsets.US_ASCII);
            assertEquals("NBDMAGICIHAVEOPT", magic, "NBD greeting from " + addr);
            return ch;
        } catch (IOException | RuntimeException | Error e) {
            ch.close();
            throw e;
        }
    }

    /**
     * The basic signal tests leave the daemon a moment after its ready line, so they test the stop
     * path itself; {@link #signalRightAfterTheReadyLineExits0} tests the moment right after it.
     */
    private static void settle() throws InterruptedException {
        Thread.sleep(500);
    }

    @Test
    void sigtermExits0AndRemovesPidfileAndSocket() throws Exception {
        Path img = Images.sparse(tmp, "t.img", 16 << 20);
        Path sock = tmp.resolve("t.sock");
        Path pidfile = tmp.resolve("t.pid");
        DaemonProcess d = start("--export", "name=disk,file=" + img, "--nbd-server", "unix=" + sock, "--pidfile", pidfile.toString());
        assertTrue(Files.exists(pidfile), "pidfile not written\n" + d.describe());
        assertEquals(Long.toString(d.pid()), Files.readString(pidfile).strip(), "pidfile content");
        assertTrue(Files.exists(sock), "socket not created\n" + d.describe());
        assertEquals(List.of("nbd+unix:///disk?socket=" + sock), d.uris());
        // An idle client in the middle of the handshake must not keep the daemon alive.
        try (SocketChannel idle = greet(UnixDomainSocketAddress.of(sock))) {
            assertTrue(idle.isConnected());
            settle();
            int exit = d.terminate(Duration.ofSeconds(60));
            assertEquals(0, exit, "exit code after SIGTERM\n" + d.describe());
        }
        assertFalse(Files.exists(pidfile), "pidfile left behind after SIGTERM\n" + d.describe());
        assertFalse(Files.exists(sock), "socket file left behind after SIGTERM\n" + d.describe());
        assertTrue(Files.exists(img), "the image must stay");
    }

    @Test
    void sigintExits0AndRemovesPidfileAndSocket() throws Exception {
        Path img = Images.sparse(tmp, "i.img", 16 << 20);
        Path sock = tmp.resolve("i.sock");
        Path pidfile = tmp.resolve("i.pid");
        DaemonProcess d = start("--export", "name=disk,file=" + img, "--nbd-server", "unix=" + sock, "--pidfile", pidfile.toString());
        // The JVM leaves SIGINT alone when it was ignored at exec (e.g. a background job of a shell
        // without job control), so a SIGINT test needs a child that did not inherit SIG_IGN.
        Path status = Path.of("/proc", Long.toString(d.pid()), "status");
        if (Files.exists(status)) {
            for (String l : Files.readAllLines(status)) {
                if (l.startsWith("SigIgn:")) {
                    long mask = Long.parseUnsignedLong(l.substring("SigIgn:".length()).strip(), 16);
                    Assumptions.assumeTrue((mask & (1L << 1)) == 0,
                            "SIGINT is ignored by this process tree (inherited SIG_IGN); the JVM keeps it ignored");
                }
            }
        }
        settle();
        d.signal("INT");
        assertEquals(0, d.await(Duration.ofSeconds(60)), "exit code after SIGINT\n" + d.describe());
        assertFalse(Files.exists(pidfile), "pidfile left behind after SIGINT");
        assertFalse(Files.exists(sock), "socket file left behind after SIGINT");
    }

    /**
     * Once the daemon has printed its URIs (ready), SIGTERM must already mean "stop cleanly": exit 0
     * and no pidfile or socket left behind, even when the signal comes at once (as from a script
     * that waits for the ready line and stops the daemon when its job is done).
     */
    @Test
    void signalRightAfterTheReadyLineExits0() throws Exception {
        Path img = Images.sparse(tmp, "r.img", 16 << 20);
        for (int i = 0; i < 10; i++) {
            Path sock = tmp.resolve("r" + i + ".sock");
            Path pidfile = tmp.resolve("r" + i + ".pid");
            DaemonProcess d = DaemonProcess.launch(tmp.resolve("logs"), List.of("--export", "name=disk,file=" + img,
                    "--nbd-server", "unix=" + sock, "--pidfile", pidfile.toString()));
            daemons.add(d);
            d.awaitReady();
            int exit = d.terminate(Duration.ofSeconds(60)); // SIGTERM as soon as the "Try:" line is read
            String state = "round " + i + ": exit " + exit + ", pidfile " + (Files.exists(pidfile) ? "left behind" : "removed")
                    + ", socket " + (Files.exists(sock) ? "left behind" : "removed");
            assertEquals(0, exit, "SIGTERM right after the ready line: " + state + "\n" + d.describe());
            assertFalse(Files.exists(pidfile), state);
            assertFalse(Files.exists(sock), state);
        }
    }

    @Test
    void tcpPortZeroPrintsTheBoundPort() throws Exception {
        Path img = Images.sparse(tmp, "p.img", 16 << 20);
        DaemonProcess d = start("--export", "name=disk,file=" + img, "--nbd-server", "tcp=127.0.0.1:0");
        String uri = d.tcpUri("disk");
        Matcher m = Pattern.compile("nbd://127\\.0\\.0\\.1:(\\d+)/disk").matcher(uri);
        assertTrue(m.matches(), "URI line " + uri);
        int port = Integer.parseInt(m.group(1));
        assertTrue(port > 0 && port <= 65535, "the URI must carry the real port, not 0: " + uri);
        assertTrue(d.stdoutLines().stream().anyMatch(l -> l.startsWith("Try:") && l.contains(uri)),
                "the Try: line should name " + uri + "\n" + d.describe());
        greet(new InetSocketAddress(InetAddress.getLoopbackAddress(), port)).close();
        assertEquals(0, d.terminate(Duration.ofSeconds(60)), d.describe());
    }

    /**
     * iothread=a:b wires one export to two IOThreads: the startup line names both (and their
     * default polling), data written through one connection is read back through another, and
     * the daemon exits cleanly with it in the image. That connections really alternate between
     * the IOThreads is NbdServerTest.connectionsSpreadOverTwoIoThreads' to show.
     */
    @Test
    void oneExportOnTwoIoThreads() throws Exception {
        Path img = Images.sparse(tmp, "two.img", 4 << 20);
        Path sock = tmp.resolve("two.sock");
        DaemonProcess d = start("--iothread", "id=a", "--iothread", "id=b", "--export",
                "name=disk,file=" + img + ",iothread=a:b", "--nbd-server", "unix=" + sock);
        d.awaitReady();
        String serving = servingLine(d);
        assertTrue(serving.contains("on IOThread 'a', 'b'"), serving);
        assertTrue(serving.contains("poll-max-ns 65536,"), serving);
        byte[] data = new byte[65536];
        new java.util.Random(7).nextBytes(data);
        try (io.jaio.nbd.NbdClient one = io.jaio.nbd.NbdClient.connect(UnixDomainSocketAddress.of(sock), "disk");
                io.jaio.nbd.NbdClient two = io.jaio.nbd.NbdClient.connect(UnixDomainSocketAddress.of(sock), "disk")) {
            one.write(1 << 20, data);
            one.flush();
            org.junit.jupiter.api.Assertions.assertArrayEquals(data, two.read(1 << 20, data.length));
            one.disconnect();
            two.disconnect();
        }
        assertEquals(0, d.terminate(Duration.ofSeconds(60)), d.describe());
        byte[] onDisk = java.util.Arrays.copyOfRange(Files.readAllBytes(img), 1 << 20, (1 << 20) + data.length);
        org.junit.jupiter.api.Assertions.assertArrayEquals(data, onDisk, "in the image after exit");
    }

    /** The startup line that says what is served and how. */
    private static String servingLine(DaemonProcess d) {
        return d.stdoutLines().stream().filter(l -> l.startsWith(PREFIX + "serving")).findFirst()
                .orElseThrow(() -> new AssertionError("no serving line\n" + d.describe()));
    }

    /** An image on tmpfs runs its I/O inline (said on the startup line) unless inline=off. */
    @Test
    void imageOnTmpfsRunsItsIoInlineUnlessTurnedOff() throws Exception {
        Path shm = Path.of("/dev/shm");
        Assumptions.assumeTrue(Files.isDirectory(shm), "no /dev/shm");
        Path img = Files.createTempFile(shm, "jaio-cli-", ".img");
        try {
            Files.write(img, new byte[1 << 20]);
            for (String inline : List.of("", ",inline=off")) {
                Path sock = tmp.resolve("inline" + inline.length() + ".sock");
                DaemonProcess d = start("--export", "name=disk,file=" + img + inline, "--nbd-server", "unix=" + sock);
                d.awaitReady();
                String serving = servingLine(d);
                assertEquals(inline.isEmpty(), serving.contains("(inline: memory-backed file)"), serving);
                assertEquals(0, d.terminate(Duration.ofSeconds(60)), d.describe());
            }
        } finally {
            Files.deleteIfExists(img);
        }
    }

    // --- default mode ----------------------------------------------------------------------------

    @Test
    void noArgumentDefaultModeServesSparse1GiBDisk() throws Exception {
        try (ServerSocket probe = new ServerSocket()) {
            probe.setReuseAddress(false);
            probe.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), DaemonConfig.DEFAULT_PORT));
        } catch (IOException e) {
            Assumptions.abort("127.0.0.1:" + DaemonConfig.DEFAULT_PORT + " is busy: " + e.getMessage());
        }
        Path dataDir = tmp.resolve("data");
        Path pidfile = tmp.resolve("default.pid");
        // --data-dir (and --pidfile) keep the no-argument mode: no --export/--iothread/--nbd-server.
        DaemonProcess d = start("--data-dir", dataDir.toString(), "--pidfile", pidfile.toString());
        Path img = dataDir.resolve("disk.img");
        Path sock = dataDir.resolve("nbd.sock").toAbsolutePath();
        assertTrue(Files.isRegularFile(img), "no default image " + img + "\n" + d.describe());
        assertEquals(1073741824L, Files.size(img), "default image size");
        long allocated = Tools.allocatedBlocks(img) * 512;
        assertTrue(allocated <= (1 << 20), "default image should be sparse, has " + allocated + " bytes allocated");
        String unixUri = d.unixUri("disk");
        String tcpUri = d.tcpUri("disk");
        assertEquals("nbd+unix:///disk?socket=" + sock, unixUri);
        assertEquals("nbd://127.0.0.1:" + DaemonConfig.DEFAULT_PORT + "/disk", tcpUri);
        assertTrue(Files.exists(sock), "socket " + sock);
        greet(UnixDomainSocketAddress.of(sock)).close(); // both listeners answer
        greet(new InetSocketAddress(InetAddress.getLoopbackAddress(), DaemonConfig.DEFAULT_PORT)).close();
        Tools.require("nbdinfo", "libnbd-bin");
        for (String u : List.of(unixUri, tcpUri)) {
            Tools.Result r = Tools.run(CMD_TIMEOUT, "nbdinfo", "--size", u).assertOk();
            assertEquals("1073741824", r.stdout().strip(), r.describe());
        }
        Tools.Result list = Tools.run(CMD_TIMEOUT, "nbdinfo", "--list", "nbd+unix:///?socket=" + sock).assertOk();
        assertTrue(list.stdout().contains("export=\"disk\""), list.describe());
        assertEquals(0, d.terminate(Duration.ofSeconds(60)), d.describe());
        assertFalse(Files.exists(sock), "socket left behind");
        assertFalse(Files.exists(pidfile), "pidfile left behind");
        assertEquals(1073741824L, Files.size(img), "the image stays");
    }
}
