package io.jaio.block;

/**
 * The block layer's rules for file systems whose data lives in memory (tmpfs, ramfs,
 * hugetlbfs), keyed by the {@code f_type} of {@code fstatfs(2)} ({@code FileSys.fsType}, the
 * raw syscall, stays in {@code io.jaio.linux}). On such a file system a read or a write is a
 * page-cache copy that never waits for a device, so {@link RawFileBackend} may run it inline in
 * the loop ({@link InlineFileIo}) and serve reads with {@code sendfile(2)}.
 *
 * <p>Pure functions; any thread.
 */
final class MemoryFs {
    // ---- statfs f_type, <linux/magic.h> ----
    static final long TMPFS_MAGIC = 0x01021994L;
    static final long RAMFS_MAGIC = 0x858458f6L;
    static final long HUGETLBFS_MAGIC = 0x958458f6L;

    private MemoryFs() {}

    /**
     * Whether files of file system type {@code fsType} keep their data in memory (tmpfs, ramfs,
     * hugetlbfs): reads and writes are copies that never wait for a device (but may wait for
     * swap-in or page allocation). False for a -errno.
     */
    static boolean isMemoryBacked(long fsType) {
        return fsType == TMPFS_MAGIC || fsType == RAMFS_MAGIC || fsType == HUGETLBFS_MAGIC;
    }

    /**
     * Whether {@code sendfile(2)} can read files of file system type {@code fsType} from memory:
     * tmpfs and ramfs splice from their page cache; hugetlbfs has no splice_read (sendfile fails
     * with EINVAL, seen on Linux 6.18).
     */
    static boolean splicesFromMemory(long fsType) {
        return fsType == TMPFS_MAGIC || fsType == RAMFS_MAGIC;
    }
}
