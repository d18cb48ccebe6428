package io.jaio.coroutine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** {@code -Djaio.coroutines=continuation|virtual}, read at every {@link Coroutine#create}. */
class EngineSelectionTest {

    private final String saved = System.getProperty(Engine.PROPERTY);

    @AfterEach
    void restore() {
        if (saved == null) {
            System.clearProperty(Engine.PROPERTY);
        } else {
            System.setProperty(Engine.PROPERTY, saved);
        }
    }

    @Test
    void defaultIsContinuationWhenExported() {
        System.clearProperty(Engine.PROPERTY);
        assertSame(Engine.CONTINUATION, Coroutine.create(() -> { }).engine);
    }

    @Test
    void propertyForcesAnEngine() {
        System.setProperty(Engine.PROPERTY, "virtual");
        assertSame(Engine.VIRTUAL, Coroutine.create(() -> { }).engine);
        System.setProperty(Engine.PROPERTY, " Continuation ");
        assertSame(Engine.CONTINUATION, Coroutine.create(() -> { }).engine);
    }

    @Test
    void unknownValueIsRejected() {
        System.setProperty(Engine.PROPERTY, "fibers");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Coroutine.create(() -> { }));
        assertEquals("-Djaio.coroutines=fibers: expected continuation or virtual", e.getMessage());
    }
}
