package io.jaio.aio;

/**
 * What an {@link AioContext}'s home thread writes on every {@code poll()} pass besides the
 * bottom halves: the pass count and the nesting depth. Kept out of the context object, whose
 * fields other threads read on every schedule and wake-up ({@code bhs}, {@code wake}), with 128
 * bytes on each side (two cache lines: the adjacent-line prefetch), so those reads never miss
 * because the loop counted a pass (see {@link OneshotRing}'s layout note). Home thread only,
 * except {@link #pollCalls}, which {@link AioContext#stats()} reads without ordering.
 */
@SuppressWarnings("unused")
final class HomeCounters extends HomeCountersFields {
    long q00;
    long q01;
    long q02;
    long q03;
    long q04;
    long q05;
    long q06;
    long q07;
    long q08;
    long q09;
    long q10;
    long q11;
    long q12;
    long q13;
    long q14;
    long q15;
}

/** The leading 128 bytes of {@link HomeCounters}. */
@SuppressWarnings("unused")
abstract class HomeCountersPad {
    // Fills the 4 bytes after a compressed object header, which the JVM would otherwise give to
    // a small field of a subclass, before this pad.
    int p;
    long p00;
    long p01;
    long p02;
    long p03;
    long p04;
    long p05;
    long p06;
    long p07;
    long p08;
    long p09;
    long p10;
    long p11;
    long p12;
    long p13;
    long p14;
    long p15;
}

/** The fields of {@link HomeCounters}, between its two pads. */
abstract class HomeCountersFields extends HomeCountersPad {
    /** poll() calls so far (the stats' count). */
    long pollCalls;
    /** poll() frames active now: 0 outside poll(), more than 1 in a nested poll. */
    int depth;
}
