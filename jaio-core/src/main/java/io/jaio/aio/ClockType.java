package io.jaio.aio;

/** The clock a {@link Timer} runs on (QEMU's {@code QEMUClockType}). */
public enum ClockType {
    /** Host monotonic time; also what adaptive polling measures with. */
    REALTIME,
    /** Guest time in QEMU; here a controllable clock (monotonic by default). */
    VIRTUAL,
    /** Host wall-clock time; may jump. */
    HOST,
    /** Virtual time usable in real-time contexts; monotonic by default. */
    VIRTUAL_RT
}
