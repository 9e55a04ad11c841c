using System.Runtime.InteropServices;

namespace Cdc.Checkpoint.Internal;

/// <summary>
/// The few libc calls durability needs, called directly.
/// </summary>
/// <remarks>
/// Why not <c>FileStream.Flush(flushToDisk: true)</c> or <c>RandomAccess.FlushToDisk</c>? On .NET 10 (runtime 10.0.12)
/// on Linux both report success when fsync fails with EIO (observed with strace fault injection), which would let a
/// checkpoint claim durability it does not have. Calling <c>fsync(2)</c> ourselves gives us the real result.
/// <c>open(2)</c> is needed for directories (to fsync them) and for <c>O_NOFOLLOW</c> reads; <c>flock(2)</c> is the
/// owner lease's kernel lock, released by the kernel when its owner dies. A durable replace calls <c>open(2)</c>,
/// <c>write(2)</c>, <c>close(2)</c> and <c>rename(2)</c> directly too: through <c>FileStream</c> and <c>File.Move</c>
/// the same save made six more syscalls (flock ×2, lseek ×2, lstat, getpid) and none of them made it safer.
/// <c>link(2)</c> is the no-replace rename of the manifest store: <c>File.Move(overwrite: false)</c> is not atomic on
/// Unix (it checks that the target is missing, then renames over it).
/// Linux only; on other systems these calls are not made (see <see cref="IsSupported"/>).
/// </remarks>
internal static partial class LibC
{
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int EAGAIN = 11;
    public const int EWOULDBLOCK = EAGAIN;
    public const int ENOENT = 2;
    public const int EEXIST = 17;
    public const int ELOOP = 40;
    public const int ENOTDIR = 20;
    public const int EACCES = 13;
    public const int EISDIR = 21;
    public const int ENXIO = 6;
    public const int EPERM = 1;
    public const int ENOMEM = 12;
    public const int ENFILE = 23;
    public const int EMFILE = 24;
    public const int ENOSPC = 28;
    public const int EROFS = 30;
    public const int EDQUOT = 122;

    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const int LOCK_UN = 8;

    private const int O_RDONLY = 0;
    private const int O_WRONLY = 1;
    private const int O_RDWR = 2;
    private const int O_CREAT = 0x40;
    private const int O_EXCL = 0x80;

    [System.Runtime.Versioning.SupportedOSPlatformGuard("linux")]
    public static bool IsSupported => OperatingSystem.IsLinux();

    // Flag values differ between architectures; these are the ones of the generic Linux ABI (x86-64, ARM) and arm64.
    private static readonly bool IsArm64 = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;
    private static int O_DIRECTORY => IsArm64 ? 0x4000 : 0x10000;
    private static int O_NOFOLLOW => IsArm64 ? 0x8000 : 0x20000;
    private const int O_CLOEXEC = 0x80000;
    private const int O_NONBLOCK = 0x800;

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FsyncNative(int fd);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenNative(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int CloseNative(int fd);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int FlockNative(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint WriteNative(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int RenameNative(string oldPath, string newPath);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int StatxNative(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GeteuidNative();

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    private static partial int FtruncateNative(int fd, long length);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint ReadNative(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long LseekNative(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LinkNative(string oldPath, string newPath);

    /// <summary>fsync(2); retries only on EINTR (no data was lost then). Returns 0 or the errno.</summary>
    public static int Fsync(int fd) => RetryOnInterrupt(fd, static fd => FsyncNative(fd));

    /// <summary>
    /// Calls a flush (fsync(2), fdatasync(2)) until it succeeds or fails with an error other than EINTR: an interrupted
    /// flush lost nothing and is repeated; any other error is returned at once and never retried. Returns 0 or the errno.
    /// </summary>
    private static int RetryOnInterrupt(int fd, Func<int, int> flush)
    {
        while (true)
        {
            if (flush(fd) == 0)
            {
                return 0;
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno != EINTR)
            {
                return errno;
            }
        }
    }

    /// <summary>flock(2) with EINTR retry. Returns 0 or the errno.</summary>
    public static int Flock(int fd, int operation)
    {
        while (true)
        {
            if (FlockNative(fd, operation) == 0)
            {
                return 0;
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno != EINTR)
            {
                return errno;
            }
        }
    }

    /// <summary>Opens a directory read-only (for fsync). Returns the descriptor or -errno.</summary>
    public static int OpenDirectory(string path)
    {
        var fd = OpenNative(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        return fd >= 0 ? fd : -Marshal.GetLastPInvokeError();
    }

    /// <summary>Opens a file read-only without following a final symbolic link. Returns the descriptor or -errno (ELOOP for a link).</summary>
    public static int OpenReadNoFollow(string path)
    {
        // O_NONBLOCK: a FIFO planted under a record's name must not hang the reader (regular files ignore the flag).
        var fd = OpenNative(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0);
        return fd >= 0 ? fd : -Marshal.GetLastPInvokeError();
    }

    /// <summary>Opens (creating with <paramref name="mode"/> if missing) a file read-write without following a final symbolic link. Returns the descriptor or -errno.</summary>
    public static int OpenOrCreateNoFollow(string path, int mode)
    {
        // O_NONBLOCK: a FIFO planted under the name must not hang the opener; fstat then refuses it.
        var fd = OpenNative(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode);
        return fd >= 0 ? fd : -Marshal.GetLastPInvokeError();
    }

    /// <summary>
    /// Creates a new file write-only with <paramref name="mode"/> (less the umask), failing with EEXIST when the name
    /// exists in any form: with O_EXCL a final symbolic link is never followed. Returns the descriptor or -errno.
    /// </summary>
    public static int CreateExclusive(string path, int mode)
    {
        var fd = OpenNative(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        return fd >= 0 ? fd : -Marshal.GetLastPInvokeError();
    }

    /// <summary>
    /// Writes all of <paramref name="data"/> with write(2), continuing after short writes and retrying only on EINTR
    /// (nothing was written then). Any other error is returned at once, never retried. Returns 0 or the errno.
    /// </summary>
    public static unsafe int WriteAll(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* start = data)
        {
            var done = 0;
            while (done < data.Length)
            {
                var n = WriteNative(fd, start + done, (nuint)(data.Length - done));
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == EINTR)
                    {
                        continue;
                    }

                    return errno;
                }

                if (n == 0)
                {
                    // write(2) of a non-empty buffer to a regular file returning 0 would make this loop spin; the
                    // kernel does not do it, and if it ever did the file is not being written, which is an I/O error.
                    return EIO;
                }

                done += (int)n;
            }

            return 0;
        }
    }

    /// <summary>rename(2): atomically replaces <paramref name="newPath"/> (a link there is replaced, never followed). Returns 0 or the errno.</summary>
    public static int Rename(string oldPath, string newPath) =>
        RenameNative(oldPath, newPath) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>
    /// close(2), reporting its error. Returns 0 or the errno; EINTR counts as closed (on Linux the descriptor is
    /// released even then, so it must never be closed again).
    /// </summary>
    public static int CloseChecked(int fd)
    {
        if (CloseNative(fd) == 0)
        {
            return 0;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno == EINTR ? 0 : errno;
    }

    public static void Close(int fd) => _ = CloseNative(fd);

    /// <summary>
    /// link(2): gives the file at <paramref name="existingPath"/> the second name <paramref name="newPath"/>, in one
    /// atomic step that fails with EEXIST when <paramref name="newPath"/> exists. Returns 0 or the errno.
    /// </summary>
    public static int Link(string existingPath, string newPath) =>
        LinkNative(existingPath, newPath) == 0 ? 0 : Marshal.GetLastPInvokeError();

    private const int AT_FDCWD = -100;
    private const int AT_SYMLINK_NOFOLLOW = 0x100;
    private const int AT_EMPTY_PATH = 0x1000;
    private const uint STATX_BASIC_STATS = 0x7ff;

    /// <summary>STATX_TYPE | STATX_MODE | STATX_NLINK | STATX_UID | STATX_GID | STATX_INO | STATX_SIZE: everything but the times and blocks.</summary>
    private const uint STATX_IDENTITY = 0x31f;
    private const int O_APPEND = 0x400;

    /// <summary>The effective user id of this process (owner checks: a file must belong to the user who runs us).</summary>
    public static uint EffectiveUserId => GeteuidNative();

    /// <summary>fstat(2) of an open descriptor (statx with AT_EMPTY_PATH: one layout on every architecture). Returns 0 or the errno.</summary>
    public static int Fstat(int fd, out FileStatus status) => Statx(fd, string.Empty, AT_EMPTY_PATH, out status);

    /// <summary>lstat(2) of a path (a final symbolic link is described, never followed). Returns 0 or the errno.</summary>
    public static int Lstat(string path, out FileStatus status) => Statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, out status);

    /// <summary>
    /// fstatat(2) with AT_SYMLINK_NOFOLLOW: the entry <paramref name="name"/> of the directory open as
    /// <paramref name="directoryFd"/> (a final symbolic link is described, never followed). No path walk from the root,
    /// and the directory is the one the descriptor holds, whatever is at its path now. Returns 0 or the errno.
    /// </summary>
    public static int LstatAt(int directoryFd, string name, out FileStatus status) => Statx(directoryFd, name, AT_SYMLINK_NOFOLLOW, out status);

    /// <summary>stat(2) of a path, following links (the checkpoint directory itself may be reached through one). Returns 0 or the errno.</summary>
    public static int Stat(string path, out FileStatus status) => Statx(AT_FDCWD, path, 0, out status);

    /// <summary>
    /// lstat(2) of a path without its times: identity, type, owner, mode, links and size only
    /// (<see cref="FileStatus.HasTimes"/> is <see langword="false"/>). Returns 0 or the errno.
    /// </summary>
    /// <remarks>
    /// For a file this process keeps writing in place (the checkpoint log's segment). Since Linux 6.13 ext4, XFS, btrfs
    /// and tmpfs keep multigrain timestamps (Documentation/filesystems/multigrain-ts.rst): once anybody has asked for a
    /// file's ctime or mtime, the next write to it takes a fine-grained time, so the filesystem must log an inode update
    /// for that write instead of about one a clock tick. Asking for the times between two appends thus put an inode
    /// update into every append; on this project's ext4 disk that added about 40 µs to each <c>fdatasync</c>
    /// (docs/BENCHMARKS.md, row (f)). Without the times in the mask the query leaves the inode alone.
    /// </remarks>
    public static int LstatWithoutTimes(string path, out FileStatus status) => Statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, out status, STATX_IDENTITY);

    /// <summary><see cref="LstatAt"/> without the times, for the reason <see cref="LstatWithoutTimes"/> gives. Returns 0 or the errno.</summary>
    public static int LstatAtWithoutTimes(int directoryFd, string name, out FileStatus status) => Statx(directoryFd, name, AT_SYMLINK_NOFOLLOW, out status, STATX_IDENTITY);

    private static unsafe int Statx(int dirfd, string path, int flags, out FileStatus status, uint mask = STATX_BASIC_STATS)
    {
        // struct statx is 256 bytes with a fixed layout (include/uapi/linux/stat.h).
        var buffer = stackalloc byte[256];
        if (StatxNative(dirfd, path, flags, mask, buffer) != 0)
        {
            status = default;
            return Marshal.GetLastPInvokeError();
        }

        var times = mask == STATX_BASIC_STATS;
        status = new FileStatus(
            Device: ((ulong)*(uint*)(buffer + 136) << 32) | *(uint*)(buffer + 140),
            Inode: *(ulong*)(buffer + 32),
            Links: *(uint*)(buffer + 16),
            OwnerId: *(uint*)(buffer + 20),
            Mode: *(ushort*)(buffer + 28),
            Size: *(long*)(buffer + 40),
            ModifiedTicks: times ? (*(long*)(buffer + 112) * 1_000_000_000L) + *(uint*)(buffer + 120) : 0,
            ChangedTicks: times ? (*(long*)(buffer + 96) * 1_000_000_000L) + *(uint*)(buffer + 104) : 0)
        {
            HasTimes = times,
        };
        return 0;
    }

    /// <summary>
    /// Opens a file for appending, creating it with <paramref name="mode"/> if missing, without following a final
    /// symbolic link and without blocking on a FIFO. Returns the descriptor or -errno.
    /// </summary>
    public static int OpenAppendNoFollow(string path, int mode)
    {
        var fd = OpenNative(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode);
        return fd >= 0 ? fd : -Marshal.GetLastPInvokeError();
    }

    /// <summary>ftruncate(2). Returns 0 or the errno.</summary>
    public static int Ftruncate(int fd, long length) => FtruncateNative(fd, length) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>lseek(fd, 0, SEEK_SET): the next <see cref="Read"/> starts at the beginning. Returns 0 or the errno.</summary>
    public static int SeekToStart(int fd) => LseekNative(fd, 0, 0) < 0 ? Marshal.GetLastPInvokeError() : 0;

    /// <summary>read(2) with EINTR retry. Returns the byte count (0 at end of file) or -errno.</summary>
    public static unsafe int Read(int fd, Span<byte> buffer)
    {
        fixed (byte* start = buffer)
        {
            while (true)
            {
                var n = ReadNative(fd, start, (nuint)buffer.Length);
                if (n >= 0)
                {
                    return (int)n;
                }

                var errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR)
                {
                    return -errno;
                }
            }
        }
    }

    /// <summary>The text of an errno, e.g. "Input/output error (EIO)".</summary>
    public static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
}

/// <summary>What statx(2) says about a file: identity, type, owner, mode, size and times (nanoseconds since the epoch).</summary>
internal readonly record struct FileStatus(ulong Device, ulong Inode, uint Links, uint OwnerId, ushort Mode, long Size, long ModifiedTicks, long ChangedTicks)
{
    private const int TypeMask = 0xF000;

    /// <summary>
    /// The times were asked for (<see langword="false"/> for <see cref="LibC.LstatWithoutTimes"/>: then both are 0 and a
    /// comparison of two stamps leaves them out).
    /// </summary>
    public bool HasTimes { get; init; } = true;

    public bool IsRegularFile => (Mode & TypeMask) == 0x8000;

    public bool IsDirectory => (Mode & TypeMask) == 0x4000;

    public UnixFileMode Permissions => (UnixFileMode)(Mode & 0xFFF);

    /// <summary>What the file is, in words ("a FIFO", "a directory").</summary>
    public string Kind => (Mode & TypeMask) switch
    {
        0x8000 => "a regular file",
        0x4000 => "a directory",
        0x1000 => "a FIFO",
        0xC000 => "a socket",
        0x2000 => "a character device",
        0x6000 => "a block device",
        0xA000 => "a symbolic link",
        _ => "an unknown kind of file",
    };

    /// <summary>The same inode on the same device.</summary>
    public bool SameFileAs(in FileStatus other) => Device == other.Device && Inode == other.Inode;
}
