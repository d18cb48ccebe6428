package io.jaio.nbd;

import io.jaio.aio.IoThread;
import io.jaio.block.DirtyBitmap;
import io.jaio.block.DirtyBitmaps;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Dirty bitmaps over NBD: writes served by the export mark them; clients read them as
 * {@code qemu:dirty-bitmap:NAME} (nbdinfo); a checkpoint freezes a generation, and copying only
 * its dirty extents (qemu-img convert of each range over NBD) onto the base gives the source image (SHA-256).
 */
class NbdDirtyBitmapTest {
    private static final int SIZE = 8 << 20;
    private static final int K64 = 65536;

    @TempDir
    Path dir;
    private IoThread io;
    private MemoryBackend disk;
    private DirtyBitmaps bitmaps;
    private NbdServer server;
    private Path sock;

    @BeforeEach
    void setUp() {
        io = IoThread.start("nbd-bitmaps");
        disk = new MemoryBackend(SIZE);
        byte[] init = new byte[SIZE];
        new java.util.Random(21).nextBytes(init);
        disk.fill(0, init);
        bitmaps = DirtyBitmaps.inMemory(SIZE);
        bitmaps.add("backup", DirtyBitmap.DEFAULT_GRANULARITY);
        server = NbdServer.builder(io.context())
                .export(NbdExport.builder("disk", disk).dirtyBitmaps(bitmaps).build())
                .build();
        sock = dir.resolve("nbd.sock");
        server.listen(UnixDomainSocketAddress.of(sock));
    }

    @AfterEach
    void tearDown() {
        server.close();
        io.close();
    }

    private String uri() {
        return "nbd+unix:///disk?socket=" + sock;
    }

    private static String run(String... cmd) throws Exception {
        assumeTrue(TlsCerts.installed(cmd[0]), cmd[0] + " is not installed");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "timed out: " + List.of(cmd));
        String s = new String(out);
        assertEquals(0, p.exitValue(), () -> String.join(" ", cmd) + " failed:\n" + s);
        return s;
    }

    /** {offset, length, type} of each extent nbdinfo --map --json reports for {@code context}. */
    private List<long[]> map(String context) throws Exception {
        String json = run("nbdinfo", "--json", "--map=" + context, uri());
        List<long[]> out = new ArrayList<>();
        Matcher m = Pattern.compile("\"offset\":\\s*(\\d+),\\s*\"length\":\\s*(\\d+),\\s*\"type\":\\s*(\\d+)")
                .matcher(json);
        while (m.find()) {
            out.add(new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2)), Long.parseLong(m.group(3))});
        }
        assertTrue(!out.isEmpty(), json);
        return out;
    }

    private static String str(List<long[]> extents) {
        StringBuilder b = new StringBuilder();
        for (long[] e : extents) {
            b.append(e[0]).append('+').append(e[1]).append('=').append(e[2]).append(' ');
        }
        return b.toString().strip();
    }

    /** Bitmap API calls run in the serving context's home thread, as the daemon must make them. */
    private <T> T onHome(java.util.function.Supplier<T> c) {
        return io.context().callOnHomeThread("test", c);
    }

    @Test
    void nbdinfoMapsAKnownWritePattern() throws Exception {
        run("qemu-io", "-f", "raw", "-c", "write -P 1 4k 4k", "-c", "write -z 1M 128k", "-c", "discard 3M 64k",
                "-c", "write -P 2 8388607 1", uri());
        assertEquals("0+65536=1 65536+983040=0 1048576+131072=1 1179648+1966080=0 3145728+65536=1 "
                + "3211264+5111808=0 8323072+65536=1", str(map("qemu:dirty-bitmap:backup")));
        // Not marked by reads; the allocation-depth context is still there beside it.
        run("qemu-io", "-f", "raw", "-c", "read 0 8M", uri());
        assertEquals(4 * K64 + 65536, onHome(() -> bitmaps.get("backup").dirtyBytes()));
        String list = run("nbdinfo", "--list", "--content", "nbd+unix://?socket=" + sock);
        assertTrue(list.contains("qemu:dirty-bitmap:backup") && list.contains("qemu:allocation-depth"), list);
    }

    @Test
    void anIncrementalCopyOfAFrozenGenerationReproducesTheSource() throws Exception {
        Path base = dir.resolve("base.raw");
        Files.write(base, disk.snapshot()); // the full backup, taken when the bitmap started
        run("qemu-io", "-f", "raw", "-c", "write -P 0x11 100k 300k", "-c", "write -P 0x22 5M 4k",
                "-c", "write -z 7M 64k", uri());
        DirtyBitmap frozen = onHome(() -> bitmaps.checkpoint("backup"));
        assertEquals("backup@0", frozen.name());
        byte[] atCheckpoint = disk.snapshot();
        // Writes after the checkpoint land in generation 1 only.
        run("qemu-io", "-f", "raw", "-c", "write -P 0x33 2M 4k", uri());
        assertEquals("0+2097152=0 2097152+65536=1 2162688+6225920=0", str(map("qemu:dirty-bitmap:backup")));
        byte[] img = Files.readAllBytes(base);
        // Copy generation 0's dirty extents: nbdinfo reads the map, qemu-img reads each range
        // (its chunks were not written since, so they hold what they held at the checkpoint).
        assertEquals(8 * K64, incremental("backup@0", img), "only the dirty 64 KiB chunks are copied");
        assertEquals(sha256(atCheckpoint), sha256(img));
        assertNotEquals(sha256(Files.readAllBytes(base)), sha256(img));
        // The next increment: freeze generation 1 and copy it on top.
        onHome(() -> bitmaps.checkpoint("backup"));
        assertEquals(K64, incremental("backup@1", img));
        assertEquals(sha256(disk.snapshot()), sha256(img));
    }

    /** Copies the dirty extents of bitmap {@code name} from the export into {@code img}; returns the bytes copied. */
    private long incremental(String name, byte[] img) throws Exception {
        long copied = 0;
        for (long[] e : map("qemu:dirty-bitmap:" + name)) {
            if (e[2] != 1) {
                continue;
            }
            Path piece = dir.resolve("piece-" + name + "-" + e[0]);
            run("qemu-img", "convert", "--image-opts", "driver=raw,offset=" + e[0] + ",size=" + e[1]
                    + ",file.driver=nbd,file.server.type=unix,file.server.path=" + sock + ",file.export=disk",
                    "-O", "raw", piece.toString());
            byte[] p = Files.readAllBytes(piece);
            assertEquals(e[1], p.length);
            System.arraycopy(p, 0, img, (int) e[0], p.length);
            copied += e[1];
        }
        return copied;
    }

    @Test
    void contextsAreListedAndSelectedWithIds() {
        NbdHandshake hs = new NbdHandshake(new NbdHandshake.Catalog() {
            final NbdExport e = NbdExport.builder("disk", new MemoryBackend(SIZE)).dirtyBitmaps(bitmaps).build();

            @Override
            public NbdExport find(String name) {
                return name.equals("disk") ? e : null;
            }

            @Override
            public java.util.Collection<NbdExport> all() {
                return List.of(e);
            }

            @Override
            public boolean shuttingDown() {
                return false;
            }
        });
        onHome(() -> bitmaps.add("second", 65536));
        ByteBuffer in = ByteBuffer.allocate(4096);
        in.putInt(Nbd.FLAG_C_FIXED_NEWSTYLE);
        NbdCodec.option(in, Nbd.OPT_STRUCTURED_REPLY, new byte[0]);
        NbdCodec.option(in, Nbd.OPT_LIST_META_CONTEXT, NbdCodec.metaContextPayload("disk", "qemu:dirty-bitmap:"));
        NbdCodec.option(in, Nbd.OPT_SET_META_CONTEXT,
                NbdCodec.metaContextPayload("disk", "qemu:dirty-bitmap:second", "qemu:dirty-bitmap:nope"));
        NbdCodec.option(in, Nbd.OPT_GO, NbdCodec.infoPayload("disk"));
        in.flip();
        StringBuilder replies = new StringBuilder();
        while (hs.session() == null) {
            int need = hs.bytesNeeded();
            NbdHandshake.Step step = hs.consume(in.slice(in.position(), need));
            in.position(in.position() + need);
            ByteBuffer o = ByteBuffer.wrap(step.output());
            while (o.hasRemaining()) {
                o.getLong();
                int opt = o.getInt();
                int type = o.getInt();
                byte[] d = new byte[o.getInt()];
                o.get(d);
                if (type == Nbd.REP_META_CONTEXT) {
                    replies.append(opt).append(':').append(ByteBuffer.wrap(d).getInt()).append(' ')
                            .append(new String(d, 4, d.length - 4, StandardCharsets.UTF_8)).append(", ");
                }
            }
        }
        assertEquals("9:0 qemu:dirty-bitmap:backup, 9:0 qemu:dirty-bitmap:second, 10:4 qemu:dirty-bitmap:second, ",
                replies.toString());
        NbdSession s = hs.session();
        assertEquals(1, s.bitmaps().size());
        assertEquals(4, s.bitmaps().get(0).id());
        assertEquals("second", s.bitmaps().get(0).bitmap().name());
        assertTrue(s.anyMetaContext());
    }

    private static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }
}
