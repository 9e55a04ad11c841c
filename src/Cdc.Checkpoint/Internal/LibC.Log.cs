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

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int FdatasyncNative(int fd);

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

    /// <summary>Opens an existing file write-only without following a final symbolic link. Returns the descriptor or -errno.</summary>
    public static int OpenWriteNoFollow(string path)
    {
        var fd = OpenNative(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0);
        return fd >= 0 ? fd : -Marshal.GetLastPInvokeError();
    }
}
