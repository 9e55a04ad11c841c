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
    // The jobs are done by internal parts: CoordinatorProgress (what was reported, with its guards) and GroupCommit (the
    // batched durable writes and the checkpoint numbers); this class starts them from the store's newest valid checkpoint.
    private readonly CoordinatorProgress _progress;
    private readonly GroupCommit _commit;
    private readonly ILogger _logger;

    private CheckpointCoordinator(CoordinatorProgress progress, GroupCommit commit, ILogger logger, ManifestRecovery? recovery)
    {
        _progress = progress;
        _commit = commit;
        _logger = logger;
        RestoredFrom = recovery?.Manifest;
        SkippedOnStart = recovery?.Skipped ?? [];
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
        options ??= new CheckpointCoordinatorOptions();
        var time = timeProvider ?? TimeProvider.System;
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<CheckpointCoordinator>();
        var progress = new CoordinatorProgress();
        var recovery = await store.RecoverLatestValidAsync(cancellationToken).ConfigureAwait(false);
        if (recovery is null)
        {
            Log.CoordinatorFreshStart(logger);
            return new CheckpointCoordinator(progress, new GroupCommit(store, progress, options, time, logger, lastCommitted: null, nextNumber: 1), logger, null);
        }

        var manifest = recovery.Manifest;
        var states = await store.LoadOperatorStatesAsync(manifest, cancellationToken).ConfigureAwait(false);
        progress.Restore(manifest, states);

        // Ids and epochs only grow: above every id in the store (valid, corrupt or orphaned) and every epoch recovered. 0
        // marks the numbers as exhausted: the next checkpoint is refused instead of wrapping to an id already used.
        var highest = Math.Max(recovery.HighestCheckpointId, manifest.Epoch);
        var next = highest == ulong.MaxValue ? 0 : highest + 1;
        Log.CoordinatorRestored(logger, progress.SourceCount, manifest.CheckpointId, manifest.Epoch, recovery.Skipped.Length, next);
        return new CheckpointCoordinator(progress, new GroupCommit(store, progress, options, time, logger, manifest, next), logger, recovery);
    }

    /// <summary>The checkpoint the coordinator restored from, or <see langword="null"/> after a fresh start.</summary>
    public CheckpointManifest? RestoredFrom { get; }

    /// <summary>Checkpoints newer than <see cref="RestoredFrom"/> that recovery skipped as invalid, with reasons.</summary>
    public ImmutableArray<SkippedCheckpoint> SkippedOnStart { get; }

    /// <summary>The last durable manifest (the restored one until the first commit), or <see langword="null"/>.</summary>
    public CheckpointManifest? LastCommitted => _commit.LastCommitted;

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
        var changed = _progress.ReportOffset(source, offset, committedEventCount, out var refusal);
        if (refusal is not null)
        {
            Log.OffsetReportRefused(_logger, source, refusal.Message);
            throw refusal;
        }

        return changed;
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
        var previous = _progress.RewindSource(source, offset, committedEventCount);

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
        return _progress.ReportSinkEpoch(sink, epoch);
    }

    /// <summary>Records the latest commit status of <paramref name="sink"/>, carried in every following manifest. No I/O.</summary>
    /// <param name="sink">The sink name.</param>
    /// <param name="status">The status.</param>
    /// <exception cref="ObjectDisposedException">The coordinator was disposed.</exception>
    public void ReportSinkStatus(string sink, SinkCommitStatus status)
    {
        ManifestNames.Validate(sink, "sink", nameof(sink));
        ArgumentNullException.ThrowIfNull(status);
        _progress.ReportSinkStatus(sink, status);
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
        _progress.ReportTableOffset(table, position);
    }

    /// <summary>Records the state of an operator (copied). No I/O.</summary>
    /// <param name="name">The operator name.</param>
    /// <param name="state">The state bytes.</param>
    /// <exception cref="ObjectDisposedException">The coordinator was disposed.</exception>
    public void SetOperatorState(string name, ReadOnlySpan<byte> state)
    {
        ManifestNames.Validate(name, "operator", nameof(name));
        _progress.SetOperatorState(name, state.ToArray());
    }

    /// <summary>The current state of an operator: restored on start or set since.</summary>
    /// <param name="name">The operator name.</param>
    /// <param name="state">The state, when there is one.</param>
    /// <returns><see langword="true"/> when the operator has state.</returns>
    public bool TryGetOperatorState(string name, out ReadOnlyMemory<byte> state)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _progress.TryGetOperatorState(name, out state);
    }

    /// <summary>The current position of a source: restored on start or reported since (committed or not).</summary>
    /// <param name="source">The source name.</param>
    /// <returns>The position, or <see langword="null"/> when the source is unknown.</returns>
    public SourcePosition? GetSourcePosition(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return _progress.GetSourcePosition(source);
    }

    /// <summary>Records the event-time watermark; a lower value than the current one is ignored (watermarks only advance). No I/O.</summary>
    /// <param name="watermark">The watermark.</param>
    /// <returns><see langword="true"/> when the watermark advanced.</returns>
    /// <exception cref="ObjectDisposedException">The coordinator was disposed.</exception>
    public bool ReportWatermark(long watermark) => _progress.ReportWatermark(watermark);

    /// <summary>
    /// Requests a durable checkpoint of everything reported so far. Requests made while a write is in flight are
    /// served together by the next single write; when nothing changed since the last durable manifest, that manifest
    /// is returned without writing.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting; the write itself still happens for the other requests.</param>
    /// <returns>A durable manifest that holds every report made before this call.</returns>
    /// <exception cref="CheckpointException">The write failed; every request served by that write sees the same error. The next commit retries under a new id.</exception>
    /// <exception cref="ObjectDisposedException">The coordinator was disposed.</exception>
    public ValueTask<CheckpointManifest> CommitAsync(CancellationToken cancellationToken = default) => _commit.CommitAsync(cancellationToken);

    /// <summary>
    /// Stops accepting reports and commit requests, and waits for the write in flight (and requests already queued)
    /// to finish. Reports not committed by then are not written: call <see cref="CommitAsync"/> first.
    /// </summary>
    /// <returns>A task that completes when no write is in flight.</returns>
    public ValueTask DisposeAsync()
    {
        _progress.Close();
        return _commit.DisposeAsync();
    }
}
