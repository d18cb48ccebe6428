package io.jaio.coroutine;

/**
 * Not a test: measures one enter + yield round trip, and create + enter to the end, per engine
 * (QEMU's /perf/yield and /perf/lifecycle shapes). Run after {@code mvn test-compile}:
 * <pre>
 * java --add-exports java.base/jdk.internal.vm=ALL-UNNAMED \
 *      -cp jaio-core/target/classes:jaio-core/target/test-classes io.jaio.coroutine.CoroutineRoundTrip
 * </pre>
 */
final class CoroutineRoundTrip {

    private CoroutineRoundTrip() {}

    public static void main(String[] args) {
        for (Engine e : Engine.values()) {
            if (e == Engine.CONTINUATION && !Engine.continuationsAvailable()) {
                System.out.println("continuation: unavailable");
                continue;
            }
            boolean fast = e == Engine.CONTINUATION;
            long n = fast ? 20_000_000 : 200_000;
            for (int round = 0; round < 3; round++) {
                System.out.printf("%-12s round %d: enter+yield %8.1f ns, create+enter %8.1f ns%n", e.propertyValue, round,
                        roundTrip(e, n), lifecycle(e, n / 10));
            }
        }
    }

    private static volatile boolean stop;

    private static double roundTrip(Engine e, long n) {
        stop = false;
        Coroutine c = Coroutine.create(() -> {
            while (!stop) {
                Coroutine.yield();
            }
        }, e);
        c.enter();
        long t0 = System.nanoTime();
        for (long i = 0; i < n; i++) {
            c.enter();
        }
        long t1 = System.nanoTime();
        stop = true;
        c.enter();
        return (t1 - t0) / (double) n;
    }

    private static double lifecycle(Engine e, long n) {
        Runnable empty = () -> { };
        long t0 = System.nanoTime();
        for (long i = 0; i < n; i++) {
            Coroutine.create(empty, e).enter();
        }
        return (System.nanoTime() - t0) / (double) n;
    }
}
