using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;

namespace Cdc.Checkpoint.Cli.Reading;

/// <summary>One <c>checkpoint_*.json</c> file as read by the tool: the record, or why it cannot be used.</summary>
/// <param name="Path">Full path.</param>
/// <param name="SourceType">The source type its name stands for.</param>
/// <param name="Record">The record, when it could be read and validated.</param>
/// <param name="Mode">Its permission bits, unless it is a symbolic link.</param>
/// <param name="LinkTarget">The target when the file is a symbolic link.</param>
/// <param name="Error">Why the record cannot be used (the library's own message), or <see langword="null"/>.</param>
internal sealed record RecordFile(string Path, string SourceType, CheckpointRecord? Record, UnixFileMode? Mode, string? LinkTarget, CheckpointException? Error)
{
    /// <summary>The CRC-32C the record carries, verified by the parser (format version 3 on); <see langword="null"/> before version 3.</summary>
    public string? Crc32C { get; init; }

    public string FileName => System.IO.Path.GetFileName(Path);
}

/// <summary>
/// A read-only look at a checkpoint directory: every record (read with the library's own parser and the same
/// O_NOFOLLOW, size-capped, 0600-checked read), every other entry, and the lease as probed from outside.
/// Nothing is created, locked for longer than a probe, or written.
/// </summary>
internal sealed class CheckpointDirectoryScan
{
    /// <summary>Every offset family the tool knows, so records read as typed offsets.</summary>
    public static readonly OffsetCodecRegistry Codecs = OffsetCodecRegistry.Empty.WithPostgres().WithMySql();

    private CheckpointDirectoryScan(string directory)
    {
        DirectoryPath = directory;
    }

    public string DirectoryPath { get; }

    /// <summary>Permission bits of the directory (of its target, when the path is a link).</summary>
    public UnixFileMode DirectoryMode { get; private set; }

    /// <summary>Where the directory path points when it is a symbolic link.</summary>
    public string? DirectoryLinkTarget { get; private set; }

    /// <summary>Record files, by name.</summary>
    public IReadOnlyList<RecordFile> Records { get; private set; } = [];

    /// <summary>Entries that are not record files (lease, audit log, backups, temp files, strays), by name.</summary>
    public IReadOnlyList<FileSystemInfo> OtherEntries { get; private set; } = [];

    /// <summary>The lease as probed, or <see langword="null"/> when probing failed (see <see cref="LeaseError"/>).</summary>
    public LeaseStatus? Lease { get; private set; }

    /// <summary>Why the lease could not be probed (for example the lease file is a symbolic link).</summary>
    public CheckpointException? LeaseError { get; private set; }

    /// <summary>Records that could be read.</summary>
    public IEnumerable<CheckpointRecord> ReadableRecords => Records.Where(r => r.Record is not null).Select(r => r.Record!);

    /// <summary>Record files that cannot be used.</summary>
    public IEnumerable<RecordFile> BadRecords => Records.Where(r => r.Error is not null);

    /// <summary>The distinct source families of the readable records, sorted.</summary>
    public IReadOnlyList<string> Families =>
        [.. ReadableRecords.Select(r => SourceTypeName.FamilyOf(r.SourceType)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    /// <summary>The library's refusal for a directory holding several source families, or <see langword="null"/>.</summary>
    public CheckpointException? MixedFamiliesError => Families.Count > 1
        ? new CheckpointException(
            CheckpointErrorCode.MixedSourceFamilies,
            $"Checkpoint directory '{DirectoryPath}' holds records of several source families ({string.Join(", ", Families)}). Use one directory per source family; move the records that belong to another consumer into its own directory.")
        { Path = DirectoryPath }
        : null;

    /// <summary>Reads <paramref name="directory"/> without changing anything.</summary>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.DirectoryNotFound"/> when it is missing or a file.</exception>
    public static CheckpointDirectoryScan Read(string directory)
    {
        var full = Path.GetFullPath(directory);
        RequireDirectory(full);
        var scan = new CheckpointDirectoryScan(full);
        var info = new DirectoryInfo(full);
        List<FileSystemInfo> entries;
        try
        {
            scan.DirectoryLinkTarget = info.LinkTarget;
            scan.DirectoryMode = File.GetUnixFileMode(full);
            entries = [.. info.EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal)];
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw SafeFile.Failure(ex, full, "list the checkpoint directory");
        }

        var records = new List<RecordFile>();
        var others = new List<FileSystemInfo>();
        foreach (var entry in entries)
        {
            // Whatever holds a record's name (a directory, a link to one) is that record, and is refused when read.
            var sourceType = CheckpointRecordFile.SourceTypeOf(entry.Name);
            if (sourceType is null)
            {
                others.Add(entry);
                continue;
            }

            records.Add(ReadRecord(entry.FullName, sourceType, entry.LinkTarget, entry.LinkTarget is null ? entry.UnixFileMode : null));
        }

        scan.Records = records;
        scan.OtherEntries = others;
        try
        {
            scan.Lease = FileCheckpoint.GetLeaseStatus(full);
        }
        catch (CheckpointException ex)
        {
            scan.LeaseError = ex;
        }

        return scan;
    }

    /// <summary>Throws the library's message when <paramref name="fullPath"/> is not an existing directory.</summary>
    public static void RequireDirectory(string fullPath) => CheckpointDirectoryReader.RequireDirectory(fullPath);

    private static RecordFile ReadRecord(string path, string sourceType, string? linkTarget, UnixFileMode? mode)
    {
        var (record, problem, crc32C) = CheckpointDirectoryReader.ReadRecordFile(path, Codecs, new FileCheckpointOptions().MaxRecordBytes);
        return new RecordFile(path, sourceType, record, mode, linkTarget, problem) { Crc32C = crc32C };
    }
}
