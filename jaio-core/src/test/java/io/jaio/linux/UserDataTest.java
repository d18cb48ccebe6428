package io.jaio.linux;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class UserDataTest {
    @Test
    void layoutIsGenerationHighSlotPlusOneLow() {
        assertEquals(0x0000_0007_0000_0001L, UserData.encode(0, 7));
        assertEquals(0x0000_0000_0000_0005L, UserData.encode(4, 0));
        assertEquals(0x7fff_ffff_7fff_ffffL, UserData.encode(UserData.MAX_SLOT, UserData.MAX_GENERATION));
    }

    @Test
    void roundTripsAtTheEdges() {
        int[] slots = {0, 1, 127, 65_535, 1 << 20, UserData.MAX_SLOT};
        int[] gens = {0, 1, 0xffff, 1 << 30, UserData.MAX_GENERATION};
        for (int s : slots) {
            for (int g : gens) {
                long ud = UserData.encode(s, g);
                assertEquals(s, UserData.slot(ud), "slot of " + Long.toHexString(ud));
                assertEquals(g, UserData.generation(ud), "generation of " + Long.toHexString(ud));
                assertTrue(ud != UserData.NONE);
            }
        }
    }

    @Test
    void noneNamesNoSlot() {
        assertEquals(-1, UserData.slot(UserData.NONE));
        assertEquals(0, UserData.generation(UserData.NONE));
        assertTrue(UserData.slot(0x0000_0003_ffff_ffffL) < 0, "a low half encode cannot make");
    }

    @Test
    void outOfRangeIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> UserData.encode(-1, 0));
        assertEquals("user_data slot -1 / generation 0 out of range", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> UserData.encode(Integer.MAX_VALUE, 0));
        assertThrows(IllegalArgumentException.class, () -> UserData.encode(0, -1));
    }

    @Test
    void generationWrapsToZero() {
        assertEquals(1, UserData.nextGeneration(0));
        assertEquals(UserData.MAX_GENERATION, UserData.nextGeneration(UserData.MAX_GENERATION - 1));
        assertEquals(0, UserData.nextGeneration(UserData.MAX_GENERATION));
    }
}
