package io.jaio.aio;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** EventNotifier (docs/design/aio-semantics.md 17): an idempotent latch readable by the fd monitor. */
class EventNotifierTest {

    @Test
    void setIsIdempotentAndTestAndClearReportsIt() {
        try (EventNotifier n = EventNotifier.create()) {
            assertTrue(n.fd() >= 0);
            assertFalse(n.testAndClear(), "a new notifier is clear");
            n.set();
            n.set();
            n.set();
            assertTrue(n.testAndClear());
            assertFalse(n.testAndClear(), "one testAndClear drains every set()");
            n.set();
            assertTrue(n.testAndClear());
        }
    }

    @Test
    void setFromAnotherThreadIsSeen() throws Exception {
        try (EventNotifier n = EventNotifier.create()) {
            Thread t = TestSupport.startThread("setter", n::set);
            assertTrue(TestSupport.join(t, 10_000));
            assertTrue(n.testAndClear());
        }
    }
}
