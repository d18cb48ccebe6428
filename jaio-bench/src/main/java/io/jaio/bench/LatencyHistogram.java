package io.jaio.bench;

import java.util.Locale;

/**
 * A log-linear histogram of non-negative nanosecond values: exact below 128 ns, then 64 buckets per
 * power of two (at most 1/64 = 1.6 % relative error). Fixed size, no allocation when recording.
 * Not thread-safe: one thread records, and hands the histogram over through a happens-before edge.
 */
final class LatencyHistogram {
    private static final int SUB_BITS = 6;
    private static final int SUB = 1 << SUB_BITS;        // 64 buckets per octave
    private static final int LINEAR = SUB << 1;          // 0..127 exact
    private static final int MIN_EXP = SUB_BITS + 1;     // 2^7 = 128 starts the log part

    private final long[] counts = new long[LINEAR + (64 - MIN_EXP) * SUB];
    private long total;
    private long min = Long.MAX_VALUE;
    private long max;
    private long negative;

    /** Records one value; negative values (a callback that ran before its deadline) are only counted. */
    void record(long ns) {
        if (ns < 0) {
            negative++;
            return;
        }
        counts[index(ns)]++;
        total++;
        min = Math.min(min, ns);
        max = Math.max(max, ns);
    }

    static int index(long v) {
        if (v < LINEAR) {
            return (int) v;
        }
        int exp = 63 - Long.numberOfLeadingZeros(v);     // >= MIN_EXP
        int sub = (int) (v >>> (exp - SUB_BITS)) & (SUB - 1);
        return LINEAR + (exp - MIN_EXP) * SUB + sub;
    }

    /** The smallest value that falls into bucket {@code i}. */
    static long lowest(int i) {
        if (i < LINEAR) {
            return i;
        }
        int k = i - LINEAR;
        int exp = k / SUB + MIN_EXP;
        return (long) (SUB + k % SUB) << (exp - SUB_BITS);
    }

    /** The width of bucket {@code i}. */
    static long width(int i) {
        return i < LINEAR ? 1 : 1L << ((i - LINEAR) / SUB + MIN_EXP - SUB_BITS);
    }

    long count() {
        return total;
    }

    long negativeCount() {
        return negative;
    }

    /** The value at percentile {@code p} (0..100): the middle of its bucket, clamped to [min, max]. */
    long percentile(double p) {
        if (total == 0) {
            return -1;
        }
        long rank = Math.max(1, (long) Math.ceil(p / 100.0 * total));
        long seen = 0;
        for (int i = 0; i < counts.length; i++) {
            seen += counts[i];
            if (seen >= rank) {
                long mid = lowest(i) + (width(i) - 1) / 2;
                return Math.min(max, Math.max(min, mid));
            }
        }
        return max;
    }

    /** One line: count and p50/p90/p99/p99.9/max in µs. */
    String summary() {
        if (total == 0) {
            return "n=0";
        }
        return String.format(Locale.ROOT,
                "n=%d  min=%.2f  p50=%.2f  p90=%.2f  p99=%.2f  p99.9=%.2f  max=%.2f us  (before deadline: %d)",
                total, min / 1e3, percentile(50) / 1e3, percentile(90) / 1e3, percentile(99) / 1e3,
                percentile(99.9) / 1e3, max / 1e3, negative);
    }
}
