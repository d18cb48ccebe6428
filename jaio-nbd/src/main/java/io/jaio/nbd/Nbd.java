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

    /** Handshake flag NBD_FLAG_FIXED_NEWSTYLE (bit 0): the server speaks fixed newstyle negotiation. */
    public static final int FLAG_FIXED_NEWSTYLE = 1 << 0;
    /**
     * Handshake flag NBD_FLAG_NO_ZEROES (bit 1): the server omits the 124 zero bytes after
     * NBD_OPT_EXPORT_NAME if the client sets {@link #FLAG_C_NO_ZEROES}.
     */
    public static final int FLAG_NO_ZEROES = 1 << 1;
    /** Client flag NBD_FLAG_C_FIXED_NEWSTYLE (bit 0): the client speaks fixed newstyle negotiation. */
    public static final int FLAG_C_FIXED_NEWSTYLE = 1 << 0;
    /**
     * Client flag NBD_FLAG_C_NO_ZEROES (bit 1): the server must not send the 124 zero bytes after
     * NBD_OPT_EXPORT_NAME.
     */
    public static final int FLAG_C_NO_ZEROES = 1 << 1;

    // ---- transmission flags (16 bits) ----

    /** NBD_FLAG_HAS_FLAGS (bit 0): always set in the transmission flags. */
    public static final int FLAG_HAS_FLAGS = 1 << 0;
    /** NBD_FLAG_READ_ONLY (bit 1): the export is read-only; writes, trims and write-zeroes fail with EPERM. */
    public static final int FLAG_READ_ONLY = 1 << 1;
    /** NBD_FLAG_SEND_FLUSH (bit 2): the server accepts {@link #CMD_FLUSH}. */
    public static final int FLAG_SEND_FLUSH = 1 << 2;
    /** NBD_FLAG_SEND_FUA (bit 3): the server honours {@link #CMD_FLAG_FUA}. */
    public static final int FLAG_SEND_FUA = 1 << 3;
    /** NBD_FLAG_ROTATIONAL (bit 4): the client should schedule I/O as for a rotational disk (not set here). */
    public static final int FLAG_ROTATIONAL = 1 << 4;
    /** NBD_FLAG_SEND_TRIM (bit 5): the server accepts {@link #CMD_TRIM}. */
    public static final int FLAG_SEND_TRIM = 1 << 5;
    /** NBD_FLAG_SEND_WRITE_ZEROES (bit 6): the server accepts {@link #CMD_WRITE_ZEROES}. */
    public static final int FLAG_SEND_WRITE_ZEROES = 1 << 6;
    /** NBD_FLAG_SEND_DF (bit 7): the server honours {@link #CMD_FLAG_DF} (structured replies only). */
    public static final int FLAG_SEND_DF = 1 << 7;
    /**
     * NBD_FLAG_CAN_MULTI_CONN (bit 8): connections to the export see each other's completed writes, and a
     * flush on one covers them all.
     */
    public static final int FLAG_CAN_MULTI_CONN = 1 << 8;
    /** NBD_FLAG_SEND_RESIZE (bit 9): the server accepts NBD_CMD_RESIZE (an experimental extension; not set here). */
    public static final int FLAG_SEND_RESIZE = 1 << 9;
    /** NBD_FLAG_SEND_CACHE (bit 10): the server accepts {@link #CMD_CACHE}. */
    public static final int FLAG_SEND_CACHE = 1 << 10;
    /** NBD_FLAG_SEND_FAST_ZERO (bit 11): the server honours {@link #CMD_FLAG_FAST_ZERO}. */
    public static final int FLAG_SEND_FAST_ZERO = 1 << 11;
    /** Block status takes a payload of context ids (extended headers only; not offered here). */
    public static final int FLAG_BLOCK_STATUS_PAYLOAD = 1 << 12;

    // ---- options ----

    /**
     * NBD_OPT_EXPORT_NAME (1): choose an export and enter transmission; no option reply, and an unknown name
     * ends the connection.
     */
    public static final int OPT_EXPORT_NAME = 1;
    /** NBD_OPT_ABORT (2): the client ends the handshake; the server acknowledges and closes. */
    public static final int OPT_ABORT = 2;
    /** NBD_OPT_LIST (3): list the exports, one {@link #REP_SERVER} each, then {@link #REP_ACK}. */
    public static final int OPT_LIST = 3;
    /** NBD_OPT_PEEK_EXPORT (4): withdrawn from the specification; answered {@link #REP_ERR_UNSUP}. */
    public static final int OPT_PEEK_EXPORT = 4;
    /** NBD_OPT_STARTTLS (5): upgrade the connection to TLS before any further option. */
    public static final int OPT_STARTTLS = 5;
    /** NBD_OPT_INFO (6): describe an export with {@link #REP_INFO} replies without choosing it. */
    public static final int OPT_INFO = 6;
    /** NBD_OPT_GO (7): as {@link #OPT_INFO}, then enter transmission with that export. */
    public static final int OPT_GO = 7;
    /** NBD_OPT_STRUCTURED_REPLY (8): use structured reply chunks in the transmission phase. */
    public static final int OPT_STRUCTURED_REPLY = 8;
    /** NBD_OPT_LIST_META_CONTEXT (9): list the metadata contexts an export offers that match the queries. */
    public static final int OPT_LIST_META_CONTEXT = 9;
    /** NBD_OPT_SET_META_CONTEXT (10): choose the metadata contexts {@link #CMD_BLOCK_STATUS} reports. */
    public static final int OPT_SET_META_CONTEXT = 10;
    /**
     * NBD_OPT_EXTENDED_HEADERS (11): 32-byte request and reply headers with 64-bit lengths (implies
     * structured replies).
     */
    public static final int OPT_EXTENDED_HEADERS = 11;

    // ---- option replies ----

    /** NBD_REP_ACK (1): the option succeeded; the last reply to it. */
    public static final int REP_ACK = 1;
    /** NBD_REP_SERVER (2): one export in the answer to {@link #OPT_LIST}: its name and description. */
    public static final int REP_SERVER = 2;
    /** NBD_REP_INFO (3): one piece of export information ({@code INFO_*}) for {@link #OPT_INFO} and {@link #OPT_GO}. */
    public static final int REP_INFO = 3;
    /** NBD_REP_META_CONTEXT (4): one metadata context (id and name) for the meta-context options. */
    public static final int REP_META_CONTEXT = 4;
    /** Bit 31: the reply is an error. */
    public static final int REP_FLAG_ERROR = 1 << 31;
    /** NBD_REP_ERR_UNSUP (2^31 + 1): the server does not know the option. */
    public static final int REP_ERR_UNSUP = REP_FLAG_ERROR | 1;
    /** NBD_REP_ERR_POLICY (2^31 + 2): the server's policy forbids the option. */
    public static final int REP_ERR_POLICY = REP_FLAG_ERROR | 2;
    /** NBD_REP_ERR_INVALID (2^31 + 3): the option is malformed or not valid now. */
    public static final int REP_ERR_INVALID = REP_FLAG_ERROR | 3;
    /** NBD_REP_ERR_PLATFORM (2^31 + 4): the option is not supported on this platform. */
    public static final int REP_ERR_PLATFORM = REP_FLAG_ERROR | 4;
    /** NBD_REP_ERR_TLS_REQD (2^31 + 5): the server requires {@link #OPT_STARTTLS} first. */
    public static final int REP_ERR_TLS_REQD = REP_FLAG_ERROR | 5;
    /** NBD_REP_ERR_UNKNOWN (2^31 + 6): the requested export is not available. */
    public static final int REP_ERR_UNKNOWN = REP_FLAG_ERROR | 6;
    /** NBD_REP_ERR_SHUTDOWN (2^31 + 7): the server is shutting down; the client should disconnect. */
    public static final int REP_ERR_SHUTDOWN = REP_FLAG_ERROR | 7;
    /**
     * NBD_REP_ERR_BLOCK_SIZE_REQD (2^31 + 8): the server serves the export only to a client that requests
     * {@link #INFO_BLOCK_SIZE}.
     */
    public static final int REP_ERR_BLOCK_SIZE_REQD = REP_FLAG_ERROR | 8;
    /** NBD_REP_ERR_TOO_BIG (2^31 + 9): the option or its reply is too large. */
    public static final int REP_ERR_TOO_BIG = REP_FLAG_ERROR | 9;
    /** Extended headers are negotiated (or required), which the option conflicts with. */
    public static final int REP_ERR_EXT_HEADER_REQD = REP_FLAG_ERROR | 10;

    // ---- NBD_REP_INFO types ----

    /** NBD_INFO_EXPORT (0): the export's size (64 bits, bytes) and transmission flags (16 bits); always sent. */
    public static final int INFO_EXPORT = 0;
    /** NBD_INFO_NAME (1): the export's canonical name. */
    public static final int INFO_NAME = 1;
    /** NBD_INFO_DESCRIPTION (2): the export's human-readable description. */
    public static final int INFO_DESCRIPTION = 2;
    /** NBD_INFO_BLOCK_SIZE (3): the minimum, preferred and maximum block sizes (32 bits each, bytes). */
    public static final int INFO_BLOCK_SIZE = 3;

    // ---- commands ----

    /** NBD_CMD_READ (0): read {@code length} bytes at {@code offset}. */
    public static final int CMD_READ = 0;
    /** NBD_CMD_WRITE (1): write the {@code length} payload bytes that follow the request at {@code offset}. */
    public static final int CMD_WRITE = 1;
    /** NBD_CMD_DISC (2): the client disconnects; no reply, and no request follows. */
    public static final int CMD_DISC = 2;
    /** NBD_CMD_FLUSH (3): make every completed write durable; the export must have {@link #FLAG_SEND_FLUSH}. */
    public static final int CMD_FLUSH = 3;
    /** NBD_CMD_TRIM (4): discard a range; the export must have {@link #FLAG_SEND_TRIM}. */
    public static final int CMD_TRIM = 4;
    /** NBD_CMD_CACHE (5): prefetch a range into the server's cache; the export must have {@link #FLAG_SEND_CACHE}. */
    public static final int CMD_CACHE = 5;
    /** NBD_CMD_WRITE_ZEROES (6): make a range read as zeroes; the export must have {@link #FLAG_SEND_WRITE_ZEROES}. */
    public static final int CMD_WRITE_ZEROES = 6;
    /** NBD_CMD_BLOCK_STATUS (7): describe a range in each metadata context chosen by {@link #OPT_SET_META_CONTEXT}. */
    public static final int CMD_BLOCK_STATUS = 7;
    /** One past the highest command this server knows (array size for per-command counters). */
    public static final int CMD_COUNT = 8;

    // ---- command flags ----

    /** NBD_CMD_FLAG_FUA (bit 0): reply only once the data is durable (force unit access). */
    public static final int CMD_FLAG_FUA = 1 << 0;
    /** NBD_CMD_FLAG_NO_HOLE (bit 1): a write-zeroes must leave the range allocated, not punch a hole. */
    public static final int CMD_FLAG_NO_HOLE = 1 << 1;
    /** NBD_CMD_FLAG_DF (bit 2): "don't fragment": answer a READ with at most one content chunk. */
    public static final int CMD_FLAG_DF = 1 << 2;
    /** NBD_CMD_FLAG_REQ_ONE (bit 3): a block status reply carries one descriptor per context. */
    public static final int CMD_FLAG_REQ_ONE = 1 << 3;
    /** NBD_CMD_FLAG_FAST_ZERO (bit 4): fail a write-zeroes with ENOTSUP rather than write zeroes slowly. */
    public static final int CMD_FLAG_FAST_ZERO = 1 << 4;
    /** Extended headers: the length field is a payload length and that many bytes follow. */
    public static final int CMD_FLAG_PAYLOAD_LEN = 1 << 5;

    // ---- structured replies ----

    /** NBD_REPLY_FLAG_DONE (bit 0): the last chunk of a structured reply. */
    public static final int REPLY_FLAG_DONE = 1 << 0;
    /** NBD_REPLY_TYPE_NONE (0): an empty chunk, only with {@link #REPLY_FLAG_DONE}: the request succeeded. */
    public static final int REPLY_TYPE_NONE = 0;
    /** NBD_REPLY_TYPE_OFFSET_DATA (1): READ data: a 64-bit offset, then the bytes. */
    public static final int REPLY_TYPE_OFFSET_DATA = 1;
    /** NBD_REPLY_TYPE_OFFSET_HOLE (2): a READ range that reads as zeroes: a 64-bit offset and a 32-bit length. */
    public static final int REPLY_TYPE_OFFSET_HOLE = 2;
    /** NBD_REPLY_TYPE_BLOCK_STATUS (5): a context id and descriptors of 32-bit length and status flags. */
    public static final int REPLY_TYPE_BLOCK_STATUS = 5;
    /** Block status with 64-bit lengths and statuses (extended headers only). */
    public static final int REPLY_TYPE_BLOCK_STATUS_EXT = 6;
    /** Bit 15: the chunk is an error chunk. */
    public static final int REPLY_TYPE_ERROR_BIT = 1 << 15;
    /** NBD_REPLY_TYPE_ERROR (2^15 + 1): a 32-bit error value and a message. */
    public static final int REPLY_TYPE_ERROR = REPLY_TYPE_ERROR_BIT | 1;
    /**
     * NBD_REPLY_TYPE_ERROR_OFFSET (2^15 + 2): as {@link #REPLY_TYPE_ERROR}, plus the 64-bit offset where a
     * READ failed.
     */
    public static final int REPLY_TYPE_ERROR_OFFSET = REPLY_TYPE_ERROR_BIT | 2;

    // ---- base:allocation ----

    /**
     * The {@code base:allocation} metadata context: which ranges are holes ({@link #STATE_HOLE}) and which
     * read as zeroes ({@link #STATE_ZERO}).
     */
    public static final String CONTEXT_BASE_ALLOCATION = "base:allocation";
    /** QEMU's allocation depth: 0 unallocated, 1 allocated in this image, n in the (n-1)th backing file. */
    public static final String CONTEXT_ALLOCATION_DEPTH = "qemu:allocation-depth";
    /** Prefix of QEMU's dirty bitmap contexts ({@code qemu:dirty-bitmap:NAME}). */
    public static final String CONTEXT_DIRTY_BITMAP_PREFIX = "qemu:dirty-bitmap:";
    /** {@code base:allocation} status NBD_STATE_HOLE (bit 0): the range is not allocated. */
    public static final int STATE_HOLE = 1 << 0;
    /** {@code base:allocation} status NBD_STATE_ZERO (bit 1): the range reads as zeroes. */
    public static final int STATE_ZERO = 1 << 1;

    // ---- error values (NBD_E*) ----

    /** NBD_EPERM (1): operation not permitted, e.g. a write to a read-only export. */
    public static final int EPERM = 1;
    /** NBD_EIO (5): input/output error. */
    public static final int EIO = 5;
    /** NBD_ENOMEM (12): out of memory. */
    public static final int ENOMEM = 12;
    /** NBD_EINVAL (22): invalid request (bad range, alignment, flags or command). */
    public static final int EINVAL = 22;
    /** NBD_ENOSPC (28): no space left, or a write or write-zeroes past the end of the export. */
    public static final int ENOSPC = 28;
    /** NBD_EOVERFLOW (75): a READ with {@link #CMD_FLAG_DF} is too long to send as one chunk. */
    public static final int EOVERFLOW = 75;
    /** NBD_ENOTSUP (95): a write-zeroes with {@link #CMD_FLAG_FAST_ZERO} cannot be fast. */
    public static final int ENOTSUP = 95;
    /** NBD_ESHUTDOWN (108): the server is shutting down; the request was not run. */
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

    /**
     * The specification's name of a command, for logs. Any thread.
     *
     * @param type the command type ({@code CMD_*}); unknown values are allowed
     * @return the name, e.g. {@code NBD_CMD_READ}, or {@code NBD_CMD_<type>} for an unknown command
     */
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

    /**
     * The specification's name of an option, for logs. Any thread.
     *
     * @param option the option ({@code OPT_*}); unknown values are allowed
     * @return the name, e.g. {@code NBD_OPT_GO}, or {@code NBD_OPT_<option>} (unsigned) for an unknown option
     */
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

    /**
     * The specification's name of an error value, for logs. Any thread.
     *
     * @param error an NBD error value, 0 for success
     * @return the name without the {@code NBD_} prefix, e.g. {@code EINVAL}; {@code OK} for 0;
     *     {@code E<error>} (unsigned) for an unknown value
     */
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
     * other errnos become EIO. Never returns 0 for a non-zero errno. Any thread.
     *
     * @param errno a positive Linux errno, or 0 for success
     * @param commandFlags the request's command flags ({@code CMD_FLAG_*})
     * @return the NBD error value for the reply, 0 if {@code errno} is 0
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
