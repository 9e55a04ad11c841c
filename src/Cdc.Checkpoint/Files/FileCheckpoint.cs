using System.Diagnostics;
using System.Globalization;
using System.Text;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.Offsets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

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
/// <para>Thread-safe: saves of all instances on one directory in this process are serialised.</para>
/// <para>The file work is synchronous, but every <c>*Async</c> method reports I/O and data errors
/// (<see cref="CheckpointException"/>) and cancellation through the returned task, never from the call; only invalid
/// arguments throw at the call.</para>
/// </remarks>
public sealed class FileCheckpoint : ICheckpointStore, IDisposable, IAsyncDisposable
{
    /// <summary>The record format version this release writes.</summary>
    public const int CurrentFormatVersion = CheckpointRecordFile.CurrentVersion;

    /// <summary>The name of the owner lease file in a checkpoint directory.</summary>
    public const string LeaseFileName = OwnerLease.FileName;

    /// <summary>The name of the audit log that records every rewind and reset.</summary>
    public const string AuditLogFileName = "checkpoint-audit.log";

    private const string StoreTag = "file";

    private readonly FileCheckpointOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly Lock _leaseGate = new();
    private OwnerLease? _lease;
    private bool _disposed;

    /// <summary>Creates a file checkpoint on <paramref name="directory"/>. Nothing is touched until the first operation.</summary>
    /// <param name="directory">The checkpoint directory; it must exist unless <see cref="FileCheckpointOptions.CreateDirectory"/> is set.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <param name="loggerFactory">Logger factory; no logging when <see langword="null"/>.</param>
    /// <param name="timeProvider">Clock for <c>saved_at</c> and lease times; the system clock when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException"><paramref name="directory"/> is empty.</exception>
    public FileCheckpoint(string directory, FileCheckpointOptions? options = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        DirectoryPath = Path.GetFullPath(directory);
        _options = options ?? new FileCheckpointOptions();
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<FileCheckpoint>();
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The full path of the checkpoint directory.</summary>
    public string DirectoryPath { get; }

    /// <summary>The owner lease this instance holds, or <see langword="null"/> before the first operation.</summary>
    public LeaseInfo? Lease => _lease?.Info;

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
    public ValueTask<LeaseInfo> AcquireLeaseAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            return ValueTask.FromResult(EnsureLease().Info);
        }
        catch (Exception ex)
        {
            return SyncWork.Failed<LeaseInfo>(ex, cancellationToken);
        }
    }

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
        var lease = EnsureLease();
        await lease.WriteGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = LoadState(lease, forceRescan: true);
            if (!state.Records.TryGetValue(sourceType, out var existing))
            {
                return false;
            }

            var path = Path.Combine(DirectoryPath, CheckpointRecordFile.FileNameFor(sourceType));
            lease.EnsureHeld(_logger);
            AppendAudit("reset", sourceType, existing, "(none)", reason);
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
                lease.SharedState = null;
            }

            DurableFile.FsyncDirectory(DirectoryPath, path);
            Log.CheckpointRewound(_logger, sourceType, existing.Offset, existing.CommittedEventCount, null, 0, reason);
            return true;
        }
        finally
        {
            lease.WriteGate.Release();
        }
    }

    /// <inheritdoc />
    public ValueTask<CheckpointRecord?> LoadAsync(string sourceType, CancellationToken cancellationToken = default)
    {
        SourceTypeName.Validate(sourceType);
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            var state = LoadState(EnsureLease(), forceRescan: true);
            state.Records.TryGetValue(sourceType, out var record);
            if (record is not null)
            {
                Log.CheckpointLoaded(_logger, record.SourceType, record.Offset, record.CommittedEventCount, DirectoryPath);
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
            cancellationToken.ThrowIfCancellationRequested();
            var state = LoadState(EnsureLease(), forceRescan: true);
            return ValueTask.FromResult(Latest(state.Records.Values));
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
    public async ValueTask<TOffset?> LoadOffsetAsync<TOffset>(string? sourceType = null, CancellationToken cancellationToken = default)
        where TOffset : CheckpointOffset, ITypedOffset<TOffset>
    {
        var lease = EnsureLease();
        LearnCodec(lease, TOffset.OffsetCodec);
        var record = sourceType is null
            ? await LoadLatestAsync(cancellationToken).ConfigureAwait(false)
            : await LoadAsync(sourceType, cancellationToken).ConfigureAwait(false);
        if (record is null)
        {
            return null;
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
            cancellationToken.ThrowIfCancellationRequested();
            var state = LoadState(EnsureLease(), forceRescan: true);
            IReadOnlyList<CheckpointRecord> list = [.. state.Records.Values.OrderBy(r => r.SourceType, StringComparer.Ordinal)];
            return ValueTask.FromResult(list);
        }
        catch (Exception ex)
        {
            return SyncWork.Failed<IReadOnlyList<CheckpointRecord>>(ex, cancellationToken);
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
        var lease = EnsureLease();
        await lease.WriteGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = LoadState(lease, forceRescan: true);
            var old = state.Records.Values
                .Where(r => r.FormatVersion < CurrentFormatVersion)
                .OrderBy(r => r, LatestOrder.Instance)
                .ToList();
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

                lease.EnsureHeld(_logger);
                var upgraded = record with
                {
                    FormatVersion = CurrentFormatVersion,
                    Sequence = NextSequence(state, path),
                    SavedAt = _timeProvider.GetUtcNow(),
                };
                DurableFile.Replace(DirectoryPath, backupName, original);
                lease.SharedState = null;
                lease.Remember(path, null);
                DurableFile.Replace(DirectoryPath, fileName, CheckpointRecordFile.Serialize(upgraded));
                lease.Remember(path, StatAfterWrite(path));
                state.Records[record.SourceType] = upgraded;
                state.MaxSequence = upgraded.Sequence;
                lease.SharedState = state;
                Log.RecordUpgraded(_logger, path, record.FormatVersion, CurrentFormatVersion, backupName);
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
            Log.RecordSeeded(checkpoint._logger, offset.SourceType, offset, committedEventCount, checkpoint.DirectoryPath);
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

    /// <summary>Releases this instance's share of the owner lease.</summary>
    public void Dispose()
    {
        OwnerLease? lease;
        lock (_leaseGate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            lease = _lease;
            _lease = null;
        }

        lease?.Release(_logger);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    private async ValueTask WriteAsync(CheckpointOffset offset, ulong committedEventCount, string? reason, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var started = Stopwatch.GetTimestamp();
        var lease = EnsureLease();
        await lease.WriteGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            LearnCodec(lease, offset.Codec);
            var state = LoadState(lease, forceRescan: false);
            CheckFamily(state, offset);
            var (fileName, path) = state.RecordPaths(DirectoryPath, offset.SourceType);
            state.Records.TryGetValue(offset.SourceType, out var existing);
            FileStatus directoryNow;
            try
            {
                // Before every write: this process still owns this directory, and the record is the one it last saw.
                directoryNow = lease.EnsureHeld(_logger);
                lease.OpenDirectoryDescriptor(_logger);
                CheckUnchanged(lease, path, StatNow(path), expectedToExist: existing is not null);
            }
            catch (CheckpointException ex)
            {
                Log.SaveRefused(_logger, offset.SourceType, ex.Message);
                CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, ex.ErrorCode);
                throw;
            }

            if (reason is null)
            {
                ProgressGuard.Verdict verdict;
                try
                {
                    verdict = ProgressGuard.Check(path, existing, offset, committedEventCount);
                }
                catch (CheckpointException ex)
                {
                    Log.SaveRefused(_logger, offset.SourceType, ex.Message);
                    CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, ex.ErrorCode);
                    throw;
                }

                if (verdict == ProgressGuard.Verdict.Repeat)
                {
                    CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, null);
                    return;
                }
            }
            else
            {
                AppendAudit("rewind", offset.SourceType, existing, $"{offset} (count {committedEventCount})", reason);
            }

            var record = new CheckpointRecord(offset.SourceType, committedEventCount, offset)
            {
                FormatVersion = CurrentFormatVersion,
                Sequence = NextSequence(state, path),
                SavedAt = _timeProvider.GetUtcNow(),
            };
            try
            {
                // The directory's stat of EnsureHeld above also decides its permissions, and the lease's descriptor flushes it.
                DurableFile.Replace(lease, directoryNow, fileName, CheckpointRecordFile.Serialize(record, state.Writer), _logger);
                lease.Remember(path, StatAfterWrite(path));
            }
            catch (CheckpointException ex)
            {
                // The file may or may not have changed (a directory fsync can fail after the rename): read it again next time.
                lease.SharedState = null;
                lease.Remember(path, null);
                Log.SaveFailed(_logger, offset.SourceType, ex.Message);
                CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, ex.ErrorCode);
                throw;
            }

            state.Records[offset.SourceType] = record;
            state.MaxSequence = record.Sequence;
            CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, null);
            if (reason is null)
            {
                Log.CheckpointSaved(_logger, offset.SourceType, offset, committedEventCount, path);
            }
            else
            {
                Log.CheckpointRewound(_logger, offset.SourceType, existing?.Offset, existing?.CommittedEventCount, offset, committedEventCount, reason);
            }
        }
        finally
        {
            lease.WriteGate.Release();
        }
    }

    private OwnerLease EnsureLease()
    {
        lock (_leaseGate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_lease is not null)
            {
                return _lease;
            }

            EnsureDirectory(DirectoryPath, _options.CreateDirectory);
            var lease = OwnerLease.Acquire(DirectoryPath, _logger, _timeProvider);
            if (SafeFile.ListEntries(DirectoryPath, CheckpointLog.SegmentFileName).Count > 0)
            {
                // A CheckpointLog's directory: its records are in the segment, so this store would start from nothing.
                lease.Release(_logger);
                throw new CheckpointException(
                    CheckpointErrorCode.Misconfigured,
                    $"'{DirectoryPath}' holds a checkpoint log ({CheckpointLog.SegmentFileName}), not the record files of a FileCheckpoint. Open it with CheckpointLog, or give this FileCheckpoint a directory of its own.")
                { Path = DirectoryPath };
            }

            _lease = lease;
            return _lease;
        }
    }

    /// <summary>Makes sure a checkpoint directory exists: creates it (0700) only when asked to, never silently starts elsewhere.</summary>
    internal static void EnsureDirectory(string directory, bool create)
    {
        if (Directory.Exists(directory))
        {
            return;
        }

        if (File.Exists(directory))
        {
            throw new CheckpointException(
                CheckpointErrorCode.DirectoryNotFound,
                $"Checkpoint path '{directory}' is a file, not a directory. Point the checkpoint at a directory of its own.")
            { Path = directory };
        }

        if (create && Directory.Exists(Path.GetDirectoryName(directory)))
        {
            DurableFile.CreatePrivateDirectory(directory);
            DurableFile.FsyncDirectory(Path.GetDirectoryName(directory)!);
            return;
        }

        throw new CheckpointException(
            CheckpointErrorCode.DirectoryNotFound,
            $"Checkpoint directory '{directory}' does not exist. Create it (mkdir -m 700 '{directory}') or set the options' CreateDirectory; a consumer never starts from the beginning because its directory is missing.")
        { Path = directory };
    }

    private static void LearnCodec(OwnerLease lease, IOffsetCodec codec)
    {
        if (lease.SharedState is DirectoryState state && codec is not GenericOffsetCodec && !state.Codecs.Codecs.Contains(codec))
        {
            state.Codecs = state.Codecs.With(codec);
            state.Loaded = false; // re-read records that may have loaded as generic offsets
        }
        else if (lease.SharedState is null && codec is not GenericOffsetCodec)
        {
            lease.SharedState = new DirectoryState(OffsetCodecRegistry.Empty.With(codec));
        }
    }

    private DirectoryState LoadState(OwnerLease lease, bool forceRescan)
    {
        if (lease.SharedState is not DirectoryState state)
        {
            state = new DirectoryState(_options.Codecs);
            lease.SharedState = state;
        }

        foreach (var codec in _options.Codecs.Codecs)
        {
            if (!state.Codecs.Codecs.Contains(codec))
            {
                state.Codecs = state.Codecs.With(codec);
                state.Loaded = false;
            }
        }

        if (state.Loaded && !forceRescan)
        {
            return state;
        }

        var records = new Dictionary<string, CheckpointRecord>(StringComparer.Ordinal);
        var read = new Dictionary<string, FileStatus>(StringComparer.Ordinal);

        // Every entry with a record's name, whatever it is: a directory or a link there is refused, never skipped.
        foreach (var path in SafeFile.ListEntries(DirectoryPath, CheckpointRecordFile.Prefix + "*" + CheckpointRecordFile.Suffix))
        {
            var sourceType = CheckpointRecordFile.SourceTypeOf(Path.GetFileName(path));
            if (sourceType is null)
            {
                continue;
            }

            var bytes = SafeFile.ReadAll(path, _options.MaxRecordBytes, SafeFile.Rules.All, out var status);
            if (bytes is null)
            {
                continue;
            }

            CheckUnchanged(lease, path, status, expectedToExist: true);
            records[sourceType] = CheckpointRecordFile.Parse(bytes, path, state.Codecs);
            read[path] = status;
        }

        foreach (var remembered in lease.RememberedPaths())
        {
            if (!read.ContainsKey(remembered))
            {
                CheckUnchanged(lease, remembered, null, expectedToExist: true);
            }
        }

        foreach (var (path, status) in read)
        {
            lease.Remember(path, status);
        }

        var families = records.Values.Select(r => SourceTypeName.FamilyOf(r.SourceType)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (families.Count > 1)
        {
            throw new CheckpointException(
                CheckpointErrorCode.MixedSourceFamilies,
                $"Checkpoint directory '{DirectoryPath}' holds records of several source families ({string.Join(", ", families)}). Use one directory per source family; move the records that belong to another consumer into its own directory.")
            { Path = DirectoryPath };
        }

        state.Records = records;
        state.MaxSequence = records.Count == 0 ? 0 : records.Values.Max(r => r.Sequence);
        state.Loaded = true;
        return state;
    }

    /// <summary>The sequence of the next write: sequences only grow, so at the maximum nothing more is written.</summary>
    private ulong NextSequence(DirectoryState state, string path) => state.MaxSequence < ulong.MaxValue
        ? state.MaxSequence + 1
        : throw new CheckpointException(
            CheckpointErrorCode.LimitReached,
            $"A record in '{DirectoryPath}' has write sequence {state.MaxSequence}, the largest possible; sequences never wrap, so '{path}' was not written. No record written by this library gets there: check the directory's records (cdc-checkpoint inspect) and re-seed them into a fresh directory.")
        { Path = path };

    /// <summary>
    /// Refuses a record that is not what this owner last read or wrote: someone wrote the directory without its lease,
    /// so neither its value nor the owner's may be trusted. Every later load and save fails the same way until the
    /// process restarts (a new process has no memory to compare with, and takes the directory as it finds it).
    /// </summary>
    private void CheckUnchanged(OwnerLease lease, string path, FileStatus? now, bool expectedToExist)
    {
        var reason = LibC.IsSupported ? lease.ChangedBehindOurBack(path, now, expectedToExist) : null;
        if (reason is null)
        {
            return;
        }

        Log.ModifiedExternally(_logger, path, reason);
        throw new CheckpointException(
            CheckpointErrorCode.ModifiedExternally,
            $"Checkpoint record '{path}' was changed by another writer since this process last read or wrote it ({reason}); it was neither used nor overwritten. A process writes '{DirectoryPath}' without holding its lease: stop it, decide which record is right (cdc-checkpoint inspect), then restart this consumer.")
        { Path = path };
    }

    internal static FileStatus? StatNow(string path)
    {
        if (!LibC.IsSupported)
        {
            return null;
        }

        var errno = LibC.Lstat(path, out var status);
        return errno switch
        {
            0 => status,
            LibC.ENOENT => null,
            _ => throw SafeFile.Failure(errno, path, "stat"),
        };
    }

    /// <summary>The record as this owner just wrote it; unknown (nothing remembered) when the stat fails.</summary>
    internal static FileStatus? StatAfterWrite(string path) =>
        LibC.IsSupported && LibC.Lstat(path, out var status) == 0 ? status : null;

    private void CheckFamily(DirectoryState state, CheckpointOffset offset)
    {
        var family = offset.SourceFamily;
        foreach (var record in state.Records.Values)
        {
            if (!string.Equals(SourceTypeName.FamilyOf(record.SourceType), family, StringComparison.Ordinal))
            {
                var ex = new CheckpointException(
                    CheckpointErrorCode.MixedSourceFamilies,
                    $"Refusing to save a {offset.SourceType} checkpoint in '{DirectoryPath}': it already holds a {record.SourceType} record. Use one directory per source family.")
                { Path = DirectoryPath };
                Log.SaveRefused(_logger, offset.SourceType, ex.Message);
                throw ex;
            }
        }
    }

    private void AppendAudit(string action, string sourceType, CheckpointRecord? existing, string newText, string reason) =>
        AuditLog.Append(DirectoryPath, AuditLogFileName, AuditLog.FormatLine(_timeProvider, action, sourceType, existing, newText, reason));

    internal static CheckpointRecord? Latest(IEnumerable<CheckpointRecord> records) => records.OrderBy(r => r, LatestOrder.Instance).LastOrDefault();

    /// <summary>Orders records from oldest to latest without file times.</summary>
    private sealed class LatestOrder : IComparer<CheckpointRecord>
    {
        public static readonly LatestOrder Instance = new();

        public int Compare(CheckpointRecord? x, CheckpointRecord? y)
        {
            ArgumentNullException.ThrowIfNull(x);
            ArgumentNullException.ThrowIfNull(y);
            var bySequence = x.Sequence.CompareTo(y.Sequence);
            if (bySequence != 0)
            {
                return bySequence;
            }

            // Without sequences (v1), the snapshot phase of a family precedes its stream phase.
            var xSnapshot = x.SourceType.EndsWith(SourceTypeName.SnapshotSuffix, StringComparison.Ordinal);
            var ySnapshot = y.SourceType.EndsWith(SourceTypeName.SnapshotSuffix, StringComparison.Ordinal);
            if (xSnapshot != ySnapshot)
            {
                return xSnapshot ? -1 : 1;
            }

            var byCount = x.CommittedEventCount.CompareTo(y.CommittedEventCount);
            return byCount != 0 ? byCount : string.CompareOrdinal(x.SourceType, y.SourceType);
        }
    }

    private sealed class DirectoryState(OffsetCodecRegistry codecs)
    {
        public OffsetCodecRegistry Codecs { get; set; } = codecs;

        public Dictionary<string, CheckpointRecord> Records { get; set; } = new(StringComparer.Ordinal);

        public ulong MaxSequence { get; set; }

        public bool Loaded { get; set; }

        /// <summary>The buffers saves serialise into (used under the lease's write gate).</summary>
        public CheckpointRecordFile.RecordWriter Writer { get; } = new();

        private readonly Dictionary<string, (string FileName, string Path)> _paths = new(StringComparer.Ordinal);

        /// <summary>The record file name and path of a source type, built once per directory instead of per save.</summary>
        public (string FileName, string Path) RecordPaths(string directory, string sourceType)
        {
            if (!_paths.TryGetValue(sourceType, out var paths))
            {
                var fileName = CheckpointRecordFile.FileNameFor(sourceType);
                paths = (fileName, Path.Combine(directory, fileName));
                _paths[sourceType] = paths;
            }

            return paths;
        }
    }
}

/// <summary>A record rewritten (or to be rewritten) in the current format by <see cref="FileCheckpoint.UpgradeAsync"/>.</summary>
/// <param name="Path">The record file.</param>
/// <param name="FromVersion">Its format version before.</param>
/// <param name="ToVersion">Its format version after.</param>
/// <param name="BackupPath">Where the original bytes are kept.</param>
public sealed record RecordUpgrade(string Path, int FromVersion, int ToVersion, string BackupPath);
