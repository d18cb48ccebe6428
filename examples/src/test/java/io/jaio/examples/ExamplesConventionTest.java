package io.jaio.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The examples' convention, checked over every compiled example: each top-level class NAME has a
 * {@code public static void main(String[])} and a test class NAMETest beside this one.
 */
class ExamplesConventionTest {

    @Test
    void everyExampleHasAMainAndATest() throws IOException, URISyntaxException {
        Path dir = Path.of(EchoServer.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                .resolve("io/jaio/examples");
        List<String> names = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            files.map(p -> p.getFileName().toString())
                    .filter(n -> n.endsWith(".class") && !n.contains("$"))
                    .forEach(n -> names.add(n.substring(0, n.length() - ".class".length())));
        }
        assertFalse(names.isEmpty(), "no example compiled under " + dir);
        List<String> problems = new ArrayList<>();
        for (String name : names) {
            try {
                Method main = Class.forName("io.jaio.examples." + name).getMethod("main", String[].class);
                if (!Modifier.isStatic(main.getModifiers())) {
                    problems.add(name + ".main is not static");
                }
            } catch (ReflectiveOperationException e) {
                problems.add(name + " has no public main(String[])");
            }
            try {
                Class.forName("io.jaio.examples." + name + "Test");
            } catch (ClassNotFoundException e) {
                problems.add(name + " has no " + name + "Test");
            }
        }
        assertEquals(List.of(), problems);
    }
}
