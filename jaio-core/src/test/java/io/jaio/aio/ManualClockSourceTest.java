package io.jaio.aio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ManualClockSourceTest {

    @Test
    void clocksMoveOnlyWhenTold() {
        ManualClockSource c = new ManualClockSource();
        long rt = c.nowNs(ClockType.REALTIME);
        long host = c.nowNs(ClockType.HOST);
        assertEquals(rt, c.nowNs(ClockType.REALTIME));
        c.advance(ClockType.REALTIME, 1_000);
        assertEquals(rt + 1_000, c.nowNs(ClockType.REALTIME));
        assertEquals(host, c.nowNs(ClockType.HOST), "clocks are independent");
        c.set(ClockType.HOST, 123_456_789L);
        assertEquals(123_456_789L, c.nowNs(ClockType.HOST));
        assertEquals(rt + 1_000, c.nowNs(ClockType.REALTIME));
    }

    @Test
    void systemClockIsMonotonicForRealtime() {
        ClockSource s = ClockSource.system();
        long a = s.nowNs(ClockType.REALTIME);
        long b = s.nowNs(ClockType.REALTIME);
        assertTrue(b >= a);
    }
}
