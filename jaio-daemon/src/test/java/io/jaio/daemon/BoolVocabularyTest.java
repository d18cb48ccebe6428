package io.jaio.daemon;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One boolean vocabulary for every option form, QEMU's ({@code qapi_bool_parse}): the short
 * options' key=value strings ({@link KeyValues#onOff}) and the QAPI-shaped ones
 * ({@link Args#bool} on a keyval map) accept and refuse the same spellings.
 */
class BoolVocabularyTest {
    private static final List<String> TRUE = List.of("on", "yes", "true", "y");
    private static final List<String> FALSE = List.of("off", "no", "false", "n");
    private static final List<String> BAD = List.of("On", "ON", "1", "0", "", "enable", "tru");

    @Test
    void bothParsersAcceptQemusSpellings() {
        for (String v : TRUE) {
            assertTrue(KeyValues.onOff("--export", "readonly", v), v);
            assertEquals(true, Args.keyval(Map.of("writable", v)).bool("writable", false), v);
        }
        for (String v : FALSE) {
            assertEquals(false, KeyValues.onOff("--export", "readonly", v), v);
            assertEquals(false, Args.keyval(Map.of("writable", v)).bool("writable", true), v);
        }
    }

    @Test
    void bothParsersRefuseTheSameOthersNamingTheKey() {
        for (String v : BAD) {
            IllegalArgumentException a = assertThrows(IllegalArgumentException.class,
                    () -> KeyValues.onOff("--export", "readonly", v), v);
            assertEquals("--export: readonly=" + v + " must be on or off", a.getMessage());
            QmpError q = assertThrows(QmpError.class,
                    () -> Args.keyval(Map.of("writable", v)).bool("writable", false), v);
            assertEquals("Parameter 'writable' expects 'on' or 'off'", q.getMessage());
        }
    }
}
