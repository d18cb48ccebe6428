package io.jaio.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * Pins the calling thread to one CPU with {@code sched_setaffinity(2)}, so that a benchmark can state
 * where the caller and the loop run ({@code taskset} only pins whole processes).
 *
 * <p>This is benchmark harness, not jaio: jaio's own FFM calls live in {@code io.jaio.linux}, which does
 * not offer affinity, and a harness must not depend on the code it measures for its placement.
 */
@SuppressWarnings("restricted") // a downcall; the forks run with --enable-native-access=ALL-UNNAMED
final class Affinity {
    /** {@code sizeof(cpu_set_t)} in glibc ({@code <sched.h>}): 1024 bits. */
    private static final long CPU_SET_BYTES = 128;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final Linker.Option ERRNO = Linker.Option.captureCallState("errno");
    private static final VarHandle ERRNO_HANDLE = Linker.Option.captureStateLayout()
            .varHandle(MemoryLayout.PathElement.groupElement("errno"));

    /** {@code int sched_setaffinity(pid_t pid, size_t cpusetsize, const cpu_set_t *mask)}; pid 0 = this thread. */
    private static final MethodHandle SCHED_SETAFFINITY = LINKER.downcallHandle(
            LINKER.defaultLookup().find("sched_setaffinity").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS),
            ERRNO);

    private Affinity() {}

    /** Restricts the calling thread to {@code cpu}; throws if the kernel refuses (e.g. the CPU is not allowed). */
    static void pinCurrentThread(int cpu) {
        if (cpu < 0 || cpu >= CPU_SET_BYTES * 8) {
            throw new IllegalArgumentException("cpu " + cpu);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment set = arena.allocate(CPU_SET_BYTES);
            set.set(ValueLayout.JAVA_BYTE, cpu / 8, (byte) (1 << (cpu % 8)));
            MemorySegment state = arena.allocate(Linker.Option.captureStateLayout());
            int r = (int) SCHED_SETAFFINITY.invokeExact(state, 0, CPU_SET_BYTES, set);
            if (r != 0) {
                int errno = (int) ERRNO_HANDLE.get(state, 0L);
                throw new IllegalStateException("sched_setaffinity(CPU " + cpu + ") failed, errno " + errno
                        + " (is the JVM started under taskset with fewer CPUs?)");
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
