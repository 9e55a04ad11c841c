using System.Globalization;
using System.Text;
using Cdc.Checkpoint.Internal;
using Microsoft.Win32.SafeHandles;

namespace Cdc.Checkpoint.Files;

/// <summary>An append-only, fsynced, 0600 log of the dangerous operations (rewind, reset) done to a directory.</summary>
/// <remarks>
/// A failed append leaves the log as it was: a log this call created is removed again, an existing one is truncated
/// back to its previous length, so "nothing else was changed" stays true (a full disk used to leave an empty log).
/// </remarks>
internal static class AuditLog
{
    /// <summary>One tab-separated audit line: time, action, user, host, pid, source, old → new, reason (on one line).</summary>
    public static byte[] FormatLine(TimeProvider timeProvider, string action, string sourceType, CheckpointRecord? existing, string newText, string reason) =>
        Encoding.UTF8.GetBytes(string.Create(
            CultureInfo.InvariantCulture,
            $"{timeProvider.GetUtcNow().UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ}\t{action}\tuser={Environment.UserName}\thost={Environment.MachineName}\tpid={Environment.ProcessId}\tsource={sourceType}\told={(existing is null ? "(none)" : $"{existing.Offset} (count {existing.CommittedEventCount})")}\tnew={newText}\treason={reason.ReplaceLineEndings(" ")}\n"));

    public static void Append(string directory, string fileName, ReadOnlySpan<byte> line)
    {
        var path = Path.Combine(directory, fileName);
        if (!LibC.IsSupported)
        {
            AppendManaged(path, line);
            return;
        }

        var existed = LibC.Lstat(path, out _) == 0;
        var fd = LibC.OpenAppendNoFollow(path, (int)DurableFile.PrivateFileMode);
        if (fd < 0)
        {
            throw Failed(path, SafeFile.Failure(-fd, path, "open the audit log"));
        }

        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        var status = SafeFile.Stat(handle, path);
        SafeFile.Check(status, path, SafeFile.Rules.All);
        var created = !existed && status.Size == 0;
        var errno = LibC.WriteAll(fd, line);
        if (errno == 0)
        {
            errno = LibC.Fsync(fd);
        }

        if (errno != 0)
        {
            Undo(path, fd, created, status.Size);
            throw new CheckpointException(
                CheckpointErrorCode.WriteFailed,
                $"Could not append to the audit log '{path}': {LibC.Describe(errno)}. The log was left as it was and nothing else was changed; check free disk space and the disk, then retry.")
            { Path = path };
        }

        if (created)
        {
            DurableFile.FsyncDirectory(directory, path);
        }
    }

    private static void Undo(string path, int fd, bool created, long previousLength)
    {
        if (created)
        {
            DurableFile.TryDelete(path);
        }
        else
        {
            _ = LibC.Ftruncate(fd, previousLength);
        }
    }

    private static CheckpointException Failed(string path, CheckpointException cause) => new(
        cause.ErrorCode == CheckpointErrorCode.ReadFailed ? CheckpointErrorCode.WriteFailed : cause.ErrorCode,
        $"{cause.Message} The audit entry was not written, so nothing else was changed.",
        cause)
    { Path = path };

    private static void AppendManaged(string path, ReadOnlySpan<byte> line)
    {
        if (new FileInfo(path).LinkTarget is not null)
        {
            throw DurableFile.SymlinkRefused(path);
        }

        try
        {
            using var stream = new FileStream(path, new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.Read });
            stream.Write(line);
            stream.Flush(flushToDisk: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(CheckpointErrorCode.WriteFailed, $"Could not append to the audit log '{path}': {ex.Message}. Nothing else was changed.", ex) { Path = path };
        }
    }
}
