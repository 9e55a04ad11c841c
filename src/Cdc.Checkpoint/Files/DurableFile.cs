using System.Globalization;
using System.Security.Cryptography;
using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Leasing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;

namespace Cdc.Checkpoint.Files;

/// <summary>
/// Atomic, durable replacement and safe reading of small files: the primitive every file-based store builds on.
/// </summary>
/// <remarks>
/// Write order (never changed): create a temp file in the same directory exclusively with mode 0600 → write →
/// fsync the file → rename over the target → fsync the directory. A failure before the rename leaves the previous
/// file untouched and removes the temp file. fsync is never retried after an error (the kernel may have dropped the
/// dirty pages, so a second fsync could succeed without the data being on disk) and a failed save is never reported
/// as a success.
/// </remarks>
// Over 400 lines on purpose: the durable replace, the conditional create and the directory flush share one write path,
// and the order every durable write of the library follows (temp → fsync → rename or link → fsync directory) must be
// reviewable top to bottom in one file.
internal static class DurableFile
{
    /// <summary>The suffix of temp files; anything ending in it is a leftover of an interrupted write.</summary>
    public const string TempSuffix = ".tmp";

    /// <summary>Mode of every file we create: owner read and write only.</summary>
    public const UnixFileMode PrivateFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Mode of every directory we create: owner only.</summary>
    public const UnixFileMode PrivateDirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Test hook: called after the temp file is fsynced and before the rename (crash and fault tests).</summary>
    internal static Action<string>? BeforeRenameHook { get; set; }

    /// <summary>Test hook: chooses the temp file name for a target file name (fault-injection tests target it by path).</summary>
    internal static Func<string, string, string?>? TempNameForTests { get; set; }

    /// <summary>Atomically and durably replaces <paramref name="directory"/>/<paramref name="fileName"/> with <paramref name="contents"/>.</summary>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.WriteFailed"/> on any I/O failure.</exception>
    public static void Replace(string directory, string fileName, ReadOnlySpan<byte> contents) =>
        Write(directory, fileName, contents, overwrite: true, owner: null, default, NullLogger.Instance);

    /// <summary>
    /// <see cref="Replace(string, string, ReadOnlySpan{byte})"/> for the holder of <paramref name="owner"/>, with the
    /// same write order and checks: the directory's permissions are judged from <paramref name="directoryStatus"/>, the
    /// stat <see cref="OwnerLease.EnsureHeld"/> took just before, and the rename is made durable through the lease's
    /// held directory descriptor (<see cref="OwnerLease.FsyncDirectory"/>). That is one stat, one open and one close
    /// fewer per write than <see cref="Replace(string, string, ReadOnlySpan{byte})"/>.
    /// </summary>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.WriteFailed"/> on any I/O failure; <see cref="CheckpointErrorCode.InsecurePermissions"/> for a shared directory.</exception>
    public static void Replace(OwnerLease owner, in FileStatus directoryStatus, string fileName, ReadOnlySpan<byte> contents, ILogger logger) =>
        Write(owner.Directory, fileName, contents, overwrite: true, owner, directoryStatus, logger);

    /// <summary>
    /// Durably creates <paramref name="directory"/>/<paramref name="fileName"/> only if it does not exist yet
    /// (conditional create): same write order as <see cref="Replace(string, string, ReadOnlySpan{byte})"/>, but instead of the rename the temp file is
    /// given its final name with link(2), which fails when that name exists, and the temp name is then removed; so two
    /// writers of the same name cannot both succeed. (Off Linux: <c>File.Move</c> without overwrite, which checks and
    /// renames in two steps.)
    /// </summary>
    /// <returns><see langword="true"/> when created; <see langword="false"/> when the file already existed (nothing changed).</returns>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.WriteFailed"/> on any I/O failure.</exception>
    public static bool CreateNew(string directory, string fileName, ReadOnlySpan<byte> contents) =>
        Write(directory, fileName, contents, overwrite: false, owner: null, default, NullLogger.Instance);

    private static bool Write(string directory, string fileName, ReadOnlySpan<byte> contents, bool overwrite, OwnerLease? owner, in FileStatus directoryStatus, ILogger logger)
    {
        var finalPath = Path.Combine(directory, fileName);
        if (owner is null)
        {
            _ = RefuseSharedDirectory(directory, finalPath);
        }
        else
        {
            RefuseSharedDirectory(directoryStatus, directory, finalPath);
        }

        var tempPath = Path.Combine(directory, TempNameForTests?.Invoke(directory, fileName) ?? NextTempName(fileName));
        var created = false;
        var renamed = false;
        try
        {
            if (LibC.IsSupported)
            {
                WriteAndSyncNative(tempPath, finalPath, contents, ref created);
            }
            else
            {
                WriteAndSyncManaged(tempPath, finalPath, contents, ref created);
            }

            BeforeRenameHook?.Invoke(tempPath);
            if (!MoveIntoPlace(tempPath, finalPath, overwrite))
            {
                return false;
            }

            renamed = true;
            if (owner is null)
            {
                FsyncDirectory(directory, finalPath);
            }
            else
            {
                owner.FsyncDirectory(logger, finalPath);
            }

            return true;
        }
        finally
        {
            // Only a file this call created is removed: when the exclusive create failed, whatever holds the name
            // (another writer's temp file, a planted link) is not ours to delete.
            if (created && !renamed)
            {
                TryDelete(tempPath);
            }
        }
    }

    /// <summary>
    /// Refuses to write into a directory that group or other users can write: they could replace, link or delete the
    /// file between this write and the next read. Reading such a directory stays possible (inspect, verify).
    /// </summary>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.InsecurePermissions"/>, with the chmod that fixes it.</exception>
    /// <returns>What stat said about the directory (default off Linux).</returns>
    public static FileStatus RefuseSharedDirectory(string directory, string? changedPath = null)
    {
        if (!LibC.IsSupported)
        {
            return default;
        }

        var errno = LibC.Stat(directory, out var status);
        if (errno != 0)
        {
            throw SafeFile.Failure(errno, directory, "stat the directory");
        }

        RefuseSharedDirectory(status, directory, changedPath);
        return status;
    }

    /// <summary>As <see cref="RefuseSharedDirectory(string, string?)"/>, judged from a stat the caller has just taken.</summary>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.InsecurePermissions"/>, with the chmod that fixes it.</exception>
    public static void RefuseSharedDirectory(in FileStatus status, string directory, string? changedPath)
    {
        if ((status.Permissions & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
        {
            throw new CheckpointException(
                CheckpointErrorCode.InsecurePermissions,
                $"Directory '{directory}' has mode {FormatMode(status.Permissions)}: group or other users can create, replace or delete the files in it, so nothing is written there{(changedPath is null ? string.Empty : $" ('{changedPath}' is unchanged)")}. Run: chmod 700 '{directory}'")
            { Path = directory };
        }
    }

    /// <summary>
    /// A fresh temp name: the target's name, this process's id and random token (both taken once), and a counter.
    /// </summary>
    /// <remarks>
    /// Unique without a syscall per save (random bytes cost a getpid and a getrandom each time): the counter separates
    /// the writes of this process, the pid the live processes, and the random token a process that reuses the pid of
    /// one that crashed and left a temp file behind (in a container every start may get the same pid). The create is
    /// still exclusive, so even a collision or a planted name can only fail a save, never redirect or mix its bytes.
    /// </remarks>
    private static string NextTempName(string fileName) =>
        string.Create(CultureInfo.InvariantCulture, $"{fileName}.{ProcessTempToken}{(ulong)Interlocked.Increment(ref _tempCounter):x}{TempSuffix}");

    private static readonly string ProcessTempToken =
        string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessId:x}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}-");

    private static long _tempCounter;

    // Linux: the syscalls of a durable write and nothing else (what bench/limit/durable_replace.c does). FileStream
    // would add flock(LOCK_EX) and flock(LOCK_UN) for FileShare.None and two lseeks for its position, none of which
    // protect anything: the name is new and exclusive, and only this call knows it.
    private static void WriteAndSyncNative(string tempPath, string finalPath, ReadOnlySpan<byte> contents, ref bool created)
    {
        var fd = LibC.CreateExclusive(tempPath, (int)PrivateFileMode);
        if (fd < 0)
        {
            throw CreateFailed(tempPath, finalPath, LibC.Describe(-fd), inner: null);
        }

        created = true;
        var open = true;
        try
        {
            var errno = LibC.WriteAll(fd, contents);
            if (errno != 0)
            {
                throw WriteFailed(tempPath, finalPath, LibC.Describe(errno), inner: null);
            }

            errno = LibC.Fsync(fd);
            if (errno != 0)
            {
                throw FsyncFailed(tempPath, finalPath, errno);
            }

            open = false;
            errno = LibC.CloseChecked(fd);
            if (errno != 0)
            {
                throw new CheckpointException(
                    CheckpointErrorCode.WriteFailed,
                    $"close of '{tempPath}' failed: {LibC.Describe(errno)}. Nothing was renamed: the previous file '{finalPath}' is unchanged. The storage reported an error; check the disk before retrying.")
                { Path = finalPath };
            }
        }
        finally
        {
            if (open)
            {
                LibC.Close(fd);
            }
        }
    }

    private static void WriteAndSyncManaged(string tempPath, string finalPath, ReadOnlySpan<byte> contents, ref bool created)
    {
        FileStream stream;
        try
        {
            // Unbuffered (BufferSize = 0): a buffered FileStream retries a failed write when it is disposed, so on a
            // full disk its Dispose threw a raw IOException over our WriteFailed (seen with strace ENOSPC injection).
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 0 };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = PrivateFileMode;
            }

            stream = new FileStream(tempPath, options);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw CreateFailed(tempPath, finalPath, ex.Message, ex);
        }

        created = true;
        using (stream)
        {
            try
            {
                stream.Write(contents);
                stream.Flush(flushToDisk: false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw WriteFailed(tempPath, finalPath, ex.Message, ex);
            }

            // Not Linux: there is no libc fsync to call here (LibC is Linux only), so the runtime's flush is used.
            try
            {
                RandomAccess.FlushToDisk(stream.SafeFileHandle);
            }
            catch (IOException ex)
            {
                throw new CheckpointException(
                    CheckpointErrorCode.WriteFailed,
                    $"Flushing '{tempPath}' to disk failed: {ex.Message}. Nothing was renamed: the previous file '{finalPath}' is unchanged. The storage reported an error; check the disk before retrying.",
                    ex)
                { Path = finalPath };
            }
        }
    }

    private static bool MoveIntoPlace(string tempPath, string finalPath, bool overwrite)
    {
        if (overwrite && LibC.IsSupported)
        {
            // rename(2) itself: File.Move lstat()s the source first only to word a missing-file error.
            var errno = LibC.Rename(tempPath, finalPath);
            if (errno != 0)
            {
                throw RenameFailed(tempPath, finalPath, LibC.Describe(errno), inner: null);
            }

            return true;
        }

        if (!overwrite && LibC.IsSupported)
        {
            // Not File.Move(overwrite: false): on Unix it checks that the target is missing and then rename(2)s over
            // it, so two writers racing for one name could both succeed, the second silently replacing the first.
            // link(2) checks and creates in one atomic step; the temp name is removed afterwards (a crash before that
            // leaves a temp name of the complete file: a leftover like any other).
            var errno = LibC.Link(tempPath, finalPath);
            if (errno == LibC.EEXIST)
            {
                return false;
            }

            if (errno != 0)
            {
                throw new CheckpointException(
                    CheckpointErrorCode.WriteFailed,
                    $"Could not link '{tempPath}' to '{finalPath}': {LibC.Describe(errno)}. Nothing was created; check the directory's permissions, that the file system is writable and that it supports hard links.")
                { Path = finalPath };
            }

            TryDelete(tempPath);
            return true;
        }

        try
        {
            // Off Linux: File.Move without overwrite (check, then rename).
            File.Move(tempPath, finalPath, overwrite);
            return true;
        }
        catch (IOException) when (!overwrite && Path.Exists(finalPath))
        {
            return false;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw RenameFailed(tempPath, finalPath, ex.Message, ex);
        }
    }

    private static CheckpointException CreateFailed(string tempPath, string finalPath, string reason, Exception? inner) => new(
        CheckpointErrorCode.WriteFailed,
        $"Could not create the temp file '{tempPath}': {reason}. The previous file '{finalPath}' is unchanged; check that the directory is writable by this user.",
        inner)
    { Path = finalPath };

    private static CheckpointException WriteFailed(string tempPath, string finalPath, string reason, Exception? inner) => new(
        CheckpointErrorCode.WriteFailed,
        $"Could not write '{tempPath}': {reason}. The previous file '{finalPath}' is unchanged; check free disk space.",
        inner)
    { Path = finalPath };

    private static CheckpointException FsyncFailed(string tempPath, string finalPath, int errno) => new(
        CheckpointErrorCode.WriteFailed,
        $"fsync of '{tempPath}' failed: {LibC.Describe(errno)}. Nothing was renamed: the previous file '{finalPath}' is unchanged. The storage reported an error; check the disk before retrying.")
    { Path = finalPath };

    private static CheckpointException RenameFailed(string tempPath, string finalPath, string reason, Exception? inner) => new(
        CheckpointErrorCode.WriteFailed,
        $"Could not rename '{tempPath}' over '{finalPath}': {reason}. The previous file is unchanged; check the directory's permissions and that the file system is writable.",
        inner)
    { Path = finalPath };

    /// <summary>fsyncs a directory so a rename inside it is durable.</summary>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.WriteFailed"/> when the directory cannot be flushed.</exception>
    public static void FsyncDirectory(string directory, string? changedPath = null)
    {
        if (!LibC.IsSupported)
        {
            return;
        }

        var fd = LibC.OpenDirectory(directory);
        if (fd < 0)
        {
            throw new CheckpointException(
                CheckpointErrorCode.WriteFailed,
                $"Could not open directory '{directory}' to flush it: {LibC.Describe(-fd)}. {RenamedNote(changedPath)}")
            { Path = changedPath ?? directory };
        }

        try
        {
            FsyncDirectory(fd, directory, changedPath);
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>fsyncs an open directory descriptor so a rename inside it is durable (never retried after an error).</summary>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.WriteFailed"/> when the directory cannot be flushed.</exception>
    public static void FsyncDirectory(int fd, string directory, string? changedPath)
    {
        var errno = LibC.Fsync(fd);
        if (errno != 0)
        {
            throw new CheckpointException(
                CheckpointErrorCode.WriteFailed,
                $"fsync of directory '{directory}' failed: {LibC.Describe(errno)}. {RenamedNote(changedPath)}")
            { Path = changedPath ?? directory };
        }
    }

    private static string RenamedNote(string? changedPath) => changedPath is null
        ? "Its entries may not be durable."
        : $"'{changedPath}' was replaced but may not survive a power loss; stop the process and check the disk before trusting it.";

    /// <summary>Creates a directory with mode 0700 if it does not exist (its parent must exist).</summary>
    public static void CreatePrivateDirectory(string path)
    {
        if (Directory.Exists(path))
        {
            return;
        }

        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, PrivateDirectoryMode);
        }
    }

    /// <summary>
    /// Reads a whole file through <see cref="SafeFile"/>: never through a link, only a regular file with one link owned
    /// by this user and, when <paramref name="requirePrivate"/>, not readable or writable by group or other; at most
    /// <paramref name="maxBytes"/> long.
    /// </summary>
    /// <returns>The contents, or <see langword="null"/> when the file does not exist.</returns>
    /// <exception cref="CheckpointException">The file cannot be trusted or read.</exception>
    public static byte[]? ReadPrivate(string path, long maxBytes, bool requirePrivate = true) =>
        SafeFile.ReadAll(path, maxBytes, requirePrivate ? SafeFile.Rules.All : SafeFile.Rules.All & ~SafeFile.Rules.Private);

    internal static CheckpointException SymlinkRefused(string path) => SafeFile.SymlinkRefused(path);

    internal static string FormatMode(UnixFileMode mode) => SafeFile.FormatMode(mode);

    public static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp file is reported by `cdc-checkpoint verify` and removed at the next lease.
        }
        catch (UnauthorizedAccessException)
        {
            // As above.
        }
    }
}
