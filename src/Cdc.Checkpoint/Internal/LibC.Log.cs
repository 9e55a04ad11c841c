using System.Runtime.InteropServices;

namespace Cdc.Checkpoint.Internal;

/// <summary>The calls of the append-only checkpoint log (<see cref="Files.CheckpointLog"/>): positioned writes and fdatasync.</summary>
/// <remarks>
/// A log append writes one frame into a segment whose length was fixed (zero-filled) when the segment was created, so
/// the file's size never changes and <c>fdatasync(2)</c> flushes the data alone; <c>fsync(2)</c> would also flush the
/// inode for a modification time nobody reads. <c>pwrite(2)</c> puts the frame at the log's tail without a seek and
/// without depending on a file position another handle could move.
/// </remarks>
internal static partial class LibC
{
    public const int EBADF = 9;
    public const int EFBIG = 27;

    /// <summary>O_NOATIME (Linux x86-64 and arm64): reads leave the access time alone.</summary>
    private const int O_NOATIME = 0x40000;

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int FdatasyncNative(int fd);

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    private static unsafe partial nint PreadNative(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", EntryPoint = "pwrite", SetLastError = true)]
    private static unsafe partial nint PwriteNative(int fd, byte* buffer, nuint count, long offset);

    /// <summary>fdatasync(2); retries only on EINTR (no data was lost then). Returns 0 or the errno.</summary>
    public static int Fdatasync(int fd) => RetryOnInterrupt(fd, static fd => FdatasyncNative(fd));

    /// <summary>
    /// Writes all of <paramref name="data"/> at <paramref name="offset"/> with pwrite(2), continuing after short writes
    /// and retrying only on EINTR. Any other error is returned at once, never retried. Returns 0 or the errno.
    /// </summary>
    public static unsafe int PwriteAll(int fd, ReadOnlySpan<byte> data, long offset)
    {
        fixed (byte* start = data)
        {
            var done = 0;
            while (done < data.Length)
            {
                var n = PwriteNative(fd, start + done, (nuint)(data.Length - done), offset + done);
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
                    return EIO; // as in WriteAll: a regular file that takes nothing is not being written
                }

                done += (int)n;
            }

            return 0;
        }
    }

    /// <summary>
    /// Opens an existing file for reading and writing without following a final symbolic link and, when this process
    /// owns it, without access-time updates (<c>O_NOATIME</c>): reading back what was just written must not turn into an
    /// inode update the next flush has to write. Returns the descriptor or -errno.
    /// </summary>
    /// <remarks>
    /// <c>O_NOATIME</c> is refused with EPERM for a file of another user; the open is then repeated without it, and the
    /// caller's owner check refuses the file with its own words.
    /// </remarks>
    public static int OpenReadWriteNoFollow(string path)
    {
        var flags = O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
        var fd = OpenNative(path, flags | O_NOATIME, 0);
        if (fd < 0 && Marshal.GetLastPInvokeError() == EPERM)
        {
            fd = OpenNative(path, flags, 0);
        }

        return fd >= 0 ? fd : -Marshal.GetLastPInvokeError();
    }

    /// <summary>
    /// Reads into all of <paramref name="buffer"/> from <paramref name="offset"/> with pread(2), continuing after short
    /// reads and retrying on EINTR. Returns the bytes read (fewer at the end of the file) or -errno.
    /// </summary>
    public static unsafe int PreadAll(int fd, Span<byte> buffer, long offset)
    {
        fixed (byte* start = buffer)
        {
            var done = 0;
            while (done < buffer.Length)
            {
                var n = PreadNative(fd, start + done, (nuint)(buffer.Length - done), offset + done);
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == EINTR)
                    {
                        continue;
                    }

                    return -errno;
                }

                if (n == 0)
                {
                    break;
                }

                done += (int)n;
            }

            return done;
        }
    }
}
