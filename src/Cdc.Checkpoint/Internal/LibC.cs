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

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LinkNative(string oldPath, string newPath);

    /// <summary>fsync(2); retries only on EINTR (no data was lost then). Returns 0 or the errno.</summary>
    public static int Fsync(int fd)
    {
        while (true)
        {
            if (FsyncNative(fd) == 0)
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
        var fd = OpenNative(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode);
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

    /// <summary>The text of an errno, e.g. "Input/output error (EIO)".</summary>
    public static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
}
