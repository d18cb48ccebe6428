package io.jaio.daemon;

import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The registry of user-creatable object types by QOM type name, shared by {@code --object} on
 * the command line and QMP's {@code object-add}: {@code iothread} is built in; another module
 * (e.g. {@code tls-creds-x509}) plugs in with {@link #register}. Any thread.
 */
final class DaemonObjects {
    private DaemonObjects() {}

    /** A live object; {@link #close()} runs when it is deleted or the daemon stops (control thread). */
    interface DaemonObject extends AutoCloseable {
        String qomType();

        /** Refuses deletion while something uses it (QEMU: "object 'x' is in use, can not be deleted"). */
        default boolean inUse() {
            return false;
        }

        @Override
        void close();
    }

    /** Makes an object of one type from its properties (every member but qom-type and id). */
    interface Factory {
        /**
         * @param args the properties; the factory reads each one it accepts, {@link Args#done()} is
         *             called after it returns so any other is reported as unexpected
         * @throws QmpError for a bad property
         */
        DaemonObject create(Daemon daemon, String id, Args args);
    }

    private static final Map<String, Factory> TYPES = new ConcurrentHashMap<>();

    static {
        register("iothread", (d, id, a) -> d.createIoThread(id, a));
        register("tls-creds-x509", (d, id, a) -> Daemon.createTlsCreds(id, a));
        register("authz-simple", (d, id, a) -> Daemon.createAuthz(id, a));
    }

    /** Adds a type (replacing one of the same name). Any thread. */
    static void register(String qomType, Factory f) {
        TYPES.put(qomType, f);
    }

    static Factory find(String qomType) {
        return TYPES.get(qomType);
    }

    static Set<String> types() {
        return new TreeSet<>(TYPES.keySet());
    }
}
