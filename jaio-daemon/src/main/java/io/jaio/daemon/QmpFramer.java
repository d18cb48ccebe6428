package io.jaio.daemon;

/**
 * Splits a QMP input stream into JSON texts the way QEMU's json-streamer does: a text ends when
 * its brackets balance outside strings (or, for a top-level scalar, at the first whitespace or
 * bracket after it). Bounded: a text longer than {@code maxChars} is reported as too long.
 * Not thread-safe: one reader thread per connection.
 */
final class QmpFramer {
    /** What {@link #feed} found. */
    interface Sink {
        void text(String json);

        /** A text exceeded the bound; the connection should be closed. */
        void tooLong();
    }

    private final int maxChars;
    private final StringBuilder buf = new StringBuilder();
    private int depth;
    /** 0 outside a string, else the quote character. */
    private char quote;
    private boolean escape;
    private boolean scalar;

    QmpFramer(int maxChars) {
        this.maxChars = maxChars;
    }

    /** Feeds characters; calls {@code sink} for every complete text. Returns false after tooLong. */
    boolean feed(char[] chars, int off, int len, Sink sink) {
        for (int i = off; i < off + len; i++) {
            char c = chars[i];
            if (quote != 0) {
                buf.append(c);
                if (escape) {
                    escape = false;
                } else if (c == '\\') {
                    escape = true;
                } else if (c == quote) {
                    quote = 0;
                    if (depth == 0) {
                        emit(sink);
                    }
                }
            } else if (scalar) {
                if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '{' || c == '[' || c == '}' || c == ']'
                        || c == '"' || c == '\'' || c == ',' || c == ':') {
                    scalar = false;
                    emit(sink);
                    i--; // look at c again at top level
                    continue;
                }
                buf.append(c);
            } else if (c == '"' || c == '\'') {
                buf.append(c);
                quote = c;
            } else if (c == '{' || c == '[') {
                buf.append(c);
                depth++;
            } else if (c == '}' || c == ']') {
                buf.append(c);
                depth--;
                if (depth <= 0) {
                    depth = 0;
                    emit(sink);
                }
            } else if (depth == 0) {
                if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                    continue;
                }
                buf.append(c);
                if (c == ',' || c == ':') {
                    emit(sink);
                } else {
                    scalar = true;
                }
            } else {
                buf.append(c);
            }
            if (buf.length() > maxChars) {
                buf.setLength(0);
                sink.tooLong();
                return false;
            }
        }
        return true;
    }

    private void emit(QmpFramer.Sink sink) {
        String t = buf.toString();
        buf.setLength(0);
        if (!t.isEmpty()) {
            sink.text(t);
        }
    }
}
