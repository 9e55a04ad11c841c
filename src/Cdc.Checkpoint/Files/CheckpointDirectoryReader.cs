using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Files;

/// <summary>
/// Reads a checkpoint directory without taking its owner lease, for readiness probes, sidecars and tools that run next
/// to a live consumer: every record file is read with the same no-symlink, size-capped, 0600-checked read as
/// <see cref="FileCheckpoint"/>, and the lease is probed from outside. Nothing is created, locked longer than a probe, or
/// written; a record that cannot be trusted is reported, never skipped silently.
/// </summary>
/// <remarks>
/// A consumer may be saving while the directory is read: each record file is replaced atomically, so every record read is
/// one that was durable at some moment, but two records may come from different moments.
/// </remarks>
public static class CheckpointDirectoryReader
{
    /// <summary>Reads every record of <paramref name="directory"/> and probes its owner lease.</summary>
    /// <param name="directory">The checkpoint directory.</param>
    /// <param name="codecs">Codecs that read records as typed offsets; generic offsets when <see langword="null"/>.</param>
    /// <param name="maxRecordBytes">The largest record file read; the <see cref="FileCheckpointOptions.MaxRecordBytes"/> default when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>What the directory holds, with the problems found.</returns>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.DirectoryNotFound"/> when the directory does not exist or is a file.</exception>
    public static ValueTask<CheckpointDirectoryContents> ReadAsync(string directory, OffsetCodecRegistry? codecs = null, long? maxRecordBytes = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        cancellationToken.ThrowIfCancellationRequested();
        var full = Path.GetFullPath(directory);
        RequireDirectory(full);
        codecs ??= OffsetCodecRegistry.Empty;
        var limit = maxRecordBytes ?? new FileCheckpointOptions().MaxRecordBytes;
        var files = new List<CheckpointRecordFileStatus>();
        var problems = new List<CheckpointException>();
        // Every entry at a record's name counts, whatever it is: a directory or a link there is a problem to report, never
        // "no record" (SafeFile refuses it when it is read).
        foreach (var path in SafeFile.ListEntries(full, CheckpointRecordFile.Prefix + "*" + CheckpointRecordFile.Suffix).Order(StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (CheckpointRecordFile.SourceTypeOf(Path.GetFileName(path)) is not { } sourceType)
            {
                continue;
            }

            var file = ReadRecordFile(path, sourceType, codecs, limit);
            files.Add(file);
            if (file.Problem is not null)
            {
                problems.Add(file.Problem);
            }
        }

        var records = files.Where(f => f.Record is not null).Select(f => f.Record!).ToList();
        var families = records.Select(r => SourceTypeName.FamilyOf(r.SourceType)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (families.Count > 1)
        {
            problems.Add(new CheckpointException(
                CheckpointErrorCode.MixedSourceFamilies,
                $"Checkpoint directory '{full}' holds records of several source families ({string.Join(", ", families)}). Use one directory per source family; move the records that belong to another consumer into its own directory.")
            { Path = full });
        }

        LeaseStatus? lease = null;
        CheckpointException? leaseProblem = null;
        try
        {
            lease = FileCheckpoint.GetLeaseStatus(full);
        }
        catch (CheckpointException ex)
        {
            leaseProblem = ex;
            problems.Add(ex);
        }

        return ValueTask.FromResult(new CheckpointDirectoryContents(
            full,
            [.. records.OrderBy(r => r.SourceType, StringComparer.Ordinal)],
            FileCheckpoint.Latest(records),
            lease,
            problems)
        {
            RecordFiles = files,
            LeaseProblem = leaseProblem,
        });
    }

    /// <summary>Throws <see cref="CheckpointErrorCode.DirectoryNotFound"/>, naming the fix, when <paramref name="fullPath"/> is not an existing directory.</summary>
    internal static void RequireDirectory(string fullPath)
    {
        if (Directory.Exists(fullPath))
        {
            return;
        }

        throw new CheckpointException(
            CheckpointErrorCode.DirectoryNotFound,
            File.Exists(fullPath)
                ? $"'{fullPath}' is a file, not a checkpoint directory. Pass the directory that holds the checkpoint_*.json records."
                : $"Checkpoint directory '{fullPath}' does not exist. Check the path (a consumer configured with it would refuse to start rather than begin from scratch).")
        { Path = fullPath };
    }

    /// <summary>Reads one record file: the record and its checksum, or why it cannot be used (the library's own message).</summary>
    private static CheckpointRecordFileStatus ReadRecordFile(string path, string sourceType, OffsetCodecRegistry codecs, long maxRecordBytes)
    {
        var (mode, linkTarget) = Describe(path);
        try
        {
            var bytes = DurableFile.ReadPrivate(path, maxRecordBytes);
            if (bytes is null)
            {
                return new(path, sourceType, null, new CheckpointException(CheckpointErrorCode.Corrupt, $"'{path}' disappeared while it was read; read the directory again.") { Path = path })
                {
                    Mode = mode,
                    LinkTarget = linkTarget,
                };
            }

            return new(path, sourceType, CheckpointRecordFile.Parse(bytes, path, codecs), null)
            {
                Checksum = CheckpointRecordFile.StoredChecksum(bytes),
                Mode = mode,
                LinkTarget = linkTarget,
            };
        }
        catch (CheckpointException ex)
        {
            return new(path, sourceType, null, ex) { Mode = mode, LinkTarget = linkTarget };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return new(path, sourceType, null, SafeFile.Failure(ex, path, "read")) { Mode = mode, LinkTarget = linkTarget };
        }
    }

    // What the entry is, without following it: its permission bits, or where it points when it is a link.
    private static (UnixFileMode? Mode, string? LinkTarget) Describe(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget is { } target ? (null, target) : OperatingSystem.IsWindows() ? (null, null) : (File.GetUnixFileMode(path), null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return (null, null);
        }
    }
}

/// <summary>What a checkpoint directory holds, read without its owner lease by <see cref="CheckpointDirectoryReader"/>.</summary>
/// <param name="DirectoryPath">The full path of the directory.</param>
/// <param name="Records">The records that could be read, ordered by source type.</param>
/// <param name="Latest">The latest of them (highest write sequence, as <see cref="FileCheckpoint.LoadLatestAsync"/> picks it), or <see langword="null"/> when there is none.</param>
/// <param name="Lease">The owner lease as probed, or <see langword="null"/> when it could not be probed (see <paramref name="Problems"/>).</param>
/// <param name="Problems">Record files that cannot be used, a mix of source families, a lease that cannot be probed: each with its code and the operator's fix. A consumer would refuse to start on any of them.</param>
public sealed record CheckpointDirectoryContents(
    string DirectoryPath,
    IReadOnlyList<CheckpointRecord> Records,
    CheckpointRecord? Latest,
    LeaseStatus? Lease,
    IReadOnlyList<CheckpointException> Problems)
{
    /// <summary>Whether a consumer could load this directory: no problem was found.</summary>
    public bool IsUsable => Problems.Count == 0;

    /// <summary>Every entry at a record file's name, by name, each with its record or problem, checksum and mode.</summary>
    /// <value>Empty when the directory holds no record file.</value>
    public IReadOnlyList<CheckpointRecordFileStatus> RecordFiles { get; init; } = [];

    /// <summary>Why the owner lease could not be probed (also in <see cref="Problems"/>), or <see langword="null"/>.</summary>
    public CheckpointException? LeaseProblem { get; init; }
}
