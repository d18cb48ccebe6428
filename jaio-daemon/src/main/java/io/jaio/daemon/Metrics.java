package io.jaio.daemon;

import com.sun.net.httpserver.HttpServer;

import io.jaio.aio.AioContext;
import io.jaio.nbd.NbdExport;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Live counters of the daemon: per export (requests, errors, bytes, latency histogram) and per
 * IOThread (loop passes, eventfd wake-ups, callback errors, poll window), rendered for QMP's
 * {@code query-stats} and as OpenMetrics text for {@code --metrics tcp=HOST:PORT}.
 *
 * <p>Threads: any control thread; {@link #snapshot} takes the daemon's lock briefly.
 */
final class Metrics {
    private Metrics() {}

    /** One export's counters, summed over the servers of the group. */
    record ExportSample(String id, String name, NbdExport.Stats stats) {
    }

    /** One IOThread's counters. */
    record ThreadSample(String id, IoThreadCounters counters) {
    }

    /**
     * The loop counters jaio-core exposes today. The one place that reads them: when the core
     * gathers them into a stats record, only {@link #of} changes.
     */
    record IoThreadCounters(long pollPasses, long eventfdWakeups, long callbackErrors, long pollMaxNs,
                            long pollGrow, long pollShrink, long contendedSamples, long cappedPollWindows) {
        IoThreadCounters(long pollPasses, long eventfdWakeups, long callbackErrors, long pollMaxNs, long pollGrow,
                long pollShrink) {
            this(pollPasses, eventfdWakeups, callbackErrors, pollMaxNs, pollGrow, pollShrink, 0, 0);
        }

        static IoThreadCounters of(AioContext c) {
            io.jaio.aio.AioStats s = c.stats();
            return new IoThreadCounters(s.pollCount(), s.eventfdWrites(), s.callbackErrors(), c.pollMaxNs(),
                    c.pollGrow(), c.pollShrink(), s.contendedSamples(), s.cappedPollWindows());
        }
    }

    record Snapshot(List<ExportSample> exports, List<ThreadSample> threads) {
    }

    /** QMP {@code query-stats} (jaio's targets: block-export, iothread), in QEMU's StatsResult shape. */
    static List<Object> queryStats(Daemon d, Args a) {
        String target = a.enumeration("target", null, List.of("block-export", "iothread"));
        a.ignore("providers");
        a.done();
        Snapshot s = d.metrics();
        List<Object> out = new ArrayList<>();
        if (target.equals("block-export")) {
            for (ExportSample e : s.exports()) {
                NbdExport.Stats st = e.stats();
                List<Object> buckets = new ArrayList<>();
                for (long b : st.latencyBuckets()) {
                    buckets.add(b);
                }
                out.add(Json.obj("provider", "jaio", "qom-path", "/block-exports/" + e.id(), "stats", List.of(
                        stat("requests", st.requests()), stat("errors", st.errors()),
                        stat("bytes-read", st.bytesRead()), stat("bytes-written", st.bytesWritten()),
                        stat("latency-sum-ns", st.latencySumNs()), stat("latency-histogram-log2-us", buckets),
                        stat("receive-waits-executing", st.waitsExecuting()),
                        stat("receive-waits-unsent", st.waitsUnsent()))));
            }
        } else {
            for (ThreadSample t : s.threads()) {
                IoThreadCounters c = t.counters();
                out.add(Json.obj("provider", "jaio", "qom-path", "/objects/" + t.id(), "stats", List.of(
                        stat("poll-passes", c.pollPasses()), stat("eventfd-wakeups", c.eventfdWakeups()),
                        stat("callback-errors", c.callbackErrors()), stat("poll-max-ns", c.pollMaxNs()),
                        stat("poll-grow", c.pollGrow()), stat("poll-shrink", c.pollShrink()),
                        stat("poll-contended-samples", c.contendedSamples()),
                        stat("poll-capped-windows", c.cappedPollWindows()))));
            }
        }
        return out;
    }

    private static Map<String, Object> stat(String name, Object value) {
        return Json.obj("name", name, "value", value);
    }

    /** The OpenMetrics text exposition of {@code s}. */
    static String openMetrics(Snapshot s) {
        StringBuilder b = new StringBuilder();
        counterHeader(b, "jaio_export_requests", "NBD requests answered");
        for (ExportSample e : s.exports()) {
            sample(b, "jaio_export_requests_total", e, e.stats().requests());
        }
        counterHeader(b, "jaio_export_errors", "NBD requests answered with an error");
        for (ExportSample e : s.exports()) {
            sample(b, "jaio_export_errors_total", e, e.stats().errors());
        }
        counterHeader(b, "jaio_export_read_bytes", "Payload bytes read by clients");
        for (ExportSample e : s.exports()) {
            sample(b, "jaio_export_read_bytes_total", e, e.stats().bytesRead());
        }
        counterHeader(b, "jaio_export_written_bytes", "Payload bytes written by clients");
        for (ExportSample e : s.exports()) {
            sample(b, "jaio_export_written_bytes_total", e, e.stats().bytesWritten());
        }
        counterHeader(b, "jaio_export_receive_waits",
                "Times a connection stopped reading requests: reason executing (the cap of requests running)"
                + " or unsent (the bound of replies the client has not read yet)");
        for (ExportSample e : s.exports()) {
            sample(b, "jaio_export_receive_waits_total", e, "reason", "executing", e.stats().waitsExecuting());
            sample(b, "jaio_export_receive_waits_total", e, "reason", "unsent", e.stats().waitsUnsent());
        }
        b.append("# TYPE jaio_export_request_latency_seconds histogram\n");
        b.append("# HELP jaio_export_request_latency_seconds From request header read to reply written\n");
        for (ExportSample e : s.exports()) {
            long cum = 0;
            long[] bk = e.stats().latencyBuckets();
            for (int i = 0; i < bk.length; i++) {
                cum += bk[i];
                long up = NbdExport.Stats.latencyBucketUpperNs(i);
                String le = up == Long.MAX_VALUE ? "+Inf" : Double.toString(up / 1e9);
                b.append("jaio_export_request_latency_seconds_bucket{id=\"").append(esc(e.id())).append("\",le=\"")
                        .append(le).append("\"} ").append(cum).append('\n');
            }
            b.append("jaio_export_request_latency_seconds_count{id=\"").append(esc(e.id())).append("\"} ").append(cum).append('\n');
            b.append("jaio_export_request_latency_seconds_sum{id=\"").append(esc(e.id())).append("\"} ")
                    .append(e.stats().latencySumNs() / 1e9).append('\n');
        }
        counterHeader(b, "jaio_iothread_poll_passes", "Event-loop passes (aio_poll calls)");
        for (ThreadSample t : s.threads()) {
            tsample(b, "jaio_iothread_poll_passes_total", t, t.counters().pollPasses());
        }
        counterHeader(b, "jaio_iothread_eventfd_wakeups", "Wake-ups of the loop through its eventfd");
        for (ThreadSample t : s.threads()) {
            tsample(b, "jaio_iothread_eventfd_wakeups_total", t, t.counters().eventfdWakeups());
        }
        counterHeader(b, "jaio_iothread_callback_errors", "Exceptions thrown by loop callbacks");
        for (ThreadSample t : s.threads()) {
            tsample(b, "jaio_iothread_callback_errors_total", t, t.counters().callbackErrors());
        }
        counterHeader(b, "jaio_iothread_poll_contended_samples", "10 ms samples in which the IOThread was preempted too often to busy-poll (poll-contention)");
        for (ThreadSample t : s.threads()) {
            tsample(b, "jaio_iothread_poll_contended_samples_total", t, t.counters().contendedSamples());
        }
        counterHeader(b, "jaio_iothread_poll_capped_windows", "Busy-polling windows shortened or suspended by poll-contention");
        for (ThreadSample t : s.threads()) {
            tsample(b, "jaio_iothread_poll_capped_windows_total", t, t.counters().cappedPollWindows());
        }
        b.append("# TYPE jaio_iothread_poll_max_ns gauge\n# HELP jaio_iothread_poll_max_ns Longest busy-poll window\n");
        for (ThreadSample t : s.threads()) {
            tsample(b, "jaio_iothread_poll_max_ns", t, t.counters().pollMaxNs());
        }
        b.append("# EOF\n");
        return b.toString();
    }

    private static void counterHeader(StringBuilder b, String name, String help) {
        b.append("# TYPE ").append(name).append(" counter\n# HELP ").append(name).append(' ').append(help).append('\n');
    }

    private static void sample(StringBuilder b, String metric, ExportSample e, long v) {
        sample(b, metric, e, null, null, v);
    }

    /** A sample of {@code metric} for export {@code e}, with one more label unless {@code label} is null. */
    private static void sample(StringBuilder b, String metric, ExportSample e, String label, String value, long v) {
        b.append(metric).append("{id=\"").append(esc(e.id())).append("\",name=\"").append(esc(e.name()));
        if (label != null) {
            b.append("\",").append(label).append("=\"").append(esc(value));
        }
        b.append("\"} ").append(v).append('\n');
    }

    private static void tsample(StringBuilder b, String metric, ThreadSample t, long v) {
        b.append(metric).append("{iothread=\"").append(esc(t.id())).append("\"} ").append(v).append('\n');
    }

    private static String esc(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }

    /** The {@code --metrics tcp=HOST:PORT} endpoint: GET /metrics. */
    static final class Endpoint implements AutoCloseable {
        private final HttpServer http;

        Endpoint(Daemon d, InetSocketAddress addr) throws IOException {
            http = HttpServer.create(addr, 16);
            http.createContext("/metrics", ex -> {
                try (ex) {
                    if (!ex.getRequestMethod().equals("GET")) {
                        ex.sendResponseHeaders(405, -1);
                        return;
                    }
                    byte[] body = openMetrics(d.metrics()).getBytes(StandardCharsets.UTF_8);
                    ex.getResponseHeaders().set("Content-Type",
                            "application/openmetrics-text; version=1.0.0; charset=utf-8");
                    ex.sendResponseHeaders(200, body.length);
                    try (OutputStream o = ex.getResponseBody()) {
                        o.write(body);
                    }
                }
            });
            http.setExecutor(null); // the server's own dispatcher thread: never an IOThread
            http.start();
        }

        InetSocketAddress address() {
            return http.getAddress();
        }

        @Override
        public void close() {
            http.stop(0);
        }
    }
}
