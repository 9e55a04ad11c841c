using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;

namespace Cdc.Checkpoint.Cli.Reading;

/// <summary>
/// A read-only look at a checkpoint directory: every record file and the lease as the library's public
/// <see cref="CheckpointDirectoryReader"/> reads them (the same no-symlink, size-capped, 0600-checked read a consumer
/// does), plus the directory's own mode and every other entry for <c>verify</c>. Nothing is created, locked for longer
/// than a probe, or written.
/// </summary>
internal sealed class CheckpointDirectoryScan
{
    /// <summary>Every offset family the tool knows, so records read as typed offsets.</summary>
    public static readonly OffsetCodecRegistry Codecs = OffsetCodecRegistry.Empty.WithPostgres().WithMySql();

    private readonly CheckpointDirectoryContents _contents;

    private CheckpointDirectoryScan(CheckpointDirectoryContents contents, UnixFileMode directoryMode, string? directoryLinkTarget, IReadOnlyList<FileSystemInfo> otherEntries)
    {
        _contents = contents;
        DirectoryMode = directoryMode;
        DirectoryLinkTarget = directoryLinkTarget;
        OtherEntries = otherEntries;
    }

    public string DirectoryPath => _contents.DirectoryPath;

    /// <summary>Permission bits of the directory (of its target, when the path is a link).</summary>
    public UnixFileMode DirectoryMode { get; }

    /// <summary>Where the directory path points when it is a symbolic link.</summary>
    public string? DirectoryLinkTarget { get; }

    /// <summary>Record files, by name.</summary>
    public IReadOnlyList<CheckpointRecordFileStatus> Records => _contents.RecordFiles;

    /// <summary>Entries that are not record files (lease, audit log, backups, temp files, strays), by name.</summary>
    public IReadOnlyList<FileSystemInfo> OtherEntries { get; }

    /// <summary>The lease as probed, or <see langword="null"/> when probing failed (see <see cref="LeaseError"/>).</summary>
    public LeaseStatus? Lease => _contents.Lease;

    /// <summary>Why the lease could not be probed (for example the lease file is a symbolic link).</summary>
    public CheckpointException? LeaseError => _contents.LeaseProblem;

    /// <summary>Records that could be read.</summary>
    public IEnumerable<CheckpointRecord> ReadableRecords => Records.Where(r => r.Record is not null).Select(r => r.Record!);

    /// <summary>Record files that cannot be used.</summary>
    public IEnumerable<CheckpointRecordFileStatus> BadRecords => Records.Where(r => !r.IsUsable);

    /// <summary>The library's refusal for a directory holding several source families, or <see langword="null"/>.</summary>
    public CheckpointException? MixedFamiliesError => _contents.Problems.FirstOrDefault(p => p.ErrorCode == CheckpointErrorCode.MixedSourceFamilies);

    /// <summary>Reads <paramref name="directory"/> without changing anything.</summary>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.DirectoryNotFound"/> when it is missing or a file.</exception>
    public static CheckpointDirectoryScan Read(string directory)
    {
        // The reader completes synchronously (plain file reads); the tool's verbs are synchronous.
        var contents = CheckpointDirectoryReader.ReadAsync(directory, Codecs).AsTask().GetAwaiter().GetResult();
        var full = contents.DirectoryPath;
        var info = new DirectoryInfo(full);
        try
        {
            var others = info.EnumerateFileSystemInfos()
                .Where(e => !CheckpointFileNames.TryGetRecordSourceType(e.Name, out _))
                .OrderBy(e => e.Name, StringComparer.Ordinal)
                .ToList();
            return new CheckpointDirectoryScan(contents, File.GetUnixFileMode(full), info.LinkTarget, others);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(
                ex is UnauthorizedAccessException ? CheckpointErrorCode.PermissionDenied : CheckpointErrorCode.ReadFailed,
                $"Could not list the checkpoint directory '{full}': {ex.Message}. Run the tool as the user who owns the directory, and check the disk.",
                ex)
            { Path = full };
        }
    }
}
