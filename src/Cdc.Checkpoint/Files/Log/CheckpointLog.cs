using System.Diagnostics;
using System.Globalization;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.Offsets;
using Microsoft.Extensions.Logging;

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
// This file holds the store's API, the save and the directory's claim; CheckpointLog.Segment.cs reads, appends to and
// compacts the segment file.
public sealed partial class CheckpointLog : ICheckpointStore, IDisposable, IAsyncDisposable
{
    /// <summary>The name of the segment file in a checkpoint log directory.</summary>
    public const string SegmentFileName = "checkpoint_log.seg";

    /// <summary>The segment format version this release writes.</summary>
    public const int CurrentFormatVersion = LogSegment.CurrentVersion;

    private const string StoreTag = "log";

    /// <summary>How the segment is named in a <see cref="CheckpointErrorCode.ModifiedExternally"/> refusal.</summary>
    private const string SegmentWhat = "Checkpoint log segment";

    private readonly CheckpointLogOptions _options;
    private readonly OwnedDirectory _directory;
    private readonly string _segmentPath;

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
        _options = options ?? new CheckpointLogOptions();
        _options.Validate();
        _directory = OwnedDirectory.For(this, directory, _options.CreateDirectory, StoreTag, Claim, loggerFactory, timeProvider);
        _segmentPath = Path.Combine(DirectoryPath, SegmentFileName);
    }

    /// <summary>The full path of the checkpoint directory.</summary>
    public string DirectoryPath => _directory.Path;

    /// <summary>The owner lease this instance holds, or <see langword="null"/> before the first operation.</summary>
    public LeaseInfo? Lease => _directory.Lease;

    /// <summary>Takes the owner lease now instead of at the first operation.</summary>
    /// <param name="cancellationToken">Cancels before the lease is taken.</param>
    /// <returns>The lease.</returns>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.LeaseHeld"/> when another live process owns the directory.</exception>
    public ValueTask<LeaseInfo> AcquireLeaseAsync(CancellationToken cancellationToken = default) => _directory.AcquireLeaseAsync(cancellationToken);

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
            Log.CheckpointLoaded(_directory.Logger, record.SourceType, record.Offset, record.CommittedEventCount, _segmentPath);
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
    public void Dispose() => _directory.Dispose(static lease =>
    {
        if (lease.SharedState is LogState state)
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
    });

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    private async ValueTask<Dictionary<string, CheckpointRecord>> ReadRecordsAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var lease = _directory.EnsureLease();
        await lease.WriteGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = (LogState)lease.SharedState!;
            state.ThrowIfFailed(_segmentPath);
            Load(lease, state);
            if (state.Fd >= 0)
            {
                // The segment is open for appends: nobody wrote after its last frame (a frame there would be read on
                // recovery), nor over it.
                RefuseIfRewritten(state, LogSegment.Alignment);
            }

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
        var lease = _directory.EnsureLease();
        await lease.WriteGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = (LogState)lease.SharedState!;
            CheckpointRecord? existing;
            FileStatus directoryNow;
            try
            {
                state.ThrowIfFailed(_segmentPath);
                if (offset.Codec is not GenericOffsetCodec && !state.Codecs.Codecs.Contains(offset.Codec))
                {
                    state.Codecs = state.Codecs.With(offset.Codec);
                    state.Loaded = false; // re-read records that may have loaded as generic offsets
                }

                var wasLoaded = state.Loaded;
                Load(lease, state, checkSegment: false);

                // Before every write: this process still owns this directory, and the segment is the one it last read
                // or wrote — looked up through the directory descriptor the lease holds, once EnsureHeld has proved that
                // the directory at the path is that one (as FileCheckpoint looks up its record).
                directoryNow = lease.EnsureHeld(_directory.Logger);
                if (wasLoaded)
                {
                    CheckUnchanged(lease, lease.StatEntry(_directory.Logger, SegmentFileName, withTimes: state.Fd < 0));
                }

                _directory.RefuseMixedFamily(state.Records.Values, offset);
                state.Records.TryGetValue(offset.SourceType, out existing);
                if (reason is null && ProgressGuard.Check(_segmentPath, existing, offset, committedEventCount) == ProgressGuard.Verdict.Repeat)
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
                FormatVersion = CheckpointRecordFile.CurrentVersion,
                Sequence = _directory.NextSequence(state.MaxSequence, _segmentPath),
                SavedAt = _directory.TimeProvider.GetUtcNow(),
            };
            var payload = CheckpointRecordFile.Serialize(record, state.Writer);
            if (payload.Length > _options.MaxRecordBytes)
            {
                var ex = new CheckpointException(
                    CheckpointErrorCode.RecordTooLarge,
                    string.Create(CultureInfo.InvariantCulture, $"Refusing to save a {offset.SourceType} checkpoint of {payload.Length} bytes in '{_segmentPath}': the limit is CheckpointLogOptions.MaxRecordBytes ({_options.MaxRecordBytes}). Nothing was written; raise the limit if such an offset is expected."))
                { Path = _segmentPath };
                _directory.SaveRefused(offset.SourceType, started, ex);
                throw ex;
            }

            // An append goes only into a segment this owner wrote, with room for the frame; anything else is a compaction.
            var frameLength = LogSegment.FrameLength(payload.Length);
            var append = LibC.IsSupported && state.Fresh && state.Tail + frameLength <= state.SegmentLength;
            if (append)
            {
                try
                {
                    // Before anything is written (the audit line included): the segment is the file this owner wrote,
                    // and nobody wrote where its frames end.
                    if (state.Fd < 0)
                    {
                        OpenSegment(lease, state, directoryNow);
                    }

                    RefuseIfRewritten(state, frameLength + LogSegment.Alignment);
                }
                catch (CheckpointException ex)
                {
                    _directory.SaveRefused(offset.SourceType, started, ex);
                    throw;
                }
            }

            try
            {
                if (reason is not null)
                {
                    _directory.Audit("rewind", offset.SourceType, existing, $"{offset} (count {committedEventCount})", reason);
                }

                if (append)
                {
                    Append(state, record.Sequence, payload);
                }
                else
                {
                    Compact(lease, state, directoryNow, record);
                }
            }
            catch (CheckpointException ex)
            {
                _directory.SaveFailed(offset.SourceType, started, ex);
                throw;
            }

            state.Records[offset.SourceType] = record;
            state.MaxSequence = record.Sequence;
            _directory.Saved(offset, committedEventCount, _segmentPath, started, reason, existing);
        }
        finally
        {
            lease.WriteGate.Release();
        }
    }

    /// <summary>Claims a freshly leased directory for the log: never a FileCheckpoint's, shared by every log instance of the process.</summary>
    private void Claim(OwnerLease lease)
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

    private CheckpointException WrongKind(string why) => _directory.WrongKind(
        "checkpoint log",
        why,
        "A directory holds either a FileCheckpoint or a CheckpointLog; give the log a directory of its own (to move a position across, save it into the new log, or use `cdc-checkpoint seed`).");
}
