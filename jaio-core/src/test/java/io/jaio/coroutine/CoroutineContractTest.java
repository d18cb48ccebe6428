package io.jaio.coroutine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.jaio.aio.AioContext;
import io.jaio.aio.ClockType;
import io.jaio.aio.IoThread;
import io.jaio.aio.ManualClockSource;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The harness of the coroutine contract, which is split by concern ({@link CoroutineBasicContract},
 * {@link CoroutineLockingContract}, {@link CoroutineMisuseContract},
 * {@link CoroutineSchedulingContract}, {@link CoroutineMultithreadContract}), each run once per
 * engine ({@code Continuation...ContractTest}, {@code VirtualThread...ContractTest}). It ports QEMU's
 * {@code tests/unit/test-coroutine.c} (qemu-test-scenarios.md 6), the coroutine cases of
 * {@code test-aio.c} (1: queue-chaining, worker-thread-co-enter), the coroutine cases of
 * {@code test-aio-multithread.c} (4: schedule, mutex/contended, mutex/handoff), sleep on a manual
 * clock, and the misuse cases QEMU aborts on (here IllegalStateException).
 *
 * <p>Assertions inside a coroutine body throw out of the {@code enter()} that runs it. In the
 * multithread cases the coroutines run in IoThreads, so they record violations in a queue that
 * the test checks instead.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
abstract class CoroutineContractTest {

    /** The engine under test. */
    abstract Engine engine();

    Coroutine co(Runnable body) {
        return Coroutine.create(body, engine());
    }
}
