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
 * A JFR event for one sample of a context's CPU-contention detector ({@code poll-contention=on},
 * see PollContention): how often the home thread was preempted during the interval and the
 * polling cap that followed. At most one per 10 ms per context. Disabled by default; enable with
 * {@code jfr configure +io.jaio.PollContention#enabled=true}.
 */
@Name("io.jaio.PollContention")
@Label("AioContext polling contention")
@Category({"jaio", "Event loop"})
@Description("One sample of the busy-polling CPU-contention detector")
@StackTrace(false)
final class PollContentionEvent extends Event {
    private static final EventType TYPE = EventType.getEventType(PollContentionEvent.class);

    @Label("Context")
    String context;

    @Label("Interval")
    @Timespan(Timespan.NANOSECONDS)
    long intervalNs;

    @Label("Preemptions")
    @Description("Involuntary context switches of the home thread during the interval")
    long preemptions;

    @Label("Contended")
    boolean contended;

    @Label("Cap before")
    @Description("Polling cap before the sample (-1: none)")
    @Timespan(Timespan.NANOSECONDS)
    long capBeforeNs;

    @Label("Cap")
    @Description("Polling cap after the sample (0: polling suspended, -1: none)")
    @Timespan(Timespan.NANOSECONDS)
    long capNs;

    @Label("Largest window asked")
    @Timespan(Timespan.NANOSECONDS)
    long askedNs;

    static boolean enabled() {
        return TYPE.isEnabled();
    }
}
