using Cdc.Checkpoint.Internal;

namespace Cdc.Checkpoint.Files;

/// <summary>An append-only, fsynced, 0600 log of the dangerous operations (rewind, reset) done to a directory.</summary>
internal static class AuditLog
{
    public static void Append(string directory, string fileName, ReadOnlySpan<byte> line)
    {
        var path = Path.Combine(directory, fileName);
        if (new FileInfo(path).LinkTarget is not null)
        {
            throw DurableFile.SymlinkRefused(path);
        }

        var created = !File.Exists(path);
        var options = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.Read };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = DurableFile.PrivateFileMode;
        }

        try
        {
            using var stream = new FileStream(path, options);
            stream.Write(line);
            stream.Flush(flushToDisk: false);
            if (LibC.IsSupported)
            {
                var errno = LibC.Fsync((int)stream.SafeFileHandle.DangerousGetHandle());
                if (errno != 0)
                {
                    throw new CheckpointException(CheckpointErrorCode.WriteFailed, $"fsync of the audit log '{path}' failed: {LibC.Describe(errno)}. Nothing else was changed.") { Path = path };
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(CheckpointErrorCode.WriteFailed, $"Could not append to the audit log '{path}': {ex.Message}. Nothing else was changed.", ex) { Path = path };
        }

        if (created)
        {
            DurableFile.FsyncDirectory(directory, path);
        }
    }
}
