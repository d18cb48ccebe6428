package io.jaio.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Runs {@link ThreadPoolCall#main}: both calls' results reach the coroutine, and it ran in the IoThread. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ThreadPoolCallTest {

    @Test
    void theCoroutineGetsBothResultsInTheLoopThread() {
        try (StdoutCapture out = new StdoutCapture()) {
            ThreadPoolCall.main(new String[0]);
            assertEquals(List.of(
                    "pool sum 500000500000, jdk sum 2001000, coroutine ran in IO example",
                    "executor task ran in IO example",
                    "done"), out.lines());
        }
    }
}
