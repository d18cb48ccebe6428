package io.jaio.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** The QMP JSON reader/writer and the stream framer, on strings: no sockets. */
class QmpJsonTest {
    private static String err(String text) {
        return assertThrows(Json.JsonException.class, () -> Json.parse(text)).getMessage();
    }

    @Test
    void parsesEveryValueKind() throws Exception {
        assertEquals(Map.of("a", 1L, "b", List.of(true, false, "x"), "c", 1.5, "d", -7L, "e", 1e3),
                Json.parse(" {\"a\": 1, \"b\": [true, false, 'x'], \"c\": 1.5, \"d\": -7, \"e\": 1e3}\n"));
        assertSame(Json.NULL, Json.parse("null"));
        assertEquals("é\n\u20ac😀", Json.parse("\"\\u00e9\\n\\u20ac\\ud83d\\ude00\""));
        assertEquals(List.of("a", "b"), new ArrayList<>(((Map<?, ?>) Json.parse("{\"a\":1,\"b\":2}")).keySet()));
        assertEquals(9.223372036854776E18, Json.parse("9223372036854775808")); // beyond long: a double, as QEMU
    }

    @Test
    void refusesMalformedTextInQemusWords() {
        assertEquals("JSON parse error, invalid keyword 'garbage'", err("garbage"));
        assertEquals("JSON parse error, duplicate key", err("{\"a\": 1, \"a\": 2}"));
        assertEquals("JSON parse error, expecting end of input at offset 3", err("{} {}"));
        assertEquals("JSON parse error, missing closing quote", err("\"abc"));
        assertEquals("JSON parse error, nesting too deep", err("[".repeat(Json.MAX_DEPTH + 2) + "]".repeat(Json.MAX_DEPTH + 2)));
        assertEquals("JSON parse error, unpaired low surrogate in string", err("\"\\udc00\""));
        assertEquals("JSON parse error, key is not a string in object", err("{1: 2}"));
        assertEquals("JSON parse error, expected separator in dict", err("{\"a\": 1 \"b\": 2}"));
        assertEquals("JSON parse error, control character in string", err("\"a\u0001\""));
    }

    @Test
    void writesQemusLayout() {
        assertEquals("{\"return\": {}, \"id\": [1, \"a\\\"b\\n\", null, true]}",
                Json.write(Json.obj("return", Json.obj(), "id", List.of(1L, "a\"b\n", Json.NULL, true))));
        assertEquals("\"\\u0001\"", Json.write("\u0001"));
    }

    @Test
    void framerSplitsTextsAcrossReadsAndKeepsStringsWhole() {
        List<String> got = new ArrayList<>();
        QmpFramer f = new QmpFramer(1 << 20);
        QmpFramer.Sink sink = new QmpFramer.Sink() {
            @Override
            public void text(String json) {
                got.add(json);
            }

            @Override
            public void tooLong() {
                got.add("TOO LONG");
            }
        };
        String in = "{\"a\": \"}{\\\"\"}\n{\"b\":\n [1]}garbage\n[1]";
        for (char c : in.toCharArray()) { // one character per read: the worst split
            f.feed(new char[] {c}, 0, 1, sink);
        }
        assertEquals(List.of("{\"a\": \"}{\\\"\"}", "{\"b\":\n [1]}", "garbage", "[1]"), got);
        got.clear();
        QmpFramer small = new QmpFramer(16);
        char[] big = ("{\"x\": \"" + "a".repeat(64) + "\"}").toCharArray();
        assertFalse(small.feed(big, 0, big.length, sink));
        assertEquals(List.of("TOO LONG"), got);
    }
}
