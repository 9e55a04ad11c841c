using Microsoft.Win32.SafeHandles;

namespace Cdc.Checkpoint.Internal;

/// <summary>
/// The one way the library opens a file it reads (record, lease, audit log, manifest, sidecar, latest pointer, cursor,
/// stream snapshot): never through a symbolic link, never blocking, and only a file it can trust.
/// </summary>
/// <remarks>
/// <para>The file is opened with <c>O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC</c> (a link is refused by the kernel, a FIFO
/// cannot hang the reader), then <c>fstat</c>ed through the descriptor, so what is checked is what is read: it must be
/// a regular file with exactly one link, owned by this process's effective user and, where the caller asks, private
/// (no group or other bits). Only then is it read, up to a size cap.</para>
/// <para>Every failure is a <see cref="CheckpointException"/> whose code says what the operator must do:
/// <see cref="CheckpointErrorCode.SymbolicLinkRefused"/>, <see cref="CheckpointErrorCode.UnsafeFile"/> (not a regular
/// file, or hard-linked), <see cref="CheckpointErrorCode.PermissionDenied"/> (EACCES/EPERM, or another owner),
/// <see cref="CheckpointErrorCode.InsecurePermissions"/>, <see cref="CheckpointErrorCode.RecordTooLarge"/>,
/// <see cref="CheckpointErrorCode.ResourceExhausted"/> (EMFILE/ENFILE/ENOMEM, transient) and
/// <see cref="CheckpointErrorCode.ReadFailed"/> (EIO and anything else). Linux only for the checks; elsewhere the
/// file is read with the runtime's APIs after a link check.</para>
/// </remarks>
internal static class SafeFile
{
    /// <summary>What a file must satisfy besides being a regular file that is not a link.</summary>
    [Flags]
    public enum Rules
    {
        /// <summary>Only: a regular file, not a link.</summary>
        None = 0,

        /// <summary>No group or other permission bits (mode 0600 or stricter).</summary>
        Private = 1,

        /// <summary>Exactly one hard link: a second name could be another file we would write through.</summary>
        SingleLink = 2,

        /// <summary>Owned by this process's effective user.</summary>
        OwnedByUser = 4,

        /// <summary>Every rule: what a checkpoint file of ours always satisfies.</summary>
        All = Private | SingleLink | OwnedByUser,
    }

    private const UnixFileMode GroupOrOther =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Reads a whole file that satisfies <paramref name="rules"/>, at most <paramref name="maxBytes"/> long.</summary>
    /// <returns>The contents, or <see langword="null"/> when nothing exists at <paramref name="path"/>.</returns>
    /// <exception cref="CheckpointException">The file cannot be trusted or read (see the remarks of the class).</exception>
    public static byte[]? ReadAll(string path, long maxBytes, Rules rules) => ReadAll(path, maxBytes, rules, out _);

    /// <summary>Like <see cref="ReadAll(string, long, Rules)"/>, also returning what fstat said about the file read.</summary>
    public static byte[]? ReadAll(string path, long maxBytes, Rules rules, out FileStatus status)
    {
        if (!LibC.IsSupported)
        {
            status = default;
            return ReadManaged(path, maxBytes);
        }

        using var handle = OpenRead(path, rules, out status);
        return handle is null ? null : Read(handle, path, status, maxBytes);
    }

    /// <summary>Opens <paramref name="path"/> read-only after checking it (Linux).</summary>
    /// <returns>The handle, or <see langword="null"/> when nothing exists at <paramref name="path"/>.</returns>
    public static SafeFileHandle? OpenRead(string path, Rules rules, out FileStatus status)
    {
        var fd = LibC.OpenReadNoFollow(path);
        if (fd < 0)
        {
            status = default;
            return -fd == LibC.ENOENT ? null : throw Failure(-fd, path, "open");
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            status = Stat(handle, path);
            Check(status, path, rules);
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>fstat of an open file.</summary>
    /// <exception cref="CheckpointException">fstat failed.</exception>
    public static FileStatus Stat(SafeFileHandle handle, string path)
    {
        var errno = LibC.Fstat(FdOf(handle), out var status);
        return errno == 0 ? status : throw Failure(errno, path, "fstat");
    }

    /// <summary>Refuses a file that is not a regular file satisfying <paramref name="rules"/>.</summary>
    /// <exception cref="CheckpointException">It is not.</exception>
    public static void Check(in FileStatus status, string path, Rules rules)
    {
        if (!status.IsRegularFile)
        {
            throw new CheckpointException(
                CheckpointErrorCode.UnsafeFile,
                $"'{path}' is {status.Kind}, not a regular file; nothing is read or written through it. Move it out of the checkpoint directory (a checkpoint file is always a regular file).")
            { Path = path };
        }

        if ((rules & Rules.SingleLink) != 0 && status.Links != 1)
        {
            throw new CheckpointException(
                CheckpointErrorCode.UnsafeFile,
                $"'{path}' has {status.Links} hard links; a checkpoint file has exactly one, so that writing it can never change another file. Find the other names (find / -samefile '{path}'), then replace the file with a copy of its own (cp '{path}' x && mv x '{path}').")
            { Path = path };
        }

        if ((rules & Rules.OwnedByUser) != 0 && status.OwnerId != LibC.EffectiveUserId)
        {
            throw new CheckpointException(
                CheckpointErrorCode.PermissionDenied,
                $"'{path}' is owned by user id {status.OwnerId}, not by the user running this process (uid {LibC.EffectiveUserId}); a file another user could have planted is never trusted. If it is genuine, run: chown {LibC.EffectiveUserId} '{path}'")
            { Path = path };
        }

        if ((rules & Rules.Private) != 0 && (status.Permissions & GroupOrOther) != 0)
        {
            throw new CheckpointException(
                CheckpointErrorCode.InsecurePermissions,
                $"Checkpoint file '{path}' has insecure permissions {FormatMode(status.Permissions)}; it must not be readable or writable by group or other users. Run: chmod 600 '{path}'")
            { Path = path };
        }
    }

    /// <summary>Reads an open, checked file from offset 0, at most <paramref name="maxBytes"/> long.</summary>
    /// <exception cref="CheckpointException">Too large, or read(2) failed.</exception>
    public static byte[] Read(SafeFileHandle handle, string path, in FileStatus status, long maxBytes)
    {
        if (status.Size > maxBytes)
        {
            throw TooLarge(path, status.Size, maxBytes);
        }

        var buffer = new byte[status.Size];
        var read = 0;
        while (read < buffer.Length)
        {
            int n;
            if (LibC.IsSupported)
            {
                n = LibC.Read(FdOf(handle), buffer.AsSpan(read));
                if (n < 0)
                {
                    throw Failure(-n, path, "read");
                }
            }
            else
            {
                n = RandomAccess.Read(handle, buffer.AsSpan(read), read);
            }

            if (n == 0)
            {
                break;
            }

            read += n;
        }

        return read == buffer.Length ? buffer : buffer[..read];
    }

    /// <summary>The typed error for a failed syscall on a checkpoint file or directory.</summary>
    /// <param name="errno">The errno.</param>
    /// <param name="path">The file or directory.</param>
    /// <param name="operation">What failed, e.g. "open", "read", "list".</param>
    public static CheckpointException Failure(int errno, string path, string operation) => errno switch
    {
        LibC.ELOOP => SymlinkRefused(path),
        LibC.EISDIR or LibC.ENXIO => new CheckpointException(
            CheckpointErrorCode.UnsafeFile,
            $"Could not {operation} '{path}': {LibC.Describe(errno)}; where a checkpoint file belongs there is a directory or a socket. Move it out of the checkpoint directory.")
        { Path = path },
        LibC.EACCES or LibC.EPERM => new CheckpointException(
            CheckpointErrorCode.PermissionDenied,
            $"Could not {operation} '{path}': {LibC.Describe(errno)}. Run the consumer as the user who owns the checkpoint directory, or give that user access (chown -R USER '{System.IO.Path.GetDirectoryName(path) ?? path}'; chmod 700 on the directory, 600 on its files).")
        { Path = path },
        LibC.EMFILE or LibC.ENFILE or LibC.ENOMEM => new CheckpointException(
            CheckpointErrorCode.ResourceExhausted,
            $"Could not {operation} '{path}': {LibC.Describe(errno)}. The process is out of file descriptors or memory; nothing was changed. Retry later, or raise the limit (ulimit -n).")
        { Path = path },
        _ => new CheckpointException(
            CheckpointErrorCode.ReadFailed,
            $"Could not {operation} '{path}': {LibC.Describe(errno)}. Nothing was changed and the file was not used; check the disk (dmesg) before retrying.")
        { Path = path },
    };

    /// <summary>The typed error for an exception of the runtime's file APIs (directory listing, deletes).</summary>
    public static CheckpointException Failure(Exception exception, string path, string operation)
    {
        var errno = exception switch
        {
            UnauthorizedAccessException => LibC.EACCES,
            IOException { HResult: > 0 and < 4096 } io => io.HResult, // on Unix the runtime puts the errno there
            _ => LibC.EIO,
        };
        var typed = Failure(errno, path, operation);
        return new CheckpointException(typed.ErrorCode, typed.Message.Replace(LibC.Describe(errno), exception.Message, StringComparison.Ordinal), exception) { Path = path };
    }

    /// <summary>
    /// Lists the entry names of <paramref name="directory"/> that match <paramref name="pattern"/>, whatever they are
    /// (files, directories, links), with listing errors reported as <see cref="CheckpointException"/>.
    /// </summary>
    public static List<string> ListEntries(string directory, string pattern)
    {
        try
        {
            return [.. Directory.EnumerateFileSystemEntries(directory, pattern)];
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Failure(ex, directory, "list the directory");
        }
    }

    internal static CheckpointException SymlinkRefused(string path) => new(
        CheckpointErrorCode.SymbolicLinkRefused,
        $"'{path}' is a symbolic link; checkpoint files are never read through links. Replace it with the real file.")
    { Path = path };

    internal static CheckpointException TooLarge(string path, long length, long maxBytes) => new(
        CheckpointErrorCode.RecordTooLarge,
        $"Checkpoint file '{path}' is {length} bytes, more than the {maxBytes}-byte limit; it is not a checkpoint written by this library. Move it out of the directory.")
    { Path = path };

    internal static string FormatMode(UnixFileMode mode) => "0" + Convert.ToString((int)mode & 0x1FF, 8).PadLeft(3, '0');

    private static int FdOf(SafeFileHandle handle) => (int)handle.DangerousGetHandle();

    private static byte[]? ReadManaged(string path, long maxBytes)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.LinkTarget is not null)
            {
                throw SymlinkRefused(path);
            }

            if (!info.Exists)
            {
                return Directory.Exists(path)
                    ? throw new CheckpointException(CheckpointErrorCode.UnsafeFile, $"'{path}' is a directory, not a regular file. Move it out of the checkpoint directory.") { Path = path }
                    : null;
            }

            if (info.Length > maxBytes)
            {
                throw TooLarge(path, info.Length, maxBytes);
            }

            return File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Failure(ex, path, "read");
        }
    }
}
