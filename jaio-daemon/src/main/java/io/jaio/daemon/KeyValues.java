package io.jaio.daemon;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * QEMU-style option strings: {@code key=value,key=value}, where {@code ,,} stands for a literal
 * comma inside a value. Parsing fails with a message that names the option and the bad part.
 */
final class KeyValues {
    private KeyValues() {}

    /**
     * Parses {@code text} for option {@code option}; every key must be in {@code known}.
     *
     * @throws IllegalArgumentException naming the bad part
     */
    static Map<String, String> parse(String option, String text, Set<String> known) {
        Map<String, String> out = parseAny(option, text, null);
        for (String k : out.keySet()) {
            if (!known.contains(k)) {
                throw new IllegalArgumentException(option + ": unknown key '" + k + "' (known: " + String.join(", ", known) + ")");
            }
        }
        return out;
    }

    /**
     * A boolean option value in QEMU's vocabulary ({@code qapi_bool_parse}: on/yes/true/y and
     * off/no/false/n, case-sensitive), or null if {@code v} is none of them. The one vocabulary
     * of the daemon: {@link #onOff} and {@link Args#bool} both use it.
     */
    static Boolean parseBool(String v) {
        return switch (v) {
            case "on", "yes", "true", "y" -> Boolean.TRUE;
            case "off", "no", "false", "n" -> Boolean.FALSE;
            default -> null;
        };
    }

    static boolean onOff(String option, String key, String v) {
        Boolean b = parseBool(v);
        if (b == null) {
            throw new IllegalArgumentException(option + ": " + key + "=" + v + " must be on or off");
        }
        return b;
    }

    static long nonNegativeLong(String option, String key, String v) {
        try {
            long n = Long.parseLong(v);
            if (n < 0) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + ": " + key + "=" + v + " must be an integer in [0, " + Long.MAX_VALUE + "]");
        }
    }

    /**
     * QEMU's keyval form without a fixed key set: {@code a=b,c.d=e}, where the first item may
     * omit its key ({@code iothread,id=x} means {@code impliedKey=iothread,id=x}) and ",," is a
     * literal comma. The values are checked later ({@link Args#keyval}).
     *
     * @throws IllegalArgumentException for an empty item, a repeated key, or a later item without '='
     */
    static Map<String, String> parseAny(String option, String text, String impliedKey) {
        Map<String, String> out = new LinkedHashMap<>();
        StringBuilder part = new StringBuilder();
        boolean first = true;
        for (int i = 0; i <= text.length(); i++) {
            char c = i < text.length() ? text.charAt(i) : ',';
            if (c == ',' && i + 1 < text.length() && text.charAt(i + 1) == ',') {
                part.append(',');
                i++;
                continue;
            }
            if (c != ',') {
                part.append(c);
                continue;
            }
            String p = part.toString();
            part.setLength(0);
            if (p.isEmpty()) {
                throw new IllegalArgumentException(option + ": empty item in '" + text + "'");
            }
            int eq = p.indexOf('=');
            String k;
            String v;
            if (eq < 0 && first && impliedKey != null) {
                k = impliedKey;
                v = p;
            } else if (eq <= 0) {
                throw new IllegalArgumentException(option + ": '" + p + "' is not key=value");
            } else {
                k = p.substring(0, eq);
                v = p.substring(eq + 1);
            }
            first = false;
            if (out.put(k, v) != null) {
                throw new IllegalArgumentException(option + ": key '" + k + "' given twice");
            }
        }
        return out;
    }
}
