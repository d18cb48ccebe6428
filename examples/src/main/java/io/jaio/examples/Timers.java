package io.jaio.examples;

import io.jaio.aio.AioContext;
import io.jaio.aio.ClockType;
import io.jaio.aio.Timer;
import io.jaio.coroutine.Coroutine;
import java.util.concurrent.TimeUnit;

/**
 * Timers two ways: callback timers armed out of order fire in deadline order, and a coroutine
 * sleeps with {@link Coroutine#sleepNs} (a timer that wakes it) between two lines.
 *
 * <p>{@code java ... io.jaio.examples.Timers} prints "timer 10 ms", "timer 20 ms",
 * "timer 30 ms", then "coroutine: before sleep", "coroutine: after sleep".
 */
public final class Timers {
    private Timers() {}

    /**
     * Runs both demonstrations on the calling thread's context.
     *
     * @param args ignored
     */
    public static void main(String[] args) {
        try (AioContext ctx = AioContext.create()) {
            int[] fired = {0};
            long now = ctx.nowNs(ClockType.REALTIME);
            for (int ms : new int[] {30, 10, 20}) {           // armed out of order
                Timer t = ctx.newTimer(ClockType.REALTIME, TimeUnit.MILLISECONDS, () -> {
                    System.out.println("timer " + ms + " ms");
                    fired[0]++;
                });
                t.modNs(now + TimeUnit.MILLISECONDS.toNanos(ms));    // a fired timer needs no del()
            }
            while (fired[0] < 3) {
                ctx.poll(true);                                // blocks until the next deadline
            }

            Coroutine co = Coroutine.create(() -> {
                System.out.println("coroutine: before sleep");
                Coroutine.sleepNs(ClockType.REALTIME, TimeUnit.MILLISECONDS.toNanos(15));
                System.out.println("coroutine: after sleep");
            });
            co.enter();                                        // runs until the sleep yields
            while (!co.isTerminated()) {
                ctx.poll(true);                                // the sleep's timer wakes it
            }
        }
    }
}
