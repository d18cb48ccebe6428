package io.jaio.daemon;

/**
 * A QMP command failure: QEMU's error class ({@code GenericError}, {@code CommandNotFound},
 * {@code DeviceNotFound}) and its human-readable {@code desc}. Thrown by command handlers and by
 * {@link Args}; the command-line path turns it into a start-up error. Any thread.
 */
final class QmpError extends RuntimeException {
    private static final long serialVersionUID = 1L;
    static final String GENERIC = "GenericError";
    static final String COMMAND_NOT_FOUND = "CommandNotFound";
    static final String DEVICE_NOT_FOUND = "DeviceNotFound";

    private final String errorClass;
    /** The environment failed (an image or socket could not be opened), not the arguments. */
    private final boolean failure;

    QmpError(String errorClass, String desc) {
        this(errorClass, desc, false);
    }

    private QmpError(String errorClass, String desc, boolean failure) {
        super(desc, null, false, false);
        this.errorClass = errorClass;
        this.failure = failure;
    }

    /**
     * A {@code GenericError} for a failure of the environment (on the command line: exit 1,
     * "cannot start", not exit 2).
     */
    static QmpError failure(String desc) {
        return new QmpError(GENERIC, desc, true);
    }

    boolean isFailure() {
        return failure;
    }

    /** A {@code GenericError} with {@code desc}. */
    static QmpError generic(String desc) {
        return new QmpError(GENERIC, desc);
    }

    String errorClass() {
        return errorClass;
    }
}
