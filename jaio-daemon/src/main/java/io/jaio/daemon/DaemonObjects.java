package io.jaio.daemon;

import java.util.Map;

/**
 * The registry of user-creatable object types by QOM type name, shared by {@code --object} on
 * the command line and QMP's {@code object-add}: {@code iothread}, {@code tls-creds-x509} and
 * {@code authz-simple}. Any thread.
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

    /** The qom-types --object and object-add know (QEMU's names). Immutable. */
    private static final Map<String, Factory> TYPES = Map.of(
            "iothread", (d, id, a) -> d.createIoThread(id, a),
            "tls-creds-x509", (d, id, a) -> Daemon.createTlsCreds(id, a),
            "authz-simple", (d, id, a) -> Daemon.createAuthz(id, a));

    /** The factory of {@code qomType}, or null. Any thread. */
    static Factory find(String qomType) {
        return TYPES.get(qomType);
    }
}
