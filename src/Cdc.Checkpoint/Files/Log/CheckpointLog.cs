using System.Diagnostics;
using System.Globalization;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.Offsets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cdc.Checkpoint.Files;

/// <summary>
/// A durable checkpoint in a local directory kept as an append-only log: every save appends one CRC-32C framed record
/// to a preallocated segment and makes it durable with a single <c>fdatasync</c> — no temp file, no rename, no
/// directory flush — so a save costs one flush of the disk instead of the two of <see cref="FileCheckpoint"/>.
/// </summary>
/// <remarks>
/// <para>The directory holds <see cref="SegmentFileName"/> (format: docs/checkpoint-log-format.md), the owner lease and,
/// after a rewind, the audit log. A segment is created zero-filled to <see cref="CheckpointLogOptions.SegmentBytes"/>
/// through the same durable replace as a record file (temp file → fsync → rename → directory fsync); saves then
/// overwrite its zeros in place, so the file's size never changes. When the next frame does not fit, and at the first
/// save of every new owner, the live records (the newest of each source type) and the new one are written to a fresh
/// segment by that durable replace: a new owner thus never appends behind bytes a previous owner may have left torn,
/// and what it resumed from is durable on this disk whatever that owner's last flush reported.</para>
/// <para>Recovery reads the segment frame by frame; the newest valid frame of each source type wins. A damaged last
/// frame (an interrupted save: it was never acknowledged) is ignored and logged. A damaged frame followed by a valid one
/// cannot come from a crash and is <see cref="CheckpointErrorCode.Corrupt"/>, as is a bad header.</para>
/// <para>The guards, the lease, the permissions and the refusals are those of <see cref="FileCheckpoint"/>: progress
/// never regresses (<see cref="ProgressGuard"/>), one source family per directory, one owner process at a time, files
/// 0600 and directories 0700, never through a symbolic link. A directory holds either a log or record files, never
/// both. When a write or an <c>fdatasync</c> of a save fails, the save throws and the store is failed for good:
/// every later call throws <see cref="CheckpointErrorCode.WriteFailed"/> until every instance on the directory is
/// disposed and a new one recovers from what is on disk (a flush is never retried on the same file).</para>
/// <para>Thread-safe: saves of all instances on one directory in this process are serialised. The file work is
/// synchronous; errors and cancellation are reported through the returned task. Linux appends with <c>pwrite</c> and
/// <c>fdatasync</c>; elsewhere every save writes a fresh segment through the durable replace.</para>
/// </remarks>
public sealed class CheckpointLog : ICheckpointStore, IDisposable, IAsyncDisposable
{
    /// <summary>The name of the segment file in a checkpoint log directory.</summary>
    public const string SegmentFileName = "checkpoint_log.seg";

    /// <summary>The segment format version this release writes.</summary>
    public const int CurrentFormatVersion = LogSegment.CurrentVersion;

    private const string StoreTag = "log";

    private readonly CheckpointLogOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly Lock _leaseGate = new();
    private readonly string _segmentPath;
    private OwnerLease? _lease;
    private bool _disposed;

    /// <summary>Creates a checkpoint log on <paramref name="directory"/>. Nothing is touched until the first operation.</summary>
    /// <param name="directory">The checkpoint directory; it must exist unless <see cref="CheckpointLogOptions.CreateDirectory"/> is set.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <param name="loggerFactory">Logger factory; no logging when <see langword="null"/>.</param>
    /// <param name="timeProvider">Clock for <c>saved_at</c> and lease times; the system clock when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException"><paramref name="directory"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="CheckpointLogOptions.MaxRecordBytes"/> is more than a quarter of <see cref="CheckpointLogOptions.SegmentBytes"/>.</exception>
    public CheckpointLog(string directory, CheckpointLogOptions? options = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        DirectoryPath = Path.GetFullPath(directory);
        _options = options ?? new CheckpointLogOptions();
        _options.Validate();
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<CheckpointLog>();
        _timeProvider = timeProvider ?? TimeProvider.System;
        _segmentPath = Path.Combine(DirectoryPath, SegmentFileName);
    }

    /// <summary>The full path of the checkpoint directory.</summary>
    public string DirectoryPath { get; }

    /// <summary>The owner lease this instance holds, or <see langword="null"/> before the first operation.</summary>
    public LeaseInfo? Lease => _lease?.Info;

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
    /// <remarks>One <c>pwrite</c> and one <c>fdatasync</c> of the segment; a compaction (see the class remarks) instead writes a fresh segment through the durable replace.</remarks>
    public async ValueTask SaveAsync(CheckpointOffset offset, ulong committedEventCount, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(offset);
        await WriteAsync(offset, committedEventCount, reason: null, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>The audit line (time, user, host, old → new, reason) is appended to <see cref="FileCheckpoint.AuditLogFileName"/> before the frame is written.</remarks>
    public async ValueTask RewindAsync(CheckpointOffset offset, ulong committedEventCount, string reason, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(offset);
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        await WriteAsync(offset, committedEventCount, reason, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<CheckpointRecord?> LoadAsync(string sourceType, CancellationToken cancellationToken = default)
    {
        SourceTypeName.Validate(sourceType);
        var records = await ReadRecordsAsync(cancellationToken).ConfigureAwait(false);
        records.TryGetValue(sourceType, out var record);
        if (record is not null)
        {
            Log.CheckpointLoaded(_logger, record.SourceType, record.Offset, record.CommittedEventCount, _segmentPath);
        }

        return record;
    }

    /// <summary>Loads the latest record in the log: the one with the highest write sequence.</summary>
    /// <param name="cancellationToken">Cancels the load.</param>
    /// <returns>The latest record, or <see langword="null"/> when the log has none.</returns>
    /// <exception cref="CheckpointException">The segment is corrupt, insecure or of an unsupported version, or the store failed.</exception>
    public async ValueTask<CheckpointRecord?> LoadLatestAsync(CancellationToken cancellationToken = default)
    {
        var records = await ReadRecordsAsync(cancellationToken).ConfigureAwait(false);
        return records.Values.MaxBy(r => r.Sequence);
    }

    /// <summary>
    /// Reads the checkpoint log of <paramref name="directory"/> without taking its owner lease, for tools, probes and
    /// sidecars: the segment is read with the same no-symlink, 0600-checked read and validated completely. Nothing is
    /// created, locked or written.
    /// </summary>
    /// <remarks>A consumer may be appending while the segment is read: a frame being written then shows as a torn tail
    /// (recovery would ignore it too); read again for the newest state.</remarks>
    /// <param name="directory">The checkpoint directory.</param>
    /// <param name="codecs">Codecs that read records as typed offsets; generic offsets when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>What the segment holds, or <see langword="null"/> when the directory has no checkpoint log.</returns>
    /// <exception cref="CheckpointException">The directory does not exist, or the segment cannot be trusted (corrupt, unsupported version, insecure, a link).</exception>
    public static ValueTask<CheckpointLogContents?> ReadAsync(string directory, OffsetCodecRegistry? codecs = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            var full = Path.GetFullPath(directory);
            CheckpointDirectoryReader.RequireDirectory(full);
            var path = Path.Combine(full, SegmentFileName);
            var bytes = SafeFile.ReadAll(path, CheckpointLogOptions.MaxSegmentBytes, SafeFile.Rules.All, out var status);
            if (bytes is null)
            {
                return ValueTask.FromResult<CheckpointLogContents?>(null);
            }

            var contents = LogSegment.Read(bytes, path, codecs ?? OffsetCodecRegistry.Empty, 1024 * 1024);
            var records = contents.Latest.Values.OrderBy(r => r.SourceType, StringComparer.Ordinal).ToList();
            return ValueTask.FromResult<CheckpointLogContents?>(new CheckpointLogContents(
                path,
                CurrentFormatVersion,
                contents.SegmentId,
                contents.Length,
                contents.Frames.Count,
                contents.Tail,
                contents.TornTail?.Position,
                contents.TornTail?.Reason,
                records,
                records.MaxBy(r => r.Sequence),
                LibC.IsSupported ? status.Permissions : null));
        }
        catch (Exception ex)
        {
            return SyncWork.Failed<CheckpointLogContents?>(ex, cancellationToken);
        }
    }

    /// <summary>The committed event count of the latest record, or 0 when there is none.</summary>
    /// <param name="cancellationToken">Cancels the load.</param>
    /// <returns>The count.</returns>
    public async ValueTask<ulong> GetCommittedCountAsync(CancellationToken cancellationToken = default) =>
        (await LoadLatestAsync(cancellationToken).ConfigureAwait(false))?.CommittedEventCount ?? 0;

    /// <summary>Releases the owner lease (when this is the last instance of the process on the directory) and the segment.</summary>
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

        if (lease?.SharedState is LogState state)
        {
            lock (state)
            {
                if (--state.Users == 0)
                {
                    state.CloseSegment();
                    lease.SharedState = null;
                }
            }
        }

        lease?.Release(_logger);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    private async ValueTask<Dictionary<string, CheckpointRecord>> ReadRecordsAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var lease = EnsureLease();
        await lease.WriteGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = (LogState)lease.SharedState!;
            state.ThrowIfFailed(_segmentPath);
            Load(lease, state);
            return new Dictionary<string, CheckpointRecord>(state.Records, StringComparer.Ordinal);
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
        var lease = EnsureLease();
        await lease.WriteGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = (LogState)lease.SharedState!;
            CheckpointRecord? existing;
            try
            {
                state.ThrowIfFailed(_segmentPath);
                if (offset.Codec is not GenericOffsetCodec && !state.Codecs.Codecs.Contains(offset.Codec))
                {
                    state.Codecs = state.Codecs.With(offset.Codec);
                    state.Loaded = false; // re-read records that may have loaded as generic offsets
                }

                Load(lease, state);

                // Before every write: this process still owns this directory.
                lease.EnsureHeld(_logger);
                CheckFamily(state, offset);
                state.Records.TryGetValue(offset.SourceType, out existing);
                if (reason is null && ProgressGuard.Check(_segmentPath, existing, offset, committedEventCount) == ProgressGuard.Verdict.Repeat)
                {
                    CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, null);
                    return;
                }
            }
            catch (CheckpointException ex)
            {
                Log.SaveRefused(_logger, offset.SourceType, ex.Message);
                CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, ex.ErrorCode);
                throw;
            }

            var record = new CheckpointRecord(offset.SourceType, committedEventCount, offset)
            {
                FormatVersion = CheckpointRecordFile.CurrentVersion,
                Sequence = NextSequence(state),
                SavedAt = _timeProvider.GetUtcNow(),
            };
            var payload = CheckpointRecordFile.Serialize(record);
            if (payload.Length > _options.MaxRecordBytes)
            {
                var ex = new CheckpointException(
                    CheckpointErrorCode.RecordTooLarge,
                    string.Create(CultureInfo.InvariantCulture, $"Refusing to save a {offset.SourceType} checkpoint of {payload.Length} bytes in '{_segmentPath}': the limit is CheckpointLogOptions.MaxRecordBytes ({_options.MaxRecordBytes}). Nothing was written; raise the limit if such an offset is expected."))
                { Path = _segmentPath };
                Log.SaveRefused(_logger, offset.SourceType, ex.Message);
                CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, ex.ErrorCode);
                throw ex;
            }

            try
            {
                if (reason is not null)
                {
                    AuditLog.Append(DirectoryPath, FileCheckpoint.AuditLogFileName, AuditLog.FormatLine(_timeProvider, "rewind", offset.SourceType, existing, $"{offset} (count {committedEventCount})", reason));
                }

                if (!LibC.IsSupported || !state.Fresh || state.Tail + LogSegment.FrameLength(payload.Length) > state.SegmentLength)
                {
                    Compact(lease, state, record);
                }
                else
                {
                    Append(lease, state, record.Sequence, payload);
                }
            }
            catch (CheckpointException ex)
            {
                Log.SaveFailed(_logger, offset.SourceType, ex.Message);
                CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, ex.ErrorCode);
                throw;
            }

            state.Records[offset.SourceType] = record;
            state.MaxSequence = record.Sequence;
            CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, null);
            if (reason is null)
            {
                Log.CheckpointSaved(_logger, offset.SourceType, offset, committedEventCount, _segmentPath);
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

    /// <summary>Appends one frame at the tail and flushes it: the whole cost of a save.</summary>
    private void Append(OwnerLease lease, LogState state, ulong sequence, byte[] payload)
    {
        var frame = new byte[LogSegment.FrameLength(payload.Length)];
        LogSegment.WriteFrame(frame, sequence, payload);
        var fd = state.Fd >= 0 ? state.Fd : OpenSegment(lease, state);
        var errno = LibC.PwriteAll(fd, frame, state.Tail);
        if (errno != 0)
        {
            throw state.Fail(_segmentPath, string.Create(CultureInfo.InvariantCulture, $"writing the frame of sequence {sequence} at byte {state.Tail} failed: {LibC.Describe(errno)}"), errno == LibC.ENOSPC || errno == LibC.EDQUOT);
        }

        errno = LibC.Fdatasync(fd);
        if (errno != 0)
        {
            throw state.Fail(_segmentPath, string.Create(CultureInfo.InvariantCulture, $"fdatasync after the frame of sequence {sequence} failed: {LibC.Describe(errno)}"), diskFull: false);
        }

        state.Tail += frame.Length;
        lease.Remember(_segmentPath, FileCheckpoint.StatAfterWrite(_segmentPath));
    }

    /// <summary>Writes the live records and <paramref name="record"/> to a fresh segment through the durable replace.</summary>
    private void Compact(OwnerLease lease, LogState state, CheckpointRecord record)
    {
        var live = state.Records.Values.Where(r => !string.Equals(r.SourceType, record.SourceType, StringComparison.Ordinal)).Append(record);
        var (bytes, tail) = LogSegment.Build(state.SegmentId + 1, live, _options.SegmentBytes);
        state.CloseSegment();
        try
        {
            DurableFile.Replace(DirectoryPath, SegmentFileName, bytes);
        }
        catch (CheckpointException)
        {
            // The old segment may or may not have been replaced (a directory fsync can fail after the rename): read it
            // again next time, and start a fresh segment before appending anything.
            state.Loaded = false;
            state.Fresh = false;
            lease.Remember(_segmentPath, null);
            throw;
        }

        lease.Remember(_segmentPath, FileCheckpoint.StatAfterWrite(_segmentPath));
        state.SegmentId++;
        state.SegmentLength = bytes.Length;
        state.Tail = tail;
        state.Exists = true;
        state.Fresh = true;
        Log.LogSegmentWritten(_logger, _segmentPath, state.SegmentId, state.Records.Count + (state.Records.ContainsKey(record.SourceType) ? 0 : 1), bytes.Length);
    }

    /// <summary>Opens the segment this owner wrote, for appends: the same inode it remembers, a private regular file.</summary>
    private int OpenSegment(OwnerLease lease, LogState state)
    {
        _ = DurableFile.RefuseSharedDirectory(DirectoryPath, _segmentPath);
        var fd = LibC.OpenWriteNoFollow(_segmentPath);
        if (fd < 0)
        {
            throw SafeFile.Failure(-fd, _segmentPath, "open the segment for writing");
        }

        try
        {
            var errno = LibC.Fstat(fd, out var status);
            if (errno != 0)
            {
                throw SafeFile.Failure(errno, _segmentPath, "fstat");
            }

            SafeFile.Check(status, _segmentPath, SafeFile.Rules.All);
            CheckUnchanged(lease, status);
            if (status.Size != state.SegmentLength)
            {
                throw ModifiedExternally(string.Create(CultureInfo.InvariantCulture, $"it is {status.Size} bytes, not the {state.SegmentLength} this owner wrote"));
            }
        }
        catch
        {
            LibC.Close(fd);
            throw;
        }

        state.Fd = fd;
        return fd;
    }

    private void Load(OwnerLease lease, LogState state)
    {
        if (state.Loaded)
        {
            CheckUnchanged(lease, FileCheckpoint.StatNow(_segmentPath));
            return;
        }

        var bytes = SafeFile.ReadAll(_segmentPath, ReadLimit, SafeFile.Rules.All, out var status);
        if (bytes is not null)
        {
            CheckUnchanged(lease, status);
        }
        else if (state.Exists)
        {
            CheckUnchanged(lease, null);
        }

        if (bytes is null)
        {
            state.Records = new Dictionary<string, CheckpointRecord>(StringComparer.Ordinal);
            state.MaxSequence = 0;
            state.SegmentId = 0;
            state.Exists = false;
            state.Fresh = false;
        }
        else
        {
            var contents = LogSegment.Read(bytes, _segmentPath, state.Codecs, _options.MaxRecordBytes);
            if (contents.TornTail is { } torn)
            {
                Log.LogTornTailIgnored(_logger, _segmentPath, torn.Position, torn.Reason);
            }

            state.Records = contents.Latest;
            state.MaxSequence = contents.Frames.Count == 0 ? 0 : contents.Frames[^1].Record.Sequence;
            state.SegmentId = contents.SegmentId;
            state.SegmentLength = contents.Length;
            state.Tail = contents.Tail;
            state.Fresh &= contents.TornTail is null;
            state.Exists = true;
            lease.Remember(_segmentPath, status);
        }

        state.Loaded = true;
    }

    /// <summary>The most a segment can be: the largest configured segment, or twice the frames of a compaction.</summary>
    private long ReadLimit => Math.Max(CheckpointLogOptions.MaxSegmentBytes, _options.SegmentBytes);

    private void CheckUnchanged(OwnerLease lease, FileStatus? now)
    {
        var reason = LibC.IsSupported ? lease.ChangedBehindOurBack(_segmentPath, now, expectedToExist: true) : null;
        if (reason is not null)
        {
            throw ModifiedExternally(reason);
        }
    }

    private CheckpointException ModifiedExternally(string reason)
    {
        Log.ModifiedExternally(_logger, _segmentPath, reason);
        return new CheckpointException(
            CheckpointErrorCode.ModifiedExternally,
            $"Checkpoint log segment '{_segmentPath}' was changed by another writer since this process last read or wrote it ({reason}); it was neither used nor written. A process writes '{DirectoryPath}' without holding its lease: stop it, decide which state is right (cdc-checkpoint inspect), then restart this consumer.")
        { Path = _segmentPath };
    }

    private ulong NextSequence(LogState state) => state.MaxSequence < ulong.MaxValue
        ? state.MaxSequence + 1
        : throw new CheckpointException(
            CheckpointErrorCode.LimitReached,
            $"The checkpoint log '{_segmentPath}' has write sequence {state.MaxSequence}, the largest possible; sequences never wrap, so nothing was written. Re-seed the position into a fresh directory.")
        { Path = _segmentPath };

    private void CheckFamily(LogState state, CheckpointOffset offset)
    {
        foreach (var record in state.Records.Values)
        {
            if (!string.Equals(SourceTypeName.FamilyOf(record.SourceType), offset.SourceFamily, StringComparison.Ordinal))
            {
                throw new CheckpointException(
                    CheckpointErrorCode.MixedSourceFamilies,
                    $"Refusing to save a {offset.SourceType} checkpoint in '{DirectoryPath}': its log already holds a {record.SourceType} record. Use one directory per source family.")
                { Path = DirectoryPath };
            }
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

            FileCheckpoint.EnsureDirectory(DirectoryPath, _options.CreateDirectory);
            var lease = OwnerLease.Acquire(DirectoryPath, _logger, _timeProvider);
            try
            {
                lock (lease)
                {
                    if (lease.SharedState is null)
                    {
                        // A directory of record files is a FileCheckpoint's: a log there would start from nothing.
                        var records = SafeFile.ListEntries(DirectoryPath, CheckpointRecordFile.Prefix + "*" + CheckpointRecordFile.Suffix)
                            .Where(p => CheckpointRecordFile.SourceTypeOf(Path.GetFileName(p)) is not null)
                            .ToList();
                        if (records.Count > 0)
                        {
                            throw WrongKind($"it holds the record files of a FileCheckpoint ({string.Join(", ", records.Select(Path.GetFileName))})");
                        }

                        lease.SharedState = new LogState(_options.Codecs);
                    }
                    else if (lease.SharedState is not LogState)
                    {
                        throw WrongKind("this process uses it as a FileCheckpoint directory");
                    }

                    ((LogState)lease.SharedState).Users++;
                }
            }
            catch
            {
                lease.Release(_logger);
                throw;
            }

            _lease = lease;
            return lease;
        }
    }

    private CheckpointException WrongKind(string why) => new(
        CheckpointErrorCode.Misconfigured,
        $"'{DirectoryPath}' cannot hold a checkpoint log: {why}. A directory holds either a FileCheckpoint or a CheckpointLog; give the log a directory of its own (to move a position across, save it into the new log, or use `cdc-checkpoint seed`).")
    { Path = DirectoryPath };

    /// <summary>What the owner of a directory knows about its log; shared by every instance of the process on it.</summary>
    private sealed class LogState(OffsetCodecRegistry codecs)
    {
        public OffsetCodecRegistry Codecs { get; set; } = codecs;

        public Dictionary<string, CheckpointRecord> Records { get; set; } = new(StringComparer.Ordinal);

        public ulong MaxSequence { get; set; }

        public ulong SegmentId { get; set; }

        public int SegmentLength { get; set; }

        /// <summary>Where the next frame goes.</summary>
        public int Tail { get; set; }

        public bool Loaded { get; set; }

        public bool Exists { get; set; }

        /// <summary>The segment was written by this owner (appends go only into such a segment).</summary>
        public bool Fresh { get; set; }

        public int Fd { get; set; } = -1;

        public int Users { get; set; }

        private CheckpointException? _failure;

        public void ThrowIfFailed(string path)
        {
            if (_failure is not null)
            {
                throw new CheckpointException(
                    CheckpointErrorCode.WriteFailed,
                    $"The checkpoint log '{path}' failed earlier and writes nothing more: {_failure.Message}",
                    _failure)
                { Path = path };
            }
        }

        /// <summary>Fails the store for good (until every instance is disposed): a flush is never retried on the same file.</summary>
        public CheckpointException Fail(string path, string what, bool diskFull)
        {
            CloseSegment();
            _failure = new CheckpointException(
                CheckpointErrorCode.WriteFailed,
                $"Saving to the checkpoint log '{path}' failed: {what}. The save was not acknowledged and may or may not be on disk; this store writes nothing more. {(diskFull ? "Free disk space, then d" : "Check the disk (dmesg), then d")}ispose every CheckpointLog of the directory and open a new one: it recovers from what is on disk and starts a fresh segment.")
            { Path = path };
            return _failure;
        }

        public void CloseSegment()
        {
            if (Fd >= 0)
            {
                LibC.Close(Fd);
                Fd = -1;
            }
        }
    }
}
