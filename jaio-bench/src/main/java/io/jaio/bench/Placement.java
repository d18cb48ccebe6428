package io.jaio.bench;

import java.util.concurrent.Executor;

/**
 * Thread placement of a benchmark (its {@code pin} parameter): where the benchmark (caller) thread and the
 * loop thread run, and how a waiting caller waits.
 *
 * <ul>
 *   <li>{@code cross}: caller on CPU 0, loop on CPU 1. The caller busy-waits ({@link Thread#onSpinWait()}):
 *       it has a CPU of its own, so spinning costs the loop nothing.</li>
 *   <li>{@code same}: caller and loop both on CPU 0. The caller waits with {@link Thread#yield()} so that the
 *       loop can run at all; the spin baseline's loop does the same.</li>
 *   <li>{@code none}: the scheduler decides (on 2 vCPUs results are then bimodal). The caller spins
 *       briefly, then yields.</li>
 * </ul>
 */
enum Placement {
    NONE(-1, -1, 100),
    SAME(0, 0, 0),
    CROSS(0, 1, Integer.MAX_VALUE);

    private final int callerCpu;
    private final int loopCpu;
    /** How many {@link Thread#onSpinWait()} rounds a waiter spends before it starts yielding. */
    final int spinLimit;

    Placement(int callerCpu, int loopCpu, int spinLimit) {
        this.callerCpu = callerCpu;
        this.loopCpu = loopCpu;
        this.spinLimit = spinLimit;
    }

    static Placement of(String pin) {
        return switch (pin) {
            case "none" -> NONE;
            case "same" -> SAME;
            case "cross" -> CROSS;
            default -> throw new IllegalArgumentException("pin must be none, same or cross, not " + pin);
        };
    }

    /** Pins the calling (benchmark) thread. Cheap; benchmarks call it per iteration, as JMH may change threads. */
    void pinCaller() {
        if (callerCpu >= 0) {
            Affinity.pinCurrentThread(callerCpu);
        }
    }

    /** Pins the loop thread behind {@code loop} by running the pinning on it, and waits for that. */
    void pinLoop(Executor loop) {
        if (loopCpu >= 0) {
            Loops.runAndWait(loop, () -> Affinity.pinCurrentThread(loopCpu));
        }
    }

    /** Pins the calling thread where this placement puts loops (for loops that run their own thread body). */
    void pinLoopThreadHere() {
        if (loopCpu >= 0) {
            Affinity.pinCurrentThread(loopCpu);
        }
    }

    /** One round of waiting for another thread: spin while {@code round < spinLimit}, then yield. */
    void pause(int round) {
        if (round < spinLimit) {
            Thread.onSpinWait();
        } else {
            Thread.yield();
        }
    }
}
