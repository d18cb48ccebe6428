package io.jaio.aio;

import io.jaio.coroutine.Coroutine;

/**
 * The program {@link JvmFlagsTest} runs in a JVM started without some of jaio's flags: builds a
 * context (where the start-up check logs), then forces the continuation engine and prints what
 * creating a coroutine says.
 */
final class JvmFlagsProbe {
    private JvmFlagsProbe() {}

    public static void main(String[] args) {
        try (AioContext ctx = AioContext.create()) {
            System.out.println("context " + ctx.name() + " built");
        }
        System.setProperty("jaio.coroutines", "continuation");
        try {
            Coroutine.create(() -> { });
            System.out.println("continuation engine: usable");
        } catch (IllegalStateException e) {
            System.out.println("continuation engine: " + e.getMessage());
        }
    }
}
