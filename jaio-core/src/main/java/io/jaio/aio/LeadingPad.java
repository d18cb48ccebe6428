package io.jaio.aio;

/**
 * The leading 128 bytes of an object whose fields other threads read or write on every pass or
 * schedule (two cache lines: the adjacent-line prefetch pair). A class puts its hot fields in a
 * subclass of this and 128 bytes of its own after them; superclass fields are laid out first, so
 * no object the heap puts before it, and none after it, shares a line with them.
 * PaddingLayoutTest checks the offsets. Layout only: nothing reads these fields.
 */
@SuppressWarnings("unused")
abstract class LeadingPad {
    // Fills the 4 bytes after a compressed object header, which the JVM would otherwise give to
    // a small field of a subclass, before the pad.
    int p;
    long p00, p01, p02, p03, p04, p05, p06, p07;
    long p08, p09, p10, p11, p12, p13, p14, p15;
}
