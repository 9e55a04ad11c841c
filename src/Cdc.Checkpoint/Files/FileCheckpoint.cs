using System.Diagnostics;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.Offsets;
using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Files;

/// <summary>
/// A durable checkpoint in a local directory: one JSON record per source type (<c>checkpoint_postgres.json</c>),
/// written atomically and durably, guarded against moving backwards, and owned by one process at a time.
/// </summary>
/// <remarks>
/// <para>Every save writes a temp file (created exclusively, mode 0600), fsyncs it, renames it over the record and
/// fsyncs the directory; it returns only when the record is durable and throws otherwise, leaving the previous record
/// intact. Saves are refused (nothing written) when the event count goes down, when an equal count comes with a
/// different offset, or when a typed offset moves backwards or diverges (<see cref="ProgressGuard"/>); moving back is
/// possible only with <see cref="RewindAsync"/>, which needs a reason and is audited.</para>
/// <para>The first operation takes the directory's owner lease (a kernel lock held until the last
/// <see cref="FileCheckpoint"/> of the process on that directory is disposed); another live process gets
/// <see cref="CheckpointErrorCode.LeaseHeld"/>. A directory holds one source family: <c>postgres</c> and
/// <c>postgres_snapshot</c> may live together, <c>postgres</c> and <c>mysql</c> may not.</para>
/// <para>Thread-safe: saves and loads of all instances on one directory in this process are serialised.</para>
/// <para>The file work is synchronous, but every <c>*Async</c> method reports I/O and data errors
/// (<see cref="CheckpointException"/>) and cancellation through the returned task, never from the call; only invalid
/// arguments throw at the call.</para>
/// </remarks>
// This file holds the reads and the save; FileCheckpoint.Maintenance.cs the audited reset, the upgrade and the seeds.
// The directory, its lease and the refusals both local stores share are OwnedDirectory; the records the owner knows,
// RecordDirectoryState.
public sealed partial class FileCheckpoint : ICheckpointStore, IDisposable, IAsyncDisposable
{
    /// <summary>The record format version this release writes.</summary>
    public const int CurrentFormatVersion = CheckpointRecordFile.CurrentVersion;

    /// <summary>The name of the owner lease file in a checkpoint directory.</summary>
    public const string LeaseFileName = OwnerLease.FileName;

    /// <summary>The name of the audit log that records every rewind and reset.</summary>
    public const string AuditLogFileName = "checkpoint-audit.log";

    private const string StoreTag = "file";

    private readonly FileCheckpointOptions _options;
    private readonly OwnedDirectory _directory;

    /// <summary>Creates a file checkpoint on <paramref name="directory"/>. Nothing is touched until the first operation.</summary>
    /// <param name="directory">The checkpoint directory; it must exist unless <see cref="FileCheckpointOptions.CreateDirectory"/> is set.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <param name="loggerFactory">Logger factory; no logging when <see langword="null"/>.</param>
    /// <param name="timeProvider">Clock for <c>saved_at</c> and lease times; the system clock when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException"><paramref name="directory"/> is empty.</exception>
    public FileCheckpoint(string directory, FileCheckpointOptions? options = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        _options = options ?? new FileCheckpointOptions();
        _directory = OwnedDirectory.For(this, directory, _options.CreateDirectory, StoreTag, Claim, loggerFactory, timeProvider);
    }

    /// <summary>The full path of the checkpoint directory.</summary>
    public string DirectoryPath => _directory.Path;

    /// <summary>The owner lease this instance holds, or <see langword="null"/> before the first operation.</summary>
    public LeaseInfo? Lease => _directory.Lease;

    /// <summary>Reports who holds the owner lease of <paramref name="directory"/>, without taking it.</summary>
    /// <param name="directory">A checkpoint directory.</param>
    /// <returns>The lease status.</returns>
    public static LeaseStatus GetLeaseStatus(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        return OwnerLease.Probe(directory);
    }

    /// <summary>Takes the owner lease now instead of at the first operation.</summary>
    /// <param name="cancellationToken">Cancels before the lease is taken.</param>
    /// <returns>The lease.</returns>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.LeaseHeld"/> when another live process owns the directory.</exception>
    public ValueTask<LeaseInfo> AcquireLeaseAsync(CancellationToken cancellationToken = default) => _directory.AcquireLeaseAsync(cancellationToken);

    /// <inheritdoc />
    public async ValueTask SaveAsync(CheckpointOffset offset, ulong committedEventCount, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(offset);
        await WriteAsync(offset, committedEventCount, reason: null, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>The audit line (time, user, host, old → new, reason) is appended to <see cref="AuditLogFileName"/> before the record is written.</remarks>
    public async ValueTask RewindAsync(CheckpointOffset offset, ulong committedEventCount, string reason, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(offset);
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        await WriteAsync(offset, committedEventCount, reason, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<CheckpointRecord?> LoadAsync(string sourceType, CancellationToken cancellationToken = default)
    {
        SourceTypeName.Validate(sourceType);
        try
        {
            var record = Read(state => state.Records.GetValueOrDefault(sourceType), codec: null, cancellationToken);
            if (record is not null)
            {
                Log.CheckpointLoaded(_directory.Logger, record.SourceType, record.Offset, record.CommittedEventCount, DirectoryPath);
            }

            return ValueTask.FromResult(record);
        }
        catch (Exception ex)
        {
            return SyncWork.Failed<CheckpointRecord?>(ex, cancellationToken);
        }
    }

    /// <summary>
    /// Loads the latest record in the directory: the one with the highest write sequence (records of the rustcdc v1
    /// format have none; among them a stream record is later than its snapshot record, then the higher event count
    /// wins). File modification times are never used.
    /// </summary>
    /// <param name="cancellationToken">Cancels the load.</param>
    /// <returns>The latest record, or <see langword="null"/> when the directory has none.</returns>
    /// <exception cref="CheckpointException">A record is corrupt, insecure or unsupported, or the directory mixes source families.</exception>
    public ValueTask<CheckpointRecord?> LoadLatestAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return ValueTask.FromResult(Read(state => RecordDirectoryState.Latest(state.Records.Values), codec: null, cancellationToken));
        }
        catch (Exception ex)
        {
            return SyncWork.Failed<CheckpointRecord?>(ex, cancellationToken);
        }
    }

    /// <summary>Loads the offset of <typeparamref name="TOffset"/>'s kind, read with its own codec.</summary>
    /// <typeparam name="TOffset">The offset type, e.g. <c>PostgresOffset</c>.</typeparam>
    /// <param name="sourceType">The source type to load; the latest record when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the load.</param>
    /// <returns>The offset, or <see langword="null"/> when there is no record.</returns>
    /// <exception cref="CheckpointException">The stored record is of another kind, or cannot be trusted.</exception>
    public ValueTask<TOffset?> LoadOffsetAsync<TOffset>(string? sourceType = null, CancellationToken cancellationToken = default)
        where TOffset : CheckpointOffset, ITypedOffset<TOffset>
    {
        if (sourceType is not null)
        {
            SourceTypeName.Validate(sourceType);
        }

        try
        {
            var record = Read(
                state => sourceType is null ? RecordDirectoryState.Latest(state.Records.Values) : state.Records.GetValueOrDefault(sourceType),
                TOffset.OffsetCodec,
                cancellationToken);
            return ValueTask.FromResult(Typed<TOffset>(record, logLoaded: sourceType is not null));
        }
        catch (Exception ex)
        {
            return SyncWork.Failed<TOffset?>(ex, cancellationToken);
        }
    }

    private TOffset? Typed<TOffset>(CheckpointRecord? record, bool logLoaded)
        where TOffset : CheckpointOffset, ITypedOffset<TOffset>
    {
        if (record is null)
        {
            return null;
        }

        if (logLoaded)
        {
            Log.CheckpointLoaded(_directory.Logger, record.SourceType, record.Offset, record.CommittedEventCount, DirectoryPath);
        }

        if (record.Offset is TOffset typed)
        {
            return typed;
        }

        // The codec of TOffset reads this source type, yet the record stayed opaque: a legacy value it could not type.
        throw record.Offset is GenericOffset && TOffset.OffsetCodec.CanRead(record.SourceType)
            ? new CheckpointException(
                CheckpointErrorCode.Misconfigured,
                $"The {record.SourceType} checkpoint in '{DirectoryPath}' ({record.Offset}) is kept as written because it is not a valid {typeof(TOffset).Name} (a legacy rustcdc value); `cdc-checkpoint inspect '{DirectoryPath}'` says why. Validate it against the server with the provider's resume validator, or record the real position with `cdc-checkpoint rewind`.")
            { Path = DirectoryPath }
            : new CheckpointException(
                CheckpointErrorCode.MixedSourceFamilies,
                $"The latest checkpoint in '{DirectoryPath}' is a {record.SourceType} offset ({record.Offset}), not a {typeof(TOffset).Name}. Point this consumer at its own checkpoint directory.")
            { Path = DirectoryPath };
    }

    /// <summary>The committed event count of the latest record, or 0 when there is none.</summary>
    /// <param name="cancellationToken">Cancels the load.</param>
    /// <returns>The count.</returns>
    public async ValueTask<ulong> GetCommittedCountAsync(CancellationToken cancellationToken = default) =>
        (await LoadLatestAsync(cancellationToken).ConfigureAwait(false))?.CommittedEventCount ?? 0;

    /// <summary>All records in the directory, ordered by source type.</summary>
    /// <param name="cancellationToken">Cancels the load.</param>
    /// <returns>The records.</returns>
    public ValueTask<IReadOnlyList<CheckpointRecord>> ListAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return ValueTask.FromResult<IReadOnlyList<CheckpointRecord>>(
                Read(state => state.Records.Values.OrderBy(r => r.SourceType, StringComparer.Ordinal).ToList(), codec: null, cancellationToken));
        }
        catch (Exception ex)
        {
            return SyncWork.Failed<IReadOnlyList<CheckpointRecord>>(ex, cancellationToken);
        }
    }

    /// <summary>Releases this instance's share of the owner lease.</summary>
    public void Dispose() => _directory.Dispose();

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Claims a freshly leased directory for record files: never a checkpoint log's.</summary>
    private void Claim(OwnerLease lease)
    {
        if (lease.SharedState is LogState)
        {
            throw WrongKind("this process uses it as a CheckpointLog directory");
        }

        if (SafeFile.ListEntries(DirectoryPath, CheckpointLog.SegmentFileName).Count > 0)
        {
            // A CheckpointLog's directory: its records are in the segment, so this store would start from nothing.
            throw WrongKind($"it holds a checkpoint log ({CheckpointLog.SegmentFileName}), not the record files of a FileCheckpoint");
        }

        lease.SharedState ??= new RecordDirectoryState(_options.Codecs);
    }

    private CheckpointException WrongKind(string why) => _directory.WrongKind(
        "FileCheckpoint",
        why,
        "Open it with CheckpointLog, or give this FileCheckpoint a directory of its own.");

    /// <summary>The records of the directory, read again from disk, under the write gate (a save may be changing them).</summary>
    private T Read<T>(Func<RecordDirectoryState, T> read, IOffsetCodec? codec, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var lease = _directory.EnsureLease();
        lease.WriteGate.Wait(cancellationToken);
        try
        {
            var state = (RecordDirectoryState)lease.SharedState!;
            if (codec is not null)
            {
                state.Learn(codec);
            }

            state.Load(lease, _directory, _options, forceRescan: true);
            return read(state);
        }
        finally
        {
            lease.WriteGate.Release();
        }
    }

    private async ValueTask WriteAsync(CheckpointOffset offset, ulong committedEventCount, string? reason, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var started = Stopwatch.GetTimestamp();
        var lease = _directory.EnsureLease();
        await lease.WriteGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = (RecordDirectoryState)lease.SharedState!;
            var (fileName, path) = state.RecordPaths(DirectoryPath, offset.SourceType);
            CheckpointRecord? existing;
            FileStatus directoryNow;
            try
            {
                state.Learn(offset.Codec);
                state.Load(lease, _directory, _options, forceRescan: false);
                _directory.RefuseMixedFamily(state.Records.Values, offset);
                state.Records.TryGetValue(offset.SourceType, out existing);

                // Before every write: this process still owns this directory, and the record is the one it last saw.
                // EnsureHeld opens the held directory descriptor, so a wrong directory fails before anything is written;
                // having proved that the directory at the path is the held one, the record is looked up through it.
                directoryNow = lease.EnsureHeld(_directory.Logger);
                _directory.RefuseIfChanged(lease, path, lease.StatEntry(_directory.Logger, fileName), expectedToExist: existing is not null, RecordDirectoryState.RecordWhat);
                if (reason is null && ProgressGuard.Check(path, existing, offset, committedEventCount) == ProgressGuard.Verdict.Repeat)
                {
                    _directory.SaveRepeated(offset.SourceType, started);
                    return;
                }
            }
            catch (CheckpointException ex)
            {
                _directory.SaveRefused(offset.SourceType, started, ex);
                throw;
            }

            var record = new CheckpointRecord(offset.SourceType, committedEventCount, offset)
            {
                FormatVersion = CurrentFormatVersion,
                Sequence = _directory.NextSequence(state.MaxSequence, path),
                SavedAt = _directory.TimeProvider.GetUtcNow(),
            };
            try
            {
                if (reason is not null)
                {
                    _directory.Audit("rewind", offset.SourceType, existing, $"{offset} (count {committedEventCount})", reason);
                }

                // The directory's stat of EnsureHeld above also decides its permissions, and the lease's descriptor flushes it.
                DurableFile.Replace(lease, directoryNow, fileName, CheckpointRecordFile.Serialize(record, state.Writer), _directory.Logger);
                lease.Remember(path, lease.StatEntryAfterWrite(_directory.Logger, fileName));
            }
            catch (CheckpointException ex)
            {
                // The file may or may not have changed (a directory fsync can fail after the rename): read it again next time.
                state.Invalidate();
                lease.Remember(path, null);
                _directory.SaveFailed(offset.SourceType, started, ex);
                throw;
            }

            state.Wrote(record);
            _directory.Saved(offset, committedEventCount, path, started, reason, existing);
        }
        finally
        {
            lease.WriteGate.Release();
        }
    }
}
