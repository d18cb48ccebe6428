package io.jaio.aio;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The JVM flags jaio needs, in one place ({@code docs/guide.md}, "JVM flags", says the same), and
 * the start-up check that names a missing one.
 *
 * <table class="striped">
 * <caption>Flags (class path; on the module path name the module instead of ALL-UNNAMED)</caption>
 * <thead><tr><th>flag</th><th>needed by</th><th>without it</th></tr></thead>
 * <tbody>
 * <tr><td>{@value #NATIVE_ACCESS}</td><td>every module (jaio-core's FFM platform layer)</td>
 *     <td>the JDK warns at jaio's first native call; under {@code --illegal-native-access=deny}
 *     it refuses the call</td></tr>
 * <tr><td>{@value #CONTINUATION_EXPORT}</td><td>the continuation coroutine engine (the default)</td>
 *     <td>coroutines run on the virtual-thread engine (same semantics, slower), or
 *     {@code -Djaio.coroutines=continuation} fails naming this flag</td></tr>
 * </tbody>
 * </table>
 *
 * <p>An executable jar can carry both in its manifest instead ({@code Enable-Native-Access:
 * ALL-UNNAMED}, {@code Add-Exports: java.base/jdk.internal.vm}), as jaio-storage-daemon's does.
 * {@code --sun-misc-unsafe-memory-access=allow} is not needed by jaio (only by Maven 3.9 itself on
 * JDK 24+, to silence a warning).
 *
 * <p>The check runs when the first {@link AioContext} is built ({@link #checkAtStart()}) and logs
 * one WARNING through {@link System.Logger} ({@code io.jaio.aio}) naming each missing flag; the
 * coroutine engine names the export when it falls back or is forced. All methods: any thread.
 */
public final class JvmFlags {
    private JvmFlags() {}

    /** Native access for jaio's FFM calls, on the class path. */
    public static final String NATIVE_ACCESS = "--enable-native-access=ALL-UNNAMED";
    /** The export the continuation coroutine engine needs, on the class path. */
    public static final String CONTINUATION_EXPORT = "--add-exports java.base/jdk.internal.vm=ALL-UNNAMED";
    /** Every flag jaio needs on the class path, one command-line argument per element. */
    public static final List<String> ALL = List.of(
            "--enable-native-access=ALL-UNNAMED", "--add-exports", "java.base/jdk.internal.vm=ALL-UNNAMED");

    private static final System.Logger LOG = System.getLogger("io.jaio.aio");
    private static final AtomicBoolean CHECKED = new AtomicBoolean();

    /**
     * The flag that grants jaio native access where it runs: {@link #NATIVE_ACCESS} on the class
     * path, {@code --enable-native-access=<module>} on the module path.
     *
     * @return the flag, as one command-line argument
     */
    public static String nativeAccessFlag() {
        Module m = JvmFlags.class.getModule();
        return m.isNamed() ? "--enable-native-access=" + m.getName() : NATIVE_ACCESS;
    }

    /**
     * The export the continuation engine needs where jaio runs: {@link #CONTINUATION_EXPORT} on
     * the class path, {@code --add-exports java.base/jdk.internal.vm=<module>} on the module path.
     *
     * @return the flag and its value, separated by a space
     */
    public static String continuationExportFlag() {
        Module m = JvmFlags.class.getModule();
        return m.isNamed() ? "--add-exports java.base/jdk.internal.vm=" + m.getName() : CONTINUATION_EXPORT;
    }

    /**
     * Whether native access is enabled for jaio's module.
     *
     * @return true if the JVM runs jaio's native calls without a warning
     */
    public static boolean nativeAccessEnabled() {
        return JvmFlags.class.getModule().isNativeAccessEnabled();
    }

    /**
     * Whether {@code java.base} exports {@code jdk.internal.vm} to jaio's module.
     *
     * @return true if the continuation coroutine engine can be used
     */
    public static boolean continuationExportPresent() {
        return Object.class.getModule().isExported("jdk.internal.vm", JvmFlags.class.getModule());
    }

    /**
     * The flags that this JVM lacks, each as {@link #nativeAccessFlag()} or
     * {@link #continuationExportFlag()} spells it.
     *
     * @return the missing flags, empty when all are present
     */
    public static List<String> missing() {
        List<String> m = new ArrayList<>(2);
        if (!nativeAccessEnabled()) {
            m.add(nativeAccessFlag());
        }
        if (!continuationExportPresent()) {
            m.add(continuationExportFlag());
        }
        return List.copyOf(m);
    }

    /**
     * The start-up message for {@code missing} flags, or null if none is missing.
     *
     * @param missing flags as {@link #missing()} returns them
     * @return one line naming each flag and what its absence costs
     */
    static String message(List<String> missing) {
        if (missing.isEmpty()) {
            return null;
        }
        StringBuilder sb = new StringBuilder("jaio: JVM flag(s) missing: ").append(String.join(", ", missing)).append('.');
        if (missing.contains(nativeAccessFlag())) {
            sb.append(" Without native access the JDK warns at jaio's first native call and"
                    + " --illegal-native-access=deny refuses it.");
        }
        if (missing.contains(continuationExportFlag())) {
            sb.append(" Without the export, coroutines run on the slower virtual-thread engine.");
        }
        return sb.append(" Add the flag(s) to the java command line (see io.jaio.aio.JvmFlags, docs/guide.md).").toString();
    }

    /**
     * Logs {@link #message} once per JVM, as a WARNING, if a flag is missing; called when an
     * {@link AioContext} is built.
     */
    static void checkAtStart() {
        if (CHECKED.get() || !CHECKED.compareAndSet(false, true)) {
            return;
        }
        String msg = message(missing());
        if (msg != null) {
            LOG.log(System.Logger.Level.WARNING, msg);
        }
    }
}
