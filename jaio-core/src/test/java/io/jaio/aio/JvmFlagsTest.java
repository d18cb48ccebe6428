package io.jaio.aio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The JVM flags in one place and the start-up check: in this JVM (run with the build's flags)
 * nothing is missing; a JVM started without them gets one WARNING naming each missing flag, and
 * the forced continuation engine names the export.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class JvmFlagsTest {

    private static final String NATIVE = "--enable-native-access=ALL-UNNAMED";
    private static final String EXPORT = "--add-exports java.base/jdk.internal.vm=ALL-UNNAMED";

    @Test
    void theBuildRunsTestsWithEveryFlag() {
        assertEquals(List.of(), JvmFlags.missing());
        assertTrue(JvmFlags.nativeAccessEnabled());
        assertTrue(JvmFlags.continuationExportPresent());
        assertEquals(List.of("--enable-native-access=ALL-UNNAMED", "--add-exports", "java.base/jdk.internal.vm=ALL-UNNAMED"),
                JvmFlags.ALL);
        assertEquals(NATIVE, JvmFlags.nativeAccessFlag());
        assertEquals(EXPORT, JvmFlags.continuationExportFlag());
    }

    @Test
    void theMessageNamesEachMissingFlagAndWhatItCosts() {
        assertNull(JvmFlags.message(List.of()));
        String both = JvmFlags.message(List.of(NATIVE, EXPORT));
        assertTrue(both.startsWith("jaio: JVM flag(s) missing: " + NATIVE + ", " + EXPORT + "."), both);
        assertTrue(both.contains("--illegal-native-access=deny"), both);
        assertTrue(both.contains("virtual-thread engine"), both);
        String one = JvmFlags.message(List.of(EXPORT));
        assertFalse(one.contains(NATIVE), one);
    }

    @Test
    void aJvmWithoutTheFlagsIsToldWhichAreMissing() throws Exception {
        String out = runProbe(List.of());
        assertTrue(out.contains("WARNING: jaio: JVM flag(s) missing: " + NATIVE + ", " + EXPORT + "."), out);
        assertTrue(out.contains("context aio-1 built"), out);
        assertTrue(out.contains("continuation engine: the continuation coroutine engine is unavailable"), out);
        assertTrue(out.contains("run with " + EXPORT + ", or -Djaio.coroutines=virtual"), out);
    }

    @Test
    void aJvmWithOnlyNativeAccessIsToldAboutTheExportAlone() throws Exception {
        String out = runProbe(List.of(NATIVE));
        assertTrue(out.contains("WARNING: jaio: JVM flag(s) missing: " + EXPORT + "."), out);
        assertFalse(out.contains("missing: " + NATIVE), out);
    }

    @Test
    void aJvmWithEveryFlagIsToldNothing() throws Exception {
        String out = runProbe(JvmFlags.ALL);
        assertFalse(out.contains("JVM flag(s) missing"), out);
        assertFalse(out.contains("WARNING"), out); // not the JDK's native-access warning either
        assertTrue(out.contains("continuation engine: usable"), out);
    }

    /** Runs {@link JvmFlagsProbe} in a new JVM with {@code flags}; returns its stdout and stderr. */
    private static String runProbe(List<String> flags) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(flags);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(JvmFlagsProbe.class.getName());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        return out;
    }
}
