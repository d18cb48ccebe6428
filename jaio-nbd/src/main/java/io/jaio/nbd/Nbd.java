package io.jaio.nbd;

/**
 * Constants of the NBD protocol ({@code NetworkBlockDevice/nbd doc/proto.md}): magics, handshake
 * and transmission flags, option and option-reply types, commands and command flags,
 * structured reply types, error values, and the limits this implementation enforces. Names
 * follow the specification with the {@code NBD_} prefix dropped.
 *
 * <p>All wire values are big-endian. Values the specification defines as unsigned 32-bit
 * quantities (reply types with bit 31 set) are Java {@code int}s with the same bits.
 */
public final class Nbd {
    private Nbd() {}

    // ---- magics ----

    /** {@code NBDMAGIC}, the first 8 bytes the server sends (INIT_PASSWD). */
    public static final long NBDMAGIC = 0x4e42444d41474943L;
    /** {@code IHAVEOPT}: the newstyle greeting magic and the magic of every client option. */
    public static final long IHAVEOPT = 0x49484156454F5054L;
    /** Magic of every fixed-newstyle option reply. */
    public static final long REPLY_MAGIC = 0x3e889045565a9L;
    /** {@code NBD_REQUEST_MAGIC}. */
    public static final int REQUEST_MAGIC = 0x25609513;
    /** {@code NBD_EXTENDED_REQUEST_MAGIC} (32-byte requests, after NBD_OPT_EXTENDED_HEADERS). */
    public static final int EXTENDED_REQUEST_MAGIC = 0x21e41c71;
    /** {@code NBD_EXTENDED_REPLY_MAGIC} (32-byte reply chunk headers, after NBD_OPT_EXTENDED_HEADERS). */
    public static final int EXTENDED_REPLY_MAGIC = 0x6e8a278c;
    /** {@code NBD_SIMPLE_REPLY_MAGIC}. */
    public static final int SIMPLE_REPLY_MAGIC = 0x67446698;
    /** {@code NBD_STRUCTURED_REPLY_MAGIC}. */
    public static final int STRUCTURED_REPLY_MAGIC = 0x668e33ef;

    // ---- handshake flags (server, 16 bits) and client flags (32 bits) ----

    public static final int FLAG_FIXED_NEWSTYLE = 1 << 0;
    public static final int FLAG_NO_ZEROES = 1 << 1;
    public static final int FLAG_C_FIXED_NEWSTYLE = 1 << 0;
    public static final int FLAG_C_NO_ZEROES = 1 << 1;

    // ---- transmission flags (16 bits) ----

    public static final int FLAG_HAS_FLAGS = 1 << 0;
    public static final int FLAG_READ_ONLY = 1 << 1;
    public static final int FLAG_SEND_FLUSH = 1 << 2;
    public static final int FLAG_SEND_FUA = 1 << 3;
    public static final int FLAG_ROTATIONAL = 1 << 4;
    public static final int FLAG_SEND_TRIM = 1 << 5;
    public static final int FLAG_SEND_WRITE_ZEROES = 1 << 6;
    public static final int FLAG_SEND_DF = 1 << 7;
    public static final int FLAG_CAN_MULTI_CONN = 1 << 8;
    public static final int FLAG_SEND_RESIZE = 1 << 9;
    public static final int FLAG_SEND_CACHE = 1 << 10;
    public static final int FLAG_SEND_FAST_ZERO = 1 << 11;
    /** Block status takes a payload of context ids (extended headers only; not offered here). */
    public static final int FLAG_BLOCK_STATUS_PAYLOAD = 1 << 12;

    // ---- options ----

    public static final int OPT_EXPORT_NAME = 1;
    public static final int OPT_ABORT = 2;
    public static final int OPT_LIST = 3;
    public static final int OPT_PEEK_EXPORT = 4;
    public static final int OPT_STARTTLS = 5;
    public static final int OPT_INFO = 6;
    public static final int OPT_GO = 7;
    public static final int OPT_STRUCTURED_REPLY = 8;
    public static final int OPT_LIST_META_CONTEXT = 9;
    public static final int OPT_SET_META_CONTEXT = 10;
    public static final int OPT_EXTENDED_HEADERS = 11;

    // ---- option replies ----

    public static final int REP_ACK = 1;
    public static final int REP_SERVER = 2;
    public static final int REP_INFO = 3;
    public static final int REP_META_CONTEXT = 4;
    /** Bit 31: the reply is an error. */
    public static final int REP_FLAG_ERROR = 1 << 31;
    public static final int REP_ERR_UNSUP = REP_FLAG_ERROR | 1;
    public static final int REP_ERR_POLICY = REP_FLAG_ERROR | 2;
    public static final int REP_ERR_INVALID = REP_FLAG_ERROR | 3;
    public static final int REP_ERR_PLATFORM = REP_FLAG_ERROR | 4;
    public static final int REP_ERR_TLS_REQD = REP_FLAG_ERROR | 5;
    public static final int REP_ERR_UNKNOWN = REP_FLAG_ERROR | 6;
    public static final int REP_ERR_SHUTDOWN = REP_FLAG_ERROR | 7;
    public static final int REP_ERR_BLOCK_SIZE_REQD = REP_FLAG_ERROR | 8;
    public static final int REP_ERR_TOO_BIG = REP_FLAG_ERROR | 9;
    /** Extended headers are negotiated (or required), which the option conflicts with. */
    public static final int REP_ERR_EXT_HEADER_REQD = REP_FLAG_ERROR | 10;

    // ---- NBD_REP_INFO types ----

    public static final int INFO_EXPORT = 0;
    public static final int INFO_NAME = 1;
    public static final int INFO_DESCRIPTION = 2;
    public static final int INFO_BLOCK_SIZE = 3;

    // ---- commands ----

    public static final int CMD_READ = 0;
    public static final int CMD_WRITE = 1;
    public static final int CMD_DISC = 2;
    public static final int CMD_FLUSH = 3;
    public static final int CMD_TRIM = 4;
    public static final int CMD_CACHE = 5;
    public static final int CMD_WRITE_ZEROES = 6;
    public static final int CMD_BLOCK_STATUS = 7;
    /** One past the highest command this server knows (array size for per-command counters). */
    public static final int CMD_COUNT = 8;

    // ---- command flags ----

    public static final int CMD_FLAG_FUA = 1 << 0;
    public static final int CMD_FLAG_NO_HOLE = 1 << 1;
    public static final int CMD_FLAG_DF = 1 << 2;
    public static final int CMD_FLAG_REQ_ONE = 1 << 3;
    public static final int CMD_FLAG_FAST_ZERO = 1 << 4;
    /** Extended headers: the length field is a payload length and that many bytes follow. */
    public static final int CMD_FLAG_PAYLOAD_LEN = 1 << 5;

    // ---- structured replies ----

    public static final int REPLY_FLAG_DONE = 1 << 0;
    public static final int REPLY_TYPE_NONE = 0;
    public static final int REPLY_TYPE_OFFSET_DATA = 1;
    public static final int REPLY_TYPE_OFFSET_HOLE = 2;
    public static final int REPLY_TYPE_BLOCK_STATUS = 5;
    /** Block status with 64-bit lengths and statuses (extended headers only). */
    public static final int REPLY_TYPE_BLOCK_STATUS_EXT = 6;
    /** Bit 15: the chunk is an error chunk. */
    public static final int REPLY_TYPE_ERROR_BIT = 1 << 15;
    public static final int REPLY_TYPE_ERROR = REPLY_TYPE_ERROR_BIT | 1;
    public static final int REPLY_TYPE_ERROR_OFFSET = REPLY_TYPE_ERROR_BIT | 2;

    // ---- base:allocation ----

    public static final String CONTEXT_BASE_ALLOCATION = "base:allocation";
    /** QEMU's allocation depth: 0 unallocated, 1 allocated in this image, n in the (n-1)th backing file. */
    public static final String CONTEXT_ALLOCATION_DEPTH = "qemu:allocation-depth";
    /** Prefix of QEMU's dirty bitmap contexts ({@code qemu:dirty-bitmap:NAME}). */
    public static final String CONTEXT_DIRTY_BITMAP_PREFIX = "qemu:dirty-bitmap:";
    public static final int STATE_HOLE = 1 << 0;
    public static final int STATE_ZERO = 1 << 1;

    // ---- error values (NBD_E*) ----

    public static final int EPERM = 1;
    public static final int EIO = 5;
    public static final int ENOMEM = 12;
    public static final int EINVAL = 22;
    public static final int ENOSPC = 28;
    public static final int EOVERFLOW = 75;
    public static final int ENOTSUP = 95;
    public static final int ESHUTDOWN = 108;

    // ---- sizes and limits ----

    /** Bytes of the server greeting: NBDMAGIC, IHAVEOPT, 16-bit handshake flags. */
    public static final int GREETING_SIZE = 18;
    /** Bytes of an option header: IHAVEOPT, option, length. */
    public static final int OPTION_HEADER_SIZE = 16;
    /** Bytes of an option reply header: magic, option, type, length. */
    public static final int OPTION_REPLY_HEADER_SIZE = 20;
    /** Bytes of a request header. */
    public static final int REQUEST_SIZE = 28;
    /** Bytes of an extended request header. */
    public static final int EXTENDED_REQUEST_SIZE = 32;
    /** Bytes of an extended reply chunk header. */
    public static final int EXTENDED_CHUNK_HEADER_SIZE = 32;
    /** Bytes of a simple reply header. */
    public static final int SIMPLE_REPLY_SIZE = 16;
    /** Bytes of a structured reply chunk header. */
    public static final int CHUNK_HEADER_SIZE = 20;
    /** Longest string (export name, description, query, message) the specification allows. */
    public static final int MAX_STRING = 4096;
    /**
     * Largest option payload accepted; longer options end the connection (a denial of service,
     * as qemu-nbd and nbdkit treat them). Covers a GO with a maximal name and every info type,
     * and a SET_META_CONTEXT with a few maximal queries.
     */
    public static final int MAX_OPTION_LENGTH = 64 * 1024;
    /** Largest READ/WRITE/CACHE length (2^25, the advertised maximum block size). */
    public static final int MAX_PAYLOAD = 32 * 1024 * 1024;
    /** Preferred block size advertised in NBD_INFO_BLOCK_SIZE (at least the minimum). */
    public static final int PREFERRED_BLOCK_SIZE = 4096;

    /** The specification's name of a command, e.g. {@code NBD_CMD_READ}, for logs. */
    public static String commandName(int type) {
        return switch (type) {
            case CMD_READ -> "NBD_CMD_READ";
            case CMD_WRITE -> "NBD_CMD_WRITE";
            case CMD_DISC -> "NBD_CMD_DISC";
            case CMD_FLUSH -> "NBD_CMD_FLUSH";
            case CMD_TRIM -> "NBD_CMD_TRIM";
            case CMD_CACHE -> "NBD_CMD_CACHE";
            case CMD_WRITE_ZEROES -> "NBD_CMD_WRITE_ZEROES";
            case CMD_BLOCK_STATUS -> "NBD_CMD_BLOCK_STATUS";
            default -> "NBD_CMD_" + type;
        };
    }

    /** The specification's name of an option, e.g. {@code NBD_OPT_GO}, for logs. */
    public static String optionName(int option) {
        return switch (option) {
            case OPT_EXPORT_NAME -> "NBD_OPT_EXPORT_NAME";
            case OPT_ABORT -> "NBD_OPT_ABORT";
            case OPT_LIST -> "NBD_OPT_LIST";
            case OPT_PEEK_EXPORT -> "NBD_OPT_PEEK_EXPORT";
            case OPT_STARTTLS -> "NBD_OPT_STARTTLS";
            case OPT_INFO -> "NBD_OPT_INFO";
            case OPT_GO -> "NBD_OPT_GO";
            case OPT_STRUCTURED_REPLY -> "NBD_OPT_STRUCTURED_REPLY";
            case OPT_LIST_META_CONTEXT -> "NBD_OPT_LIST_META_CONTEXT";
            case OPT_SET_META_CONTEXT -> "NBD_OPT_SET_META_CONTEXT";
            case OPT_EXTENDED_HEADERS -> "NBD_OPT_EXTENDED_HEADERS";
            default -> "NBD_OPT_" + Integer.toUnsignedString(option);
        };
    }

    /** The specification's name of an error value, e.g. {@code EINVAL}. */
    public static String errorName(int error) {
        return switch (error) {
            case 0 -> "OK";
            case EPERM -> "EPERM";
            case EIO -> "EIO";
            case ENOMEM -> "ENOMEM";
            case EINVAL -> "EINVAL";
            case ENOSPC -> "ENOSPC";
            case EOVERFLOW -> "EOVERFLOW";
            case ENOTSUP -> "ENOTSUP";
            case ESHUTDOWN -> "ESHUTDOWN";
            default -> "E" + Integer.toUnsignedString(error);
        };
    }

    /**
     * Maps a system errno (Linux numbering, as carried by {@code BlockException}) to the NBD
     * error value to send, as the specification asks: EROFS and EACCES become EPERM; EDQUOT and
     * EFBIG become ENOSPC; EOVERFLOW is kept only for a read with {@link #CMD_FLAG_DF} and
     * ENOTSUP only for a write-zeroes with {@link #CMD_FLAG_FAST_ZERO} (EINVAL otherwise);
     * other errnos become EIO. Never returns 0 for a non-zero errno.
     */
    public static int errnoToNbd(int errno, int commandFlags) {
        return switch (errno) {
            case 0 -> 0;
            case 1, 13, 30 -> EPERM;                // EPERM, EACCES, EROFS
            case 5 -> EIO;
            case 12 -> ENOMEM;
            case 22 -> EINVAL;
            case 27, 28, 122 -> ENOSPC;             // EFBIG, ENOSPC, EDQUOT
            case 75 -> (commandFlags & CMD_FLAG_DF) != 0 ? EOVERFLOW : EINVAL;
            case 95 -> (commandFlags & CMD_FLAG_FAST_ZERO) != 0 ? ENOTSUP : EINVAL; // ENOTSUP = EOPNOTSUPP
            case 108 -> ESHUTDOWN;
            default -> EIO;
        };
    }
}
