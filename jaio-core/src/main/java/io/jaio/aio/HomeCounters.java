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
    long q00, q01, q02, q03, q04, q05, q06, q07;
    long q08, q09, q10, q11, q12, q13, q14, q15;
}


/** The fields of {@link HomeCounters}, between its two pads. */
abstract class HomeCountersFields extends LeadingPad {
    /** poll() calls so far (the stats' count). */
    long pollCalls;
    /** poll() frames active now: 0 outside poll(), more than 1 in a nested poll. */
    int depth;
}
