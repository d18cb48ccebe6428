package io.jaio.aio;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.EventType;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Timespan;

/**
 * A JFR event for one {@link AioContext#poll} call: how long it may block, whether it waited in
 * the kernel, how long it busy-polled and whether it made progress. Disabled by default; enable
 * with {@code -XX:StartFlightRecording:settings=...} or {@code jfr configure +io.jaio.PollCycle#enabled=true}.
 * When disabled it costs one boolean read per poll.
 */
@Name("io.jaio.PollCycle")
@Label("AioContext poll")
@Category({"jaio", "Event loop"})
@Description("One AioContext.poll call")
@StackTrace(false)
final class PollCycleEvent extends Event {
    private static final EventType TYPE = EventType.getEventType(PollCycleEvent.class);

    @Label("Context")
    String context;

    @Label("Blocking")
    boolean blocking;

    @Label("Timeout")
    @Description("How long the call was allowed to block (-1: for ever)")
    @Timespan(Timespan.NANOSECONDS)
    long timeoutNs;

    @Label("Waited")
    @Description("Whether the fd monitor was asked to wait (a system call)")
    boolean waited;

    @Label("Busy polling")
    @Timespan(Timespan.NANOSECONDS)
    long busyPollNs;

    @Label("Ready handlers")
    int ready;

    @Label("Progress")
    boolean progress;

    @Label("Nesting depth")
    int depth;

    static boolean enabled() {
        return TYPE.isEnabled();
    }
}
