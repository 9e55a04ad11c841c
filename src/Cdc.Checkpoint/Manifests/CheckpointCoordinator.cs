using System.Buffers;
using System.Collections.Immutable;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Offsets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cdc.Checkpoint.Manifests;

/// <summary>
/// Collects the progress of many sources (typed offsets), sinks (epochs, commit statuses), tables, operators and a
/// watermark, and commits it as one manifest through an <see cref="IManifestStore"/>, with group commit: every
/// <see cref="CommitAsync"/> that arrives while a write is in flight joins the next single durable write.
/// </summary>
/// <remarks>
/// <para>
/// Reporting (<see cref="ReportOffset"/> and friends) is cheap: no I/O, a short lock. A report is refused with a
/// <see cref="CheckpointException"/> when it would move a source backwards or sideways (see <see cref="ProgressGuard"/>);
/// <see cref="RewindSource"/> is the one way back. <see cref="CommitAsync"/> completes once a manifest holding every
/// report made before the call is durable; all requests served by one write see its result or its error.
/// </para>
/// <para>
/// Checkpoint ids and epochs only grow: the coordinator takes one number per write attempt, above every id in the
/// store (valid, corrupt or orphaned) and every epoch it recovered, and uses it as both id and epoch.
/// </para>
/// <para>Thread-safe: any number of threads may report and commit concurrently.</para>
/// </remarks>
public sealed class CheckpointCoordinator : IAsyncDisposable
{
    private readonly IManifestStore _store;
    private readonly CheckpointCoordinatorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();

    // Everything below is guarded by _gate.
    private readonly Dictionary<string, SourcePosition> _sources = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ulong> _sinkEpochs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SinkCommitStatus> _sinkStatuses = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TableOffset> _tables = new(StringComparer.Ordinal);
    private readonly Dictionary<string, byte[]> _operatorStates = new(StringComparer.Ordinal);
    private long? _watermark;
    private long _version;
    private long _durableVersion;
    private CheckpointManifest? _lastCommitted;
    private ulong _nextNumber;
    private Batch? _nextBatch;
    private Task _writer = Task.CompletedTask;
    private bool _writerRunning;
    private bool _disposed;

    private CheckpointCoordinator(IManifestStore store, CheckpointCoordinatorOptions options, TimeProvider time, ILogger logger)
    {
        _store = store;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>
    /// Starts a coordinator over <paramref name="store"/>, restoring every source, sink, table, operator state and the
    /// watermark from the newest valid checkpoint (<see cref="IManifestStore.RecoverLatestValidAsync"/>).
    /// </summary>
    /// <param name="store">The manifest store.</param>
    /// <param name="options">Options, or <see langword="null"/> for the defaults.</param>
    /// <param name="timeProvider">The clock for manifest timestamps; <see cref="TimeProvider.System"/> by default.</param>
    /// <param name="loggerFactory">Logger factory, or <see langword="null"/> for none.</param>
    /// <param name="cancellationToken">Cancels the recovery.</param>
    /// <returns>The coordinator.</returns>
    /// <exception cref="CheckpointException">
    /// Checkpoints exist but none is valid, or restoring the operator state failed: the coordinator does not start
    /// from scratch on its own.
    /// </exception>
    public static async ValueTask<CheckpointCoordinator> StartAsync(
        IManifestStore store,
        CheckpointCoordinatorOptions? options = null,
        TimeProvider? timeProvider = null,
        ILoggerFactory? loggerFactory = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var coordinator = new CheckpointCoordinator(
            store,
            options ?? new CheckpointCoordinatorOptions(),
            timeProvider ?? TimeProvider.System,
            (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<CheckpointCoordinator>());

        var recovery = await store.RecoverLatestValidAsync(cancellationToken).ConfigureAwait(false);
        if (recovery is null)
        {
            coordinator._nextNumber = 1;
            Log.CoordinatorFreshStart(coordinator._logger);
            return coordinator;
        }

        var manifest = recovery.Manifest;
        var states = await store.LoadOperatorStatesAsync(manifest, cancellationToken).ConfigureAwait(false);
        coordinator.Restore(manifest, states, recovery);
        return coordinator;
    }

    private void Restore(CheckpointManifest manifest, ImmutableSortedDictionary<string, ReadOnlyMemory<byte>> states, ManifestRecovery recovery)
    {
        foreach (var (name, position) in manifest.SourceOffsets)
        {
            _sources[name] = position;
        }

        foreach (var (name, epoch) in manifest.SinkEpochs)
        {
            _sinkEpochs[name] = epoch;
        }

        foreach (var (name, status) in manifest.SinkCommitStatuses)
        {
            _sinkStatuses[name] = status;
        }

        foreach (var (name, offset) in manifest.TableOffsets)
        {
            _tables[name] = offset;
        }

        foreach (var (name, state) in states)
        {
            _operatorStates[name] = state.ToArray();
        }

        _watermark = manifest.Watermark;
        _lastCommitted = manifest;
        RestoredFrom = manifest;
        SkippedOnStart = recovery.Skipped;
        // 0 marks the numbers as exhausted: the next checkpoint is refused instead of wrapping to an id already used.
        var highest = Math.Max(recovery.HighestCheckpointId, manifest.Epoch);
        _nextNumber = highest == ulong.MaxValue ? 0 : highest + 1;
        Log.CoordinatorRestored(_logger, _sources.Count, manifest.CheckpointId, manifest.Epoch, recovery.Skipped.Length, _nextNumber);
    }

    /// <summary>The checkpoint the coordinator restored from, or <see langword="null"/> after a fresh start.</summary>
    public CheckpointManifest? RestoredFrom { get; private set; }

    /// <summary>Checkpoints newer than <see cref="RestoredFrom"/> that recovery skipped as invalid, with reasons.</summary>
    public ImmutableArray<SkippedCheckpoint> SkippedOnStart { get; private set; } = [];

    /// <summary>The last durable manifest (the restored one until the first commit), or <see langword="null"/>.</summary>
    public CheckpointManifest? LastCommitted
    {
        get
        {
            lock (_gate)
            {
                return _lastCommitted;
            }
        }
    }

    /// <summary>
    /// Records the position of <paramref name="source"/> for the next commit. No I/O.
    /// </summary>
    /// <param name="source">The source name (a manifest key, not a path).</param>
    /// <param name="offset">Its offset: everything up to it has been processed.</param>
    /// <param name="committedEventCount">
    /// The source's committed event count, or <see langword="null"/> to keep the current count. With a count the full
    /// <see cref="ProgressGuard"/> rules apply; without one, an ordered offset must not be behind or diverged from the
    /// current one (unordered offsets such as <see cref="GenericOffset"/> are then not guarded). Use counts consistently
    /// for a source or not at all.
    /// </param>
    /// <returns><see langword="true"/> when the position changed; <see langword="false"/> when it repeats the current one.</returns>
    /// <exception cref="ArgumentException"><paramref name="source"/> is not a valid name.</exception>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.OffsetRegression"/>, <see cref="CheckpointErrorCode.ConflictingOffset"/> or
    /// <see cref="CheckpointErrorCode.OffsetDiverged"/>: the report is refused and the current position kept.
    /// </exception>
    /// <exception cref="ObjectDisposedException">The coordinator was disposed.</exception>
    public bool ReportOffset(string source, CheckpointOffset offset, ulong? committedEventCount = null)
    {
        ManifestNames.Validate(source, "source", nameof(source));
        ArgumentNullException.ThrowIfNull(offset);
        CheckpointException? refusal;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_sources.TryGetValue(source, out var current))
            {
                _sources[source] = new SourcePosition(offset, committedEventCount ?? 0);
                _version++;
                return true;
            }

            try
            {
                if (committedEventCount is { } count)
                {
                    var existing = new CheckpointRecord(current.Offset.SourceType, current.CommittedEventCount, current.Offset);
                    if (ProgressGuard.Check($"coordinator source '{source}'", existing, offset, count) == ProgressGuard.Verdict.Repeat)
                    {
                        return false;
                    }

                    _sources[source] = new SourcePosition(offset, count);
                }
                else
                {
                    CheckOrder($"source '{source}'", current.Offset, offset);
                    if (offset.Equals(current.Offset))
                    {
                        return false;
                    }

                    _sources[source] = new SourcePosition(offset, current.CommittedEventCount);
                }

                _version++;
                return true;
            }
            catch (CheckpointException ex)
            {
                refusal = ex;
            }
        }

        Log.OffsetReportRefused(_logger, source, refusal.Message);
        throw refusal;
    }

    /// <summary>
    /// Moves <paramref name="source"/> to <paramref name="offset"/> without the progress guards, for example back to
    /// replay events: the one way back. Logged with <paramref name="reason"/>; durable at the next commit.
    /// </summary>
    /// <param name="source">The source name.</param>
    /// <param name="offset">The new offset.</param>
    /// <param name="committedEventCount">The new event count.</param>
    /// <param name="reason">Why; required, logged verbatim.</param>
    /// <exception cref="ArgumentException">A bad name or an empty reason.</exception>
    /// <exception cref="ObjectDisposedException">The coordinator was disposed.</exception>
    public void RewindSource(string source, CheckpointOffset offset, ulong committedEventCount, string reason)
    {
        ManifestNames.Validate(source, "source", nameof(source));
        ArgumentNullException.ThrowIfNull(offset);
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        string previous;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            previous = _sources.TryGetValue(source, out var current) ? current.Offset.ToString() : "(none)";
            _sources[source] = new SourcePosition(offset, committedEventCount);
            _version++;
        }

        Log.SourceRewound(_logger, source, previous, offset.ToString(), committedEventCount, reason);
    }

    /// <summary>Records the epoch <paramref name="sink"/> is at. Epochs never go back. No I/O.</summary>
    /// <param name="sink">The sink name.</param>
    /// <param name="epoch">The epoch.</param>
    /// <returns><see langword="true"/> when the epoch changed.</returns>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.OffsetRegression"/> when lower than the current epoch.</exception>
    /// <exception cref="ObjectDisposedException">The coordinator was disposed.</exception>
    public bool ReportSinkEpoch(string sink, ulong epoch)
    {
        ManifestNames.Validate(sink, "sink", nameof(sink));
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_sinkEpochs.TryGetValue(sink, out var current))
            {
                if (epoch < current)
                {
                    throw new CheckpointException(
                        CheckpointErrorCode.OffsetRegression,
                        $"Refusing sink epoch {epoch} for sink '{sink}': it is behind the current epoch {current}; sink epochs never go back. Nothing was changed.");
                }

                if (epoch == current)
                {
                    return false;
                }
            }

            _sinkEpochs[sink] = epoch;
            _version++;
            return true;
        }
    }

    /// <summary>Records the latest commit status of <paramref name="sink"/>, carried in every following manifest. No I/O.</summary>
    /// <param name="sink">The sink name.</param>
    /// <param name="status">The status.</param>
    /// <exception cref="ObjectDisposedException">The coordinator was disposed.</exception>
    public void ReportSinkStatus(string sink, SinkCommitStatus status)
    {
        ManifestNames.Validate(sink, "sink", nameof(sink));
        ArgumentNullException.ThrowIfNull(status);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_sinkStatuses.TryGetValue(sink, out var current) || current != status)
            {
                _sinkStatuses[sink] = status;
                _version++;
            }
        }
    }

    /// <summary>Records the position of a table. Typed ordered positions must not go back; text positions are not guarded. No I/O.</summary>
    /// <param name="table">The table name.</param>
    /// <param name="position">The position.</param>
    /// <exception cref="CheckpointException">A typed position behind or diverged from the current one.</exception>
    /// <exception cref="ObjectDisposedException">The coordinator was disposed.</exception>
    public void ReportTableOffset(string table, TableOffset position)
    {
        ManifestNames.Validate(table, "table", nameof(table));
        ArgumentNullException.ThrowIfNull(position);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_tables.TryGetValue(table, out var current))
            {
                if (current.Offset is { } before && position.Offset is { } after)
                {
                    CheckOrder($"table '{table}'", before, after);
                }

                if (current.Equals(position))
                {
                    return;
                }
            }

            _tables[table] = position;
            _version++;
        }
    }

    /// <summary>Records the state of an operator (copied). No I/O.</summary>
    /// <param name="name">The operator name.</param>
    /// <param name="state">The state bytes.</param>
    /// <exception cref="ObjectDisposedException">The coordinator was disposed.</exception>
    public void SetOperatorState(string name, ReadOnlySpan<byte> state)
    {
        ManifestNames.Validate(name, "operator", nameof(name));
        var copy = state.ToArray();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _operatorStates[name] = copy;
            _version++;
        }
    }

    /// <summary>The current state of an operator: restored on start or set since.</summary>
    /// <param name="name">The operator name.</param>
    /// <param name="state">The state, when there is one.</param>
    /// <returns><see langword="true"/> when the operator has state.</returns>
    public bool TryGetOperatorState(string name, out ReadOnlyMemory<byte> state)
    {
        ArgumentNullException.ThrowIfNull(name);
        lock (_gate)
        {
            var found = _operatorStates.TryGetValue(name, out var bytes);
            state = bytes;
            return found;
        }
    }

    /// <summary>The current position of a source: restored on start or reported since (committed or not).</summary>
    /// <param name="source">The source name.</param>
    /// <returns>The position, or <see langword="null"/> when the source is unknown.</returns>
    public SourcePosition? GetSourcePosition(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        lock (_gate)
        {
            return _sources.GetValueOrDefault(source);
        }
    }

    /// <summary>Records the event-time watermark; a lower value than the current one is ignored (watermarks only advance). No I/O.</summary>
    /// <param name="watermark">The watermark.</param>
    /// <returns><see langword="true"/> when the watermark advanced.</returns>
    /// <exception cref="ObjectDisposedException">The coordinator was disposed.</exception>
    public bool ReportWatermark(long watermark)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_watermark is { } current && watermark <= current)
            {
                return false;
            }

            _watermark = watermark;
            _version++;
            return true;
        }
    }

    /// <summary>
    /// Requests a durable checkpoint of everything reported so far. Requests made while a write is in flight are
    /// served together by the next single write; when nothing changed since the last durable manifest, that manifest
    /// is returned without writing.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting; the write itself still happens for the other requests.</param>
    /// <returns>A durable manifest that holds every report made before this call.</returns>
    /// <exception cref="CheckpointException">The write failed; every request served by that write sees the same error. The next commit retries under a new id.</exception>
    /// <exception cref="ObjectDisposedException">The coordinator was disposed.</exception>
    public ValueTask<CheckpointManifest> CommitAsync(CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<CheckpointManifest>(cancellationToken);
        }

        Batch batch;
        lock (_gate)
        {
            if (_disposed)
            {
                return ValueTask.FromException<CheckpointManifest>(new ObjectDisposedException(GetType().FullName));
            }

            batch = _nextBatch ??= new Batch();
            batch.Requests++;
            if (batch.Target > 0 && batch.Requests >= batch.Target)
            {
                batch.Filled.TrySetResult();
            }

            if (!_writerRunning)
            {
                _writerRunning = true;
                _writer = Task.Run(WriteLoopAsync, CancellationToken.None);
            }
        }

        ManifestMetrics.CommitRequests.Add(1);
        var task = batch.Completion.Task;
        return new ValueTask<CheckpointManifest>(cancellationToken.CanBeCanceled ? task.WaitAsync(cancellationToken) : task);
    }

    private async Task WriteLoopAsync()
    {
        var previousRequests = 0;
        while (true)
        {
            Batch batch;
            Snapshot? snapshot = null;
            CheckpointManifest? unchanged = null;
            CheckpointException? exhausted = null;
            Task? filled = null;
            lock (_gate)
            {
                if (_nextBatch is null)
                {
                    _writerRunning = false;
                    return;
                }

                if (_options.MaxCommitDelay > TimeSpan.Zero && previousRequests > 1)
                {
                    // Wait for everyone the previous write just released, on top of those who queued during it.
                    _nextBatch.Target = _nextBatch.Requests + previousRequests;
                    filled = _nextBatch.Filled.Task;
                }
            }

            if (filled is not null)
            {
                // The requesters just served are about to come back; let them join this write (bounded wait).
                await filled.WaitAsync(_options.MaxCommitDelay, _time).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            lock (_gate)
            {

                batch = _nextBatch!;
                _nextBatch = null;
                previousRequests = batch.Requests;
                if (_lastCommitted is not null && _version == _durableVersion)
                {
                    unchanged = _lastCommitted;
                }
                else if (_nextNumber == 0)
                {
                    exhausted = NumbersExhausted();
                }
                else
                {
                    snapshot = TakeSnapshotLocked();
                }
            }

            if (exhausted is not null)
            {
                batch.Completion.TrySetException(exhausted);
                continue;
            }

            if (unchanged is not null)
            {
                ManifestMetrics.BatchSize.Record(batch.Requests);
                batch.Completion.TrySetResult(unchanged);
                continue;
            }

            try
            {
                var (manifest, sidecar) = Build(snapshot!);
                var saved = await _store.SaveAsync(manifest, sidecar, CancellationToken.None).ConfigureAwait(false);
                lock (_gate)
                {
                    if (_lastCommitted is null || saved.CheckpointId > _lastCommitted.CheckpointId)
                    {
                        _lastCommitted = saved;
                        _durableVersion = snapshot!.Version;
                    }
                }

                ManifestMetrics.BatchSize.Record(batch.Requests);
                Log.GroupCommitWritten(_logger, saved.CheckpointId, batch.Requests);
                batch.Completion.TrySetResult(saved);
            }
            catch (Exception ex)
            {
                // Every request of this batch learns that its commit failed; nothing is swallowed.
                Log.GroupCommitFailed(_logger, snapshot!.Number, batch.Requests, ex.Message);
                batch.Completion.TrySetException(ex);
            }
        }
    }

    private static CheckpointException NumbersExhausted() => new(
        CheckpointErrorCode.LimitReached,
        "Checkpoint ids and epochs are exhausted (the last one was 18446744073709551615); they never wrap, so nothing was written. Start a new manifest store.");

    private Snapshot TakeSnapshotLocked()
    {
        // Ids are never reused, even after a failed attempt: a failed save may have left its manifest on disk.
        var number = _nextNumber;
        _nextNumber = number == ulong.MaxValue ? 0 : number + 1;
        return new Snapshot(
            number,
            _version,
            _time.GetUtcNow(),
            _sources.ToImmutableSortedDictionary(StringComparer.Ordinal),
            _sinkEpochs.ToImmutableSortedDictionary(StringComparer.Ordinal),
            _sinkStatuses.ToImmutableSortedDictionary(StringComparer.Ordinal),
            _tables.ToImmutableSortedDictionary(StringComparer.Ordinal),
            _operatorStates.ToImmutableSortedDictionary(StringComparer.Ordinal),
            _watermark);
    }

    private (CheckpointManifest Manifest, ReadOnlyMemory<byte> Sidecar) Build(Snapshot snapshot)
    {
        // Operator state arrays are never changed after SetOperatorState copied them, so they are shared, not copied.
        var states = ImmutableSortedDictionary.CreateBuilder<string, OperatorState>(StringComparer.Ordinal);
        ArrayBufferWriter<byte>? sidecar = null;
        foreach (var (name, bytes) in snapshot.OperatorStates)
        {
            if (bytes.Length <= _options.InlineStateLimitBytes || bytes.Length == 0)
            {
                states[name] = OperatorState.FromOwned(bytes);
            }
            else
            {
                sidecar ??= new ArrayBufferWriter<byte>(bytes.Length);
                states[name] = OperatorState.InSidecar(sidecar.WrittenCount, bytes.Length);
                sidecar.Write(bytes);
            }
        }

        var manifest = new CheckpointManifest
        {
            CheckpointId = snapshot.Number,
            Epoch = snapshot.Number,
            CreatedAt = snapshot.CreatedAt,
            SourceOffsets = snapshot.Sources,
            SinkEpochs = snapshot.SinkEpochs,
            SinkCommitStatuses = snapshot.SinkStatuses,
            TableOffsets = snapshot.Tables,
            OperatorStates = states.ToImmutable(),
            Watermark = snapshot.Watermark,
        };
        return (manifest, sidecar?.WrittenMemory ?? default);
    }

    /// <summary>
    /// Throws unless moving from <paramref name="current"/> to <paramref name="proposed"/> is progress (or a repeat):
    /// same source type and kind, and for ordered offsets not <see cref="OffsetOrder.Before"/> or
    /// <see cref="OffsetOrder.Diverged"/>.
    /// </summary>
    private static void CheckOrder(string what, CheckpointOffset current, CheckpointOffset proposed)
    {
        const string Hint = "Nothing was changed. If moving back is intended, use RewindSource with a reason.";
        if (!string.Equals(current.SourceType, proposed.SourceType, StringComparison.Ordinal)
            || current.IsOrdered != proposed.IsOrdered
            || current.GetType() != proposed.GetType())
        {
            throw new CheckpointException(
                CheckpointErrorCode.OffsetDiverged,
                $"Refusing offset {proposed} for {what}: the current offset {current} is of another source type or kind. {Hint}");
        }

        if (!current.IsOrdered)
        {
            return;
        }

        switch (proposed.CompareTo(current))
        {
            case OffsetOrder.Before:
                throw new CheckpointException(
                    CheckpointErrorCode.OffsetRegression,
                    $"Refusing offset {proposed} for {what}: it is behind the current offset {current}. {Hint}");
            case OffsetOrder.Diverged:
                throw new CheckpointException(
                    CheckpointErrorCode.OffsetDiverged,
                    $"Refusing offset {proposed} for {what}: it is not comparable with the current offset {current} (another slot, server or history). {Hint}");
        }
    }

    /// <summary>
    /// Stops accepting reports and commit requests, and waits for the write in flight (and requests already queued)
    /// to finish. Reports not committed by then are not written: call <see cref="CommitAsync"/> first.
    /// </summary>
    /// <returns>A task that completes when no write is in flight.</returns>
    public async ValueTask DisposeAsync()
    {
        Task writer;
        lock (_gate)
        {
            _disposed = true;
            writer = _writer;
        }

        await writer.ConfigureAwait(false);
    }

    private sealed class Batch
    {
        public TaskCompletionSource<CheckpointManifest> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Requests { get; set; }

        /// <summary>When positive, <see cref="Filled"/> completes once <see cref="Requests"/> reaches it.</summary>
        public int Target { get; set; }

        public TaskCompletionSource Filled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed record Snapshot(
        ulong Number,
        long Version,
        DateTimeOffset CreatedAt,
        ImmutableSortedDictionary<string, SourcePosition> Sources,
        ImmutableSortedDictionary<string, ulong> SinkEpochs,
        ImmutableSortedDictionary<string, SinkCommitStatus> SinkStatuses,
        ImmutableSortedDictionary<string, TableOffset> Tables,
        ImmutableSortedDictionary<string, byte[]> OperatorStates,
        long? Watermark);
}
