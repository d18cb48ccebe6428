package io.jaio.daemon;

import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The arguments of one QMP command (or of a command-line option in QEMU's key=value form, where
 * every value arrives as a string and "on"/"off" and numbers are accepted for booleans and
 * integers, as QEMU's keyval visitor does). Reads check types and report errors in QEMU's words
 * ({@code Parameter 'x' is missing}, {@code Invalid parameter type for 'x', expected: boolean},
 * {@code Parameter 'x' is unexpected}, {@code Parameter 'x' does not accept value 'y'}), naming
 * nested members by their full path ({@code addr.path}). Not thread-safe: one command at a time.
 */
final class Args {
    private final Map<String, Object> map;
    private final String prefix;
    private final boolean keyval;
    private final Set<String> used = new LinkedHashSet<>();

    Args(Map<String, Object> map, String prefix, boolean keyval) {
        this.map = map;
        this.prefix = prefix;
        this.keyval = keyval;
    }

    /** Arguments of a QMP command. */
    static Args qmp(Map<String, Object> map) {
        return new Args(map, "", false);
    }

    /**
     * Arguments of a command-line option: {@code a.b=v} items become nested objects.
     *
     * @throws QmpError if an item's key is given twice or clashes with a nested one
     */
    static Args keyval(Map<String, String> flat) {
        Map<String, Object> root = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : flat.entrySet()) {
            String[] parts = e.getKey().split("\\.", -1);
            Map<String, Object> m = root;
            for (int i = 0; i < parts.length - 1; i++) {
                Object o = m.computeIfAbsent(parts[i], k -> new LinkedHashMap<String, Object>());
                if (!(o instanceof Map)) {
                    throw QmpError.generic("Parameters '" + parts[i] + ".*' used inconsistently");
                }
                @SuppressWarnings("unchecked")
                Map<String, Object> next = (Map<String, Object>) o;
                m = next;
            }
            if (m.put(parts[parts.length - 1], e.getValue()) != null) {
                throw QmpError.generic("Parameter '" + e.getKey() + "' given twice");
            }
        }
        return new Args(root, "", true);
    }

    private String full(String key) {
        return prefix + key;
    }

    boolean has(String key) {
        return map.containsKey(key);
    }

    private Object raw(String key, boolean required) {
        used.add(key);
        Object v = map.get(key);
        if (v == null && required) {
            throw QmpError.generic("Parameter '" + full(key) + "' is missing");
        }
        return v;
    }

    private QmpError type(String key, String expected) {
        return QmpError.generic("Invalid parameter type for '" + full(key) + "', expected: " + expected);
    }

    String str(String key) {
        Object v = raw(key, true);
        if (!(v instanceof String s)) {
            throw type(key, "string");
        }
        return s;
    }

    String optStr(String key, String dflt) {
        return has(key) ? str(key) : markDefault(key, dflt);
    }

    private <T> T markDefault(String key, T dflt) {
        used.add(key);
        return dflt;
    }

    boolean bool(String key, boolean dflt) {
        if (!has(key)) {
            return markDefault(key, dflt);
        }
        Object v = raw(key, true);
        if (v instanceof Boolean b) {
            return b;
        }
        if (keyval && v instanceof String s) {
            Boolean b = KeyValues.parseBool(s);
            if (b == null) {
                throw QmpError.generic("Parameter '" + full(key) + "' expects 'on' or 'off'");
            }
            return b;
        }
        throw type(key, "boolean");
    }

    long integer(String key, long dflt, long min, long max) {
        if (!has(key)) {
            return markDefault(key, dflt);
        }
        Object v = raw(key, true);
        long n;
        if (v instanceof Long l) {
            n = l;
        } else if (keyval && v instanceof String s) {
            try {
                n = Long.parseLong(s);
            } catch (NumberFormatException e) {
                throw QmpError.generic("Parameter '" + full(key) + "' expects a number");
            }
        } else {
            throw type(key, "integer");
        }
        if (n < min || n > max) {
            throw QmpError.generic("Parameter '" + full(key) + "' expects a value in [" + min + ", " + max + "]");
        }
        return n;
    }

    /** An enum member: one of {@code allowed}. */
    String enumeration(String key, String dflt, List<String> allowed) {
        String v = dflt == null ? str(key) : optStr(key, dflt);
        if (!allowed.contains(v)) {
            throw QmpError.generic("Parameter '" + full(key) + "' does not accept value '" + v + "'");
        }
        return v;
    }

    /** A nested object (checked for unexpected members by {@link #done()} of the returned Args). */
    Args object(String key) {
        Object v = raw(key, true);
        if (!(v instanceof Map<?, ?> m)) {
            throw type(key, "object");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> mm = (Map<String, Object>) m;
        return new Args(mm, full(key) + ".", keyval);
    }

    /**
     * A list of strings: a JSON array in QMP, {@code key.0=a,key.1=b} on the command line (QEMU's
     * keyval lists). Empty if absent.
     */
    List<String> strList(String key) {
        if (!has(key)) {
            return markDefault(key, List.of());
        }
        Object v = raw(key, true);
        List<?> items;
        if (v instanceof List<?> l) {
            items = l;
        } else if (keyval && v instanceof Map<?, ?> m) {
            List<Object> l = new java.util.ArrayList<>();
            for (int i = 0; i < m.size(); i++) {
                Object o = m.get(Integer.toString(i));
                if (o == null) {
                    throw QmpError.generic("Parameter '" + full(key) + "." + i + "' is missing");
                }
                l.add(o);
            }
            items = l;
        } else {
            throw type(key, "array");
        }
        List<String> out = new java.util.ArrayList<>();
        for (int i = 0; i < items.size(); i++) {
            if (!(items.get(i) instanceof String s)) {
                throw QmpError.generic("Invalid parameter type for '" + full(key) + "[" + i + "]', expected: string");
            }
            out.add(s);
        }
        return out;
    }

    /** Whether {@code key} holds an object (not a string), for alternates such as raw's {@code file}. */
    boolean isObject(String key) {
        return map.get(key) instanceof Map;
    }

    /** Every member must have been read: QEMU's "Parameter 'x' is unexpected" otherwise. */
    void done() {
        for (String k : map.keySet()) {
            if (!used.contains(k)) {
                throw QmpError.generic("Parameter '" + full(k) + "' is unexpected");
            }
        }
    }

    /** Marks {@code key} as read without reading it (a member that is accepted and ignored). */
    void ignore(String key) {
        used.add(key);
    }
}
