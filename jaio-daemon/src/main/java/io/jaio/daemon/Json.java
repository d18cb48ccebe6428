package io.jaio.daemon;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small strict JSON reader and writer for QMP (RFC 8259 plus QEMU's extension of single-quoted
 * strings). Values map to {@code Map<String,Object>} (insertion-ordered), {@code List<Object>},
 * {@code String}, {@code Long} (integers that fit), {@code Double} (other numbers),
 * {@code Boolean} and {@link #NULL}. Duplicate keys, nesting deeper than {@link #MAX_DEPTH},
 * trailing garbage and unpaired surrogates are errors ({@link JsonException} with a message in
 * QEMU's words where QEMU has one). Stateless; any thread.
 */
final class Json {
    /** The JSON {@code null} (maps cannot hold Java null as a value marker in every API). */
    public static final Object NULL = new Object() {
        @Override
        public String toString() {
            return "null";
        }
    };
    /** Deepest nesting accepted (QEMU: 1024). */
    public static final int MAX_DEPTH = 1024;

    private Json() {}

    /** A malformed JSON text. */
    public static final class JsonException extends Exception {
        private static final long serialVersionUID = 1L;

        JsonException(String message) {
            super(message);
        }
    }

    /** Parses one complete JSON value; anything but whitespace after it is an error. */
    public static Object parse(String text) throws JsonException {
        Reader r = new Reader(text);
        r.ws();
        Object v = r.value(0);
        r.ws();
        if (r.pos != text.length()) {
            throw new JsonException("JSON parse error, expecting end of input at offset " + r.pos);
        }
        return v;
    }

    private static final class Reader {
        private final String s;
        private int pos;

        Reader(String s) {
            this.s = s;
        }

        void ws() {
            while (pos < s.length()) {
                char c = s.charAt(pos);
                if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                    pos++;
                } else {
                    break;
                }
            }
        }

        JsonException err(String what) {
            return new JsonException("JSON parse error, " + what);
        }

        Object value(int depth) throws JsonException {
            if (depth > MAX_DEPTH) {
                throw err("nesting too deep");
            }
            if (pos >= s.length()) {
                throw err("expecting value");
            }
            char c = s.charAt(pos);
            switch (c) {
                case '{':
                    return object(depth + 1);
                case '[':
                    return array(depth + 1);
                case '"':
                case '\'':
                    return string();
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        return number();
                    }
                    if (c >= 'a' && c <= 'z') {
                        int start = pos;
                        while (pos < s.length() && s.charAt(pos) >= 'a' && s.charAt(pos) <= 'z') {
                            pos++;
                        }
                        String kw = s.substring(start, pos);
                        return switch (kw) {
                            case "true" -> Boolean.TRUE;
                            case "false" -> Boolean.FALSE;
                            case "null" -> NULL;
                            default -> throw err("invalid keyword '" + clip(kw) + "'");
                        };
                    }
                    throw err("stray '" + clip(String.valueOf(c)) + "'");
            }
        }

        Map<String, Object> object(int depth) throws JsonException {
            pos++; // '{'
            Map<String, Object> m = new LinkedHashMap<>();
            ws();
            if (pos < s.length() && s.charAt(pos) == '}') {
                pos++;
                return m;
            }
            for (;;) {
                ws();
                if (pos >= s.length() || (s.charAt(pos) != '"' && s.charAt(pos) != '\'')) {
                    throw err("key is not a string in object");
                }
                String k = string();
                ws();
                if (pos >= s.length() || s.charAt(pos) != ':') {
                    throw err("missing : in object pair");
                }
                pos++;
                ws();
                Object v = value(depth);
                if (m.putIfAbsent(k, v) != null) {
                    throw err("duplicate key"); // QEMU's words, without the key
                }
                ws();
                if (pos >= s.length()) {
                    throw err("premature EOI");
                }
                char c = s.charAt(pos++);
                if (c == '}') {
                    return m;
                }
                if (c != ',') {
                    throw err("expected separator in dict");
                }
            }
        }

        List<Object> array(int depth) throws JsonException {
            pos++; // '['
            List<Object> l = new ArrayList<>();
            ws();
            if (pos < s.length() && s.charAt(pos) == ']') {
                pos++;
                return l;
            }
            for (;;) {
                ws();
                l.add(value(depth));
                ws();
                if (pos >= s.length()) {
                    throw err("premature EOI");
                }
                char c = s.charAt(pos++);
                if (c == ']') {
                    return l;
                }
                if (c != ',') {
                    throw err("expected separator in list");
                }
            }
        }

        String string() throws JsonException {
            char quote = s.charAt(pos++);
            StringBuilder b = new StringBuilder();
            for (;;) {
                if (pos >= s.length()) {
                    throw err("missing closing quote");
                }
                char c = s.charAt(pos++);
                if (c == quote) {
                    return b.toString();
                }
                if (c < 0x20) {
                    throw err("control character in string");
                }
                if (c != '\\') {
                    if (Character.isSurrogate(c)) {
                        if (Character.isHighSurrogate(c) && pos < s.length() && Character.isLowSurrogate(s.charAt(pos))) {
                            b.append(c).append(s.charAt(pos++));
                            continue;
                        }
                        throw err("invalid UTF-8 sequence in string");
                    }
                    b.append(c);
                    continue;
                }
                if (pos >= s.length()) {
                    throw err("missing closing quote");
                }
                char e = s.charAt(pos++);
                switch (e) {
                    case '"', '\'', '\\', '/' -> b.append(e);
                    case 'b' -> b.append('\b');
                    case 'f' -> b.append('\f');
                    case 'n' -> b.append('\n');
                    case 'r' -> b.append('\r');
                    case 't' -> b.append('\t');
                    case 'u' -> {
                        int cp = hex4();
                        if (Character.isHighSurrogate((char) cp)) {
                            if (pos + 1 < s.length() && s.charAt(pos) == '\\' && s.charAt(pos + 1) == 'u') {
                                pos += 2;
                                int lo = hex4();
                                if (!Character.isLowSurrogate((char) lo)) {
                                    throw err("missing low surrogate in string");
                                }
                                b.append((char) cp).append((char) lo);
                            } else {
                                throw err("missing low surrogate in string");
                            }
                        } else if (Character.isLowSurrogate((char) cp)) {
                            throw err("unpaired low surrogate in string");
                        } else if (cp == 0) {
                            throw err("\\u0000 is not supported");
                        } else {
                            b.append((char) cp);
                        }
                    }
                    default -> throw err("invalid escape sequence in string");
                }
            }
        }

        int hex4() throws JsonException {
            if (pos + 4 > s.length()) {
                throw err("invalid hex escape sequence in string");
            }
            int v = 0;
            for (int i = 0; i < 4; i++) {
                int d = Character.digit(s.charAt(pos++), 16);
                if (d < 0) {
                    throw err("invalid hex escape sequence in string");
                }
                v = v << 4 | d;
            }
            return v;
        }

        Object number() throws JsonException {
            int start = pos;
            if (s.charAt(pos) == '-') {
                pos++;
            }
            int intStart = pos;
            while (pos < s.length() && Character.isDigit(s.charAt(pos))) {
                pos++;
            }
            if (pos == intStart || (s.charAt(intStart) == '0' && pos - intStart > 1)) {
                throw err("invalid number '" + clip(s.substring(start, Math.min(s.length(), pos + 1))) + "'");
            }
            boolean integral = true;
            if (pos < s.length() && s.charAt(pos) == '.') {
                integral = false;
                pos++;
                int f = pos;
                while (pos < s.length() && Character.isDigit(s.charAt(pos))) {
                    pos++;
                }
                if (pos == f) {
                    throw err("invalid number");
                }
            }
            if (pos < s.length() && (s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
                integral = false;
                pos++;
                if (pos < s.length() && (s.charAt(pos) == '+' || s.charAt(pos) == '-')) {
                    pos++;
                }
                int f = pos;
                while (pos < s.length() && Character.isDigit(s.charAt(pos))) {
                    pos++;
                }
                if (pos == f) {
                    throw err("invalid number");
                }
            }
            String t = s.substring(start, pos);
            if (integral) {
                try {
                    return Long.parseLong(t);
                } catch (NumberFormatException e) {
                    // out of range: QEMU keeps it as a double
                }
            }
            return Double.parseDouble(t);
        }
    }

    private static String clip(String s) {
        return s.length() > 64 ? s.substring(0, 64) + "..." : s;
    }

    /** Writes {@code v} compactly on one line (QEMU's separators: ", " and ": "). */
    public static String write(Object v) {
        StringBuilder b = new StringBuilder();
        write(b, v);
        return b.toString();
    }

    private static void write(StringBuilder b, Object v) {
        if (v == null || v == NULL) {
            b.append("null");
        } else if (v instanceof String str) {
            quote(b, str);
        } else if (v instanceof Boolean || v instanceof Long || v instanceof Integer) {
            b.append(v);
        } else if (v instanceof Double d) {
            b.append(d.isNaN() || d.isInfinite() ? "0" : d.toString());
        } else if (v instanceof Map<?, ?> m) {
            b.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!first) {
                    b.append(", ");
                }
                first = false;
                quote(b, (String) e.getKey());
                b.append(": ");
                write(b, e.getValue());
            }
            b.append('}');
        } else if (v instanceof List<?> l) {
            b.append('[');
            for (int i = 0; i < l.size(); i++) {
                if (i > 0) {
                    b.append(", ");
                }
                write(b, l.get(i));
            }
            b.append(']');
        } else {
            throw new IllegalArgumentException("not a JSON value: " + v.getClass().getName());
        }
    }

    private static void quote(StringBuilder b, String s) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                case '\b' -> b.append("\\b");
                case '\f' -> b.append("\\f");
                default -> {
                    if (c < 0x20 || c == 0x7f) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        b.append('"');
    }

    /** An ordered map from alternating keys and values, for building replies. */
    public static Map<String, Object> obj(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return Collections.unmodifiableMap(m);
    }
}
