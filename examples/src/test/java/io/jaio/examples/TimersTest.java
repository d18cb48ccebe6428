package io.jaio.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Runs {@link Timers#main}: the timers fire in deadline order, not in the order they were armed. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TimersTest {

    @Test
    void timersFireInDeadlineOrderAndTheCoroutineSleeps() {
        try (StdoutCapture out = new StdoutCapture()) {
            Timers.main(new String[0]);
            assertEquals(List.of("timer 10 ms", "timer 20 ms", "timer 30 ms",
                    "coroutine: before sleep", "coroutine: after sleep"), out.lines());
        }
    }
}
