package io.jaio.coroutine;

/**
 * What a coroutine runs on: the engine-specific half of a {@link Coroutine}. Exactly one of the
 * entering side and the strand runs at a time, so the fields of a coroutine need no other
 * synchronisation than the hand-off each implementation performs.
 */
interface Strand {

    /**
     * Runs the coroutine until it yields or its body ends, then returns; the caller's side of a
     * switch (QEMU's {@code qemu_coroutine_switch(self, to, COROUTINE_ENTER)}). {@code self} is
     * the coroutine the caller itself is running in, or null. Called on the entering thread.
     */
    void resume(Coroutine to, Coroutine self);

    /**
     * Gives control back to whoever resumed this strand, and returns when it is resumed again
     * (QEMU's {@code qemu_coroutine_switch(self, caller, COROUTINE_YIELD)}). Called by the
     * coroutine itself.
     */
    void suspend();

    /** Whether the body has ended (normally or not). Read by the entering side after resume. */
    boolean isDone();
}
