package io.jaio.fs;

import io.jaio.linux.FileSys;

/**
 * File systems whose data lives in memory (tmpfs, ramfs, hugetlbfs), keyed by the {@code f_type}
 * of {@code fstatfs(2)} ({@link FileSys#fsType}). On such a file system a read or a write is a
 * page-cache copy that never waits for a device, so a thread hand-off costs more than the request:
 * {@link CoFile} and jaio-block's file backend run their requests inline there
 * ({@link FileEngine#inline}), and the backend serves reads with {@code sendfile(2)}.
 *
 * <p>Pure functions apart from {@link #isMemoryBacked(int)}'s {@code fstatfs}; any thread.
 */
public final class MemoryFs {
    /** {@code TMPFS_MAGIC} from {@code <linux/magic.h>}: tmpfs, and {@code /dev/shm}. */
    public static final long TMPFS_MAGIC = 0x01021994L;
    /** {@code RAMFS_MAGIC} from {@code <linux/magic.h>}: ramfs. */
    public static final long RAMFS_MAGIC = 0x858458f6L;
    /** {@code HUGETLBFS_MAGIC} from {@code <linux/magic.h>}: hugetlbfs. */
    public static final long HUGETLBFS_MAGIC = 0x958458f6L;

    private MemoryFs() {}

    /**
     * Whether files of file system type {@code fsType} keep their data in memory (tmpfs, ramfs,
     * hugetlbfs): reads and writes are copies that never wait for a device (but may wait for
     * swap-in or page allocation). False for a -errno.
     *
     * @param fsType an {@code f_type} from {@link FileSys#fsType}, or a negative errno
     * @return true for tmpfs, ramfs and hugetlbfs
     */
    public static boolean isMemoryBacked(long fsType) {
        return fsType == TMPFS_MAGIC || fsType == RAMFS_MAGIC || fsType == HUGETLBFS_MAGIC;
    }

    /**
     * Whether the open file {@code fd} lives on a memory-backed file system ({@code fstatfs(2)};
     * false if that fails, e.g. for a bad fd).
     *
     * @param fd an open file descriptor
     * @return {@link #isMemoryBacked(long)} of its file system type
     */
    public static boolean isMemoryBacked(int fd) {
        return isMemoryBacked(FileSys.fsType(fd));
    }

    /**
     * Whether {@code sendfile(2)} can read files of file system type {@code fsType} from memory:
     * tmpfs and ramfs splice from their page cache; hugetlbfs has no splice_read (sendfile fails
     * with EINVAL, seen on Linux 6.18).
     *
     * @param fsType an {@code f_type} from {@link FileSys#fsType}, or a negative errno
     * @return true for tmpfs and ramfs
     */
    public static boolean splicesFromMemory(long fsType) {
        return fsType == TMPFS_MAGIC || fsType == RAMFS_MAGIC;
    }
}
