using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.Offsets;
using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Files;

// The operator's operations on a FileCheckpoint directory, besides save and rewind: the audited reset, the upgrade of
// old record formats, and the seeds that write a position for a migration or a disaster recovery.
public sealed partial class FileCheckpoint
{
    /// <summary>
    /// Deletes the record of <paramref name="sourceType"/> so the consumer starts that source afresh. Audited like
    /// <see cref="RewindAsync"/>.
    /// </summary>
    /// <param name="sourceType">The source type whose record is removed.</param>
    /// <param name="reason">Why; required.</param>
    /// <param name="cancellationToken">Cancels before anything is written.</param>
    /// <returns><see langword="true"/> when a record was removed.</returns>
    public async ValueTask<bool> ResetAsync(string sourceType, string reason, CancellationToken cancellationToken = default)
    {
        SourceTypeName.Validate(sourceType);
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        var lease = _directory.EnsureLease();
        await lease.WriteGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = LoadState(lease);
            if (!state.Records.TryGetValue(sourceType, out var existing))
            {
                return false;
            }

            var path = Path.Combine(DirectoryPath, CheckpointRecordFile.FileNameFor(sourceType));
            lease.EnsureHeld(_directory.Logger);
            _directory.Audit("reset", sourceType, existing, "(none)", reason);
            try
            {
                lease.Remember(path, null);
                File.Delete(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new CheckpointException(CheckpointErrorCode.WriteFailed, $"Could not delete '{path}': {ex.Message}", ex) { Path = path };
            }
            finally
            {
                state.Invalidate();
            }

            DurableFile.FsyncDirectory(DirectoryPath, path);
            Log.CheckpointRewound(_directory.Logger, sourceType, existing.Offset, existing.CommittedEventCount, null, 0, reason);
            return true;
        }
        finally
        {
            lease.WriteGate.Release();
        }
    }

    /// <summary>
    /// Rewrites every record of an older format version (rustcdc v1, or v2 which has no checksum) in the current format, keeping the original bytes
    /// in <c>checkpoint_{source}.json.v{N}.bak</c>. The offset and count are unchanged.
    /// </summary>
    /// <param name="dryRun">Only report what would be upgraded.</param>
    /// <param name="cancellationToken">Cancels before the next record is written.</param>
    /// <returns>One entry per record that was (or would be) upgraded.</returns>
    public async ValueTask<IReadOnlyList<RecordUpgrade>> UpgradeAsync(bool dryRun = false, CancellationToken cancellationToken = default)
    {
        var lease = _directory.EnsureLease();
        await lease.WriteGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = LoadState(lease);
            var old = RecordDirectoryState.OldestFirst(state.Records.Values.Where(r => r.FormatVersion < CurrentFormatVersion)).ToList();
            var upgrades = new List<RecordUpgrade>(old.Count);
            foreach (var record in old)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var fileName = CheckpointRecordFile.FileNameFor(record.SourceType);
                var path = Path.Combine(DirectoryPath, fileName);
                var backupName = $"{fileName}.v{record.FormatVersion}.bak";
                upgrades.Add(new RecordUpgrade(path, record.FormatVersion, CurrentFormatVersion, Path.Combine(DirectoryPath, backupName)));
                if (dryRun)
                {
                    continue;
                }

                var original = DurableFile.ReadPrivate(path, _options.MaxRecordBytes)
                    ?? throw new CheckpointException(CheckpointErrorCode.Corrupt, $"'{path}' disappeared during the upgrade.") { Path = path };
                var existingBackup = DurableFile.ReadPrivate(Path.Combine(DirectoryPath, backupName), _options.MaxRecordBytes);
                if (existingBackup is not null && !existingBackup.AsSpan().SequenceEqual(original))
                {
                    throw new CheckpointException(
                        CheckpointErrorCode.WriteFailed,
                        $"Refusing to upgrade '{path}': its backup '{backupName}' already exists with different contents, and an earlier original must not be lost. Move the backup aside and run the upgrade again.")
                    { Path = path };
                }

                lease.EnsureHeld(_directory.Logger);
                var upgraded = record with
                {
                    FormatVersion = CurrentFormatVersion,
                    Sequence = _directory.NextSequence(state.MaxSequence, path),
                    SavedAt = _directory.TimeProvider.GetUtcNow(),
                };
                DurableFile.Replace(DirectoryPath, backupName, original);
                state.Invalidate();
                lease.Remember(path, null);
                DurableFile.Replace(DirectoryPath, fileName, CheckpointRecordFile.Serialize(upgraded));
                lease.Remember(path, OwnedDirectory.StatAfterWrite(path));
                state.Wrote(upgraded);
                Log.RecordUpgraded(_directory.Logger, path, record.FormatVersion, CurrentFormatVersion, backupName);
            }

            return upgrades;
        }
        finally
        {
            lease.WriteGate.Release();
        }
    }

    /// <summary>
    /// Writes a typed record into <paramref name="directory"/> for a migration or disaster recovery, with the same
    /// guards as a save (it may create the record or move it forward, never back — use <see cref="RewindAsync"/>).
    /// Takes and releases the owner lease.
    /// </summary>
    /// <param name="directory">The checkpoint directory.</param>
    /// <param name="offset">The offset to seed.</param>
    /// <param name="committedEventCount">The event count to record.</param>
    /// <param name="options">Options.</param>
    /// <param name="loggerFactory">Logger factory.</param>
    /// <param name="cancellationToken">Cancels before writing.</param>
    /// <returns>A task that completes when the record is durable.</returns>
    public static async ValueTask SeedAsync(string directory, CheckpointOffset offset, ulong committedEventCount, FileCheckpointOptions? options = null, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(offset);
        var checkpoint = new FileCheckpoint(directory, options, loggerFactory);
        await using (checkpoint.ConfigureAwait(false))
        {
            await checkpoint.SaveAsync(offset, committedEventCount, cancellationToken).ConfigureAwait(false);
            Log.RecordSeeded(checkpoint._directory.Logger, offset.SourceType, offset, committedEventCount, checkpoint.DirectoryPath);
        }
    }

    /// <summary>
    /// Like <see cref="SeedAsync"/>, from raw offset JSON (for example copied from another tool); the JSON is read with
    /// the codec registered for <paramref name="sourceType"/> in <paramref name="options"/>, so typed guards apply.
    /// </summary>
    /// <param name="directory">The checkpoint directory.</param>
    /// <param name="sourceType">The source type.</param>
    /// <param name="offsetJson">The offset as JSON.</param>
    /// <param name="committedEventCount">The event count to record.</param>
    /// <param name="options">Options (its <see cref="FileCheckpointOptions.Codecs"/> decide how the JSON is typed).</param>
    /// <param name="loggerFactory">Logger factory.</param>
    /// <param name="cancellationToken">Cancels before writing.</param>
    /// <returns>A task that completes when the record is durable.</returns>
    /// <exception cref="FormatException"><paramref name="offsetJson"/> is not a valid offset of that source type.</exception>
    public static ValueTask SeedRawAsync(string directory, string sourceType, string offsetJson, ulong committedEventCount, FileCheckpointOptions? options = null, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        var generic = GenericOffset.Parse(sourceType, offsetJson);
        var codecs = (options ?? new FileCheckpointOptions()).Codecs;
        var typed = codecs.Read(sourceType, generic.Value, CurrentFormatVersion);
        return SeedAsync(directory, typed, committedEventCount, options, loggerFactory, cancellationToken);
    }

    /// <summary>The records as they are on disk now, under the write gate the caller holds.</summary>
    private RecordDirectoryState LoadState(OwnerLease lease)
    {
        var state = (RecordDirectoryState)lease.SharedState!;
        state.Load(lease, _directory, _options, forceRescan: true);
        return state;
    }
}

/// <summary>A record rewritten (or to be rewritten) in the current format by <see cref="FileCheckpoint.UpgradeAsync"/>.</summary>
/// <param name="Path">The record file.</param>
/// <param name="FromVersion">Its format version before.</param>
/// <param name="ToVersion">Its format version after.</param>
/// <param name="BackupPath">Where the original bytes are kept.</param>
public sealed record RecordUpgrade(string Path, int FromVersion, int ToVersion, string BackupPath);
