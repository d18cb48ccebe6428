package io.jaio.coroutine;

/** Lets tests of other packages create coroutines on a chosen engine ("continuation" or "virtual"). */
public final class TestEngines {
    private TestEngines() {}

    /** A coroutine on the engine named {@code engine} ({@code -Djaio.coroutines} spelling). */
    public static Coroutine create(Runnable body, String engine) {
        return Coroutine.create(body, Engine.parse(engine));
    }
}
