using System.Diagnostics;
using System.Runtime.CompilerServices;
using CheckpointActivitySource = Cdc.Checkpoint.Diagnostics.CheckpointActivitySource;
using Cdc.Checkpoint.Postgres.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Postgres.Replication;

/// <summary>
/// Tells the server what a logical replication consumer has durably checkpointed, and nothing more: the LSNs it
/// reports through <c>SetReplicationStatus</c> and a status update are always durable checkpoints, never ahead of the
/// checkpoint and never backwards.
/// </summary>
/// <remarks>
/// <para>
/// The consumer calls <see cref="MarkProcessed(CommitMessage, ulong)"/> at each commit boundary (no I/O). That returns
/// the <see cref="CheckpointPosition"/> to checkpoint. Then either <see cref="CheckpointAsync"/> saves the latest
/// processed position through the <see cref="ICheckpointStore"/> and acknowledges it, or the consumer saves the
/// position itself — for example in the same database transaction as its sink rows — and reports it with
/// <see cref="MarkDurableAsync"/>. Only then is the LSN sent to the server (optionally
/// <see cref="ReplicationAcknowledgerOptions.AcknowledgeLag"/> checkpoints later).
/// </para>
/// <para>
/// Keepalives that request a reply are answered by Npgsql itself with the status set here, so they too never carry
/// more than the durable checkpoint. Inside a <see cref="PostgresReplicationSession"/>, the acknowledger also performs
/// the idle advance (<see cref="ReplicationAcknowledgerOptions.IdleAdvanceInterval"/>, <see cref="TryIdleAdvanceAsync"/>).
/// </para>
/// <para>
/// The committed event count of a position grows by the transaction's event count, and by 1 for a transaction without
/// events and for an idle advance: the progress guards of every store require a new position to come with a higher
/// count.
/// </para>
/// <para>Thread-safe: the idle advance runs on a timer while the consumer marks and saves positions.</para>
/// </remarks>
public sealed class ReplicationAcknowledger : IAsyncDisposable
{
    private readonly IReplicationFeedback _feedback;
    private readonly ICheckpointStore _store;
    private readonly ReplicationAcknowledgerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly PostgresOffset _identity;
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _saveGate = new(1, 1);
    private readonly SemaphoreSlim _sendGate = new(1, 1);
    private readonly Queue<NpgsqlLogSequenceNumber> _durableHistory = new();
    private readonly CancellationTokenSource _disposing = new();
    private CheckpointPosition _processed;
    private CheckpointPosition _durable;
    private NpgsqlLogSequenceNumber _received;
    private NpgsqlLogSequenceNumber _acknowledged;
    private NpgsqlLogSequenceNumber _serverWalHint;
    private long _durableAtTimestamp;
    private DateTimeOffset? _lastCommitTimestamp;
    private TimeSpan? _sourceLag;
    private bool _tracking;
    private bool _streamingConfirmed;
    private bool _sessionManaged;
    private bool _inTransaction;
    private bool _feedbackUnusable;
    private TaskCompletionSource? _idleAdvance;
    private ITimer? _idleTimer;
    private int _idleTimerBusy;
    private bool _disposed;

    /// <summary>Creates an acknowledger for a replication connection, starting from a durable checkpoint.</summary>
    /// <param name="connection">The replication connection the consumer streams on.</param>
    /// <param name="store">The store <see cref="CheckpointAsync"/> and the idle advance save positions to.</param>
    /// <param name="checkpoint">
    /// The durable checkpoint the stream starts at; new positions are built from it (same slot, system identifier,
    /// timeline and database) with <see cref="PostgresOffset.WithLsn"/>.
    /// </param>
    /// <param name="committedEventCount">The committed event count stored with <paramref name="checkpoint"/>.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <param name="loggerFactory">Logger factory; no logging when <see langword="null"/>.</param>
    /// <param name="timeProvider">Clock for checkpoint age and the idle-advance timer; the system clock when <see langword="null"/>.</param>
    public ReplicationAcknowledger(
        LogicalReplicationConnection connection,
        ICheckpointStore store,
        PostgresOffset checkpoint,
        ulong committedEventCount,
        ReplicationAcknowledgerOptions? options = null,
        ILoggerFactory? loggerFactory = null,
        TimeProvider? timeProvider = null)
        : this(new NpgsqlReplicationFeedback(connection ?? throw new ArgumentNullException(nameof(connection))), store, checkpoint, committedEventCount, options, loggerFactory, timeProvider)
    {
    }

    internal ReplicationAcknowledger(
        IReplicationFeedback feedback,
        ICheckpointStore store,
        PostgresOffset checkpoint,
        ulong committedEventCount,
        ReplicationAcknowledgerOptions? options,
        ILoggerFactory? loggerFactory,
        TimeProvider? timeProvider)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(checkpoint);
        if (!string.Equals(checkpoint.SourceType, PostgresOffset.StreamingSourceType, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The acknowledger streams '{PostgresOffset.StreamingSourceType}' offsets, not '{checkpoint.SourceType}'.", nameof(checkpoint));
        }

        _feedback = feedback;
        _store = store;
        _options = options ?? new ReplicationAcknowledgerOptions();
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<ReplicationAcknowledger>();
        _timeProvider = timeProvider ?? TimeProvider.System;
        _identity = checkpoint;
        _processed = _durable = new CheckpointPosition(checkpoint, committedEventCount);
        _received = checkpoint.Lsn;
        _durableAtTimestamp = _timeProvider.GetTimestamp();
        _durableHistory.Enqueue(checkpoint.Lsn);
        PostgresMetrics.Register(this);
    }

    /// <summary>The slot the acknowledger reports for.</summary>
    public string SlotName => _identity.SlotName;

    /// <summary>The latest position marked processed (possibly not durable yet).</summary>
    public CheckpointPosition Processed
    {
        get
        {
            lock (_gate)
            {
                return _processed;
            }
        }
    }

    /// <summary>The latest durable position.</summary>
    public CheckpointPosition Durable
    {
        get
        {
            lock (_gate)
            {
                return _durable;
            }
        }
    }

    /// <summary>The LSN last reported to the server as flushed and applied; 0 before the first report.</summary>
    public NpgsqlLogSequenceNumber Acknowledged
    {
        get
        {
            lock (_gate)
            {
                return _acknowledged;
            }
        }
    }

    /// <summary>The server's WAL end as last seen (keepalives, message ends, or the WAL position at validation).</summary>
    public NpgsqlLogSequenceNumber ServerWalEnd
    {
        get
        {
            var received = _feedback.LastReceivedLsn;
            lock (_gate)
            {
                return received > _serverWalHint ? received : _serverWalHint;
            }
        }
    }

    /// <summary>Bytes of WAL between the server's WAL end and the durable checkpoint (0 when caught up).</summary>
    /// <remarks>Thread-safe, no I/O. Also the <c>cdc.checkpoint.lag</c> gauge.</remarks>
    public long LagBytes
    {
        get
        {
            var end = (ulong)ServerWalEnd;
            var durable = (ulong)Durable.Lsn;
            return end > durable ? (long)Math.Min(end - durable, long.MaxValue) : 0;
        }
    }

    /// <summary>Time since the last durable checkpoint (or since the acknowledger was created), on the injected clock.</summary>
    /// <remarks>Thread-safe, no I/O. Also the <c>cdc.checkpoint.age</c> gauge.</remarks>
    public TimeSpan CheckpointAge
    {
        get
        {
            long at;
            lock (_gate)
            {
                at = _durableAtTimestamp;
            }

            return _timeProvider.GetElapsedTime(at);
        }
    }

    /// <summary>Takes a consistent snapshot of the positions, lag and age (no I/O).</summary>
    /// <returns>The status; <see cref="PostgresReplicationStatus.Verdict"/> is <see langword="null"/> (a session adds it).</returns>
    /// <remarks>Thread-safe; callable after disposal (it then shows the last state).</remarks>
    public PostgresReplicationStatus GetStatus() => GetStatus(verdict: null);

    /// <summary>Marks a transaction processed: its changes are applied (not necessarily durably).</summary>
    /// <param name="commit">The transaction's commit message.</param>
    /// <param name="eventCount">How many changes of the transaction the consumer applied.</param>
    /// <returns>The position to checkpoint.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The commit is not after the last processed position, or (in a session) was not received.</exception>
    public CheckpointPosition MarkProcessed(CommitMessage commit, ulong eventCount)
    {
        ArgumentNullException.ThrowIfNull(commit);
        var position = MarkProcessed(commit.TransactionEndLsn, eventCount);
        bool tracking;
        lock (_gate)
        {
            tracking = _tracking;
        }

        if (!tracking)
        {
            // Inside a session the stream records the commit timestamp as the commit arrives.
            RecordCommitTimestamp(commit.TransactionCommitTimestamp);
        }

        return position;
    }

    /// <summary>Marks the transaction that ends at <paramref name="transactionEndLsn"/> processed (no I/O).</summary>
    /// <param name="transactionEndLsn">The transaction's end LSN (<see cref="CommitMessage.TransactionEndLsn"/>).</param>
    /// <param name="eventCount">How many changes of the transaction the consumer applied.</param>
    /// <returns>The position to checkpoint: <paramref name="transactionEndLsn"/> and the grown event count.</returns>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <paramref name="transactionEndLsn"/> is not after the last processed position (never backwards), or, in a
    /// session, is past the last commit received (never ahead).
    /// </exception>
    public CheckpointPosition MarkProcessed(NpgsqlLogSequenceNumber transactionEndLsn, ulong eventCount)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (transactionEndLsn <= _processed.Lsn)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(transactionEndLsn),
                    $"Transaction end {PostgresOffset.FormatLsn(transactionEndLsn)} is not after the last processed position {PostgresOffset.FormatLsn(_processed.Lsn)} on slot {SlotName}: mark each commit once, in stream order.");
            }

            if (_tracking && transactionEndLsn > _received)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(transactionEndLsn),
                    $"Transaction end {PostgresOffset.FormatLsn(transactionEndLsn)} is past the last commit received on slot {SlotName} ({PostgresOffset.FormatLsn(_received)}): only received commits can be processed.");
            }

            _processed = new CheckpointPosition(_identity.WithLsn(transactionEndLsn), checked(_processed.CommittedEventCount + Math.Max(eventCount, 1)));
            return _processed;
        }
    }

    /// <summary>
    /// Saves the latest processed position through the store (if it is not durable yet), then acknowledges it.
    /// </summary>
    /// <param name="cancellationToken">Cancels the save before it is written.</param>
    /// <returns><see langword="true"/> when a position was saved; <see langword="false"/> when everything processed was already durable.</returns>
    /// <exception cref="CheckpointException">The store refused or failed the save; nothing is acknowledged.</exception>
    public async ValueTask<bool> CheckpointAsync(CancellationToken cancellationToken = default)
    {
        CheckpointPosition position;
        await _saveGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                position = _processed;
                if (position.Lsn <= _durable.Lsn)
                {
                    return false;
                }
            }

            await _store.SaveAsync(position.Offset, position.CommittedEventCount, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _saveGate.Release();
        }

        Log.PositionCheckpointed(_logger, SlotName, position.Lsn, position.CommittedEventCount);
        await MarkDurableAsync(position, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Reports that <paramref name="position"/> is durably checkpointed (the caller saved it, for example in its sink's
    /// transaction, and that transaction committed), and acknowledges it to the server subject to
    /// <see cref="ReplicationAcknowledgerOptions.AcknowledgeLag"/>.
    /// </summary>
    /// <param name="position">A position returned by <see cref="MarkProcessed(NpgsqlLogSequenceNumber, ulong)"/>.</param>
    /// <param name="cancellationToken">Cancels sending the status update (the status is still set and goes with the next update).</param>
    /// <returns>A task that completes when the status update is sent (not when the server has applied it).</returns>
    /// <exception cref="ArgumentException"><paramref name="position"/> was never marked processed: acknowledging it would be ahead.</exception>
    public async ValueTask MarkDurableAsync(CheckpointPosition position, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(position);
        NpgsqlLogSequenceNumber? target = null;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (position.Lsn <= _durable.Lsn)
            {
                return;
            }

            if (position.Lsn > _processed.Lsn)
            {
                throw new ArgumentException(
                    $"Position {position} is past the last processed position {_processed} on slot {SlotName}: mark a transaction processed before reporting its checkpoint durable.",
                    nameof(position));
            }

            _durable = position;
            _durableAtTimestamp = _timeProvider.GetTimestamp();
            _durableHistory.Enqueue(position.Lsn);
            while (_durableHistory.Count > _options.AcknowledgeLag + 1)
            {
                _durableHistory.Dequeue();
            }

            if (_durableHistory.Count == _options.AcknowledgeLag + 1)
            {
                target = _durableHistory.Peek();
            }
        }

        if (target is { } lsn)
        {
            await AcknowledgeAsync(lsn, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Performs one idle advance if the conditions hold: the stream is confirmed (inside a session), no transaction is
    /// in flight, every received commit is processed and durable, and the server's last reported WAL end is more than
    /// <see cref="ReplicationAcknowledgerOptions.IdleAdvanceMinimumBytes"/> past the durable checkpoint. The WAL end is
    /// then saved through the store (event count + 1) and acknowledged.
    /// </summary>
    /// <param name="cancellationToken">Cancels the save.</param>
    /// <returns><see langword="true"/> when the checkpoint advanced.</returns>
    /// <remarks>
    /// Safe because the server decodes WAL in order: every transaction that commits before the WAL end of a keepalive
    /// was sent before that keepalive, so when none is in flight none is skipped. A transaction that begins while the
    /// advance is being saved is held back until the save has finished.
    /// </remarks>
    public async ValueTask<bool> TryIdleAdvanceAsync(CancellationToken cancellationToken = default)
    {
        CheckpointPosition position;
        TaskCompletionSource idle;
        lock (_gate)
        {
            if (_disposed || !_streamingConfirmed || _inTransaction || _idleAdvance is not null
                || _received > _processed.Lsn || _processed.Lsn != _durable.Lsn)
            {
                return false;
            }

            // Not past the WAL of our own last save (and what the server adds after a write): the consumer is at rest.
            var walEnd = _feedback.LastReceivedLsn;
            if (walEnd <= _durable.Lsn || (ulong)walEnd - (ulong)_durable.Lsn < (ulong)_options.IdleAdvanceMinimumBytes)
            {
                return false;
            }

            position = new CheckpointPosition(_identity.WithLsn(walEnd), checked(_processed.CommittedEventCount + 1));
            _processed = position;
            _idleAdvance = idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        var saved = false;
        try
        {
            try
            {
                await _saveGate.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    await _store.SaveAsync(position.Offset, position.CommittedEventCount, cancellationToken).ConfigureAwait(false);
                    saved = true;
                }
                finally
                {
                    _saveGate.Release();
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.IdleAdvanceFailed(_logger, SlotName, position.Lsn, ex);
                return false;
            }

            PostgresMetrics.RecordIdleAdvance(SlotName);
            Log.IdleAdvanced(_logger, SlotName, position.Lsn, position.CommittedEventCount);
            await MarkDurableAsync(position, cancellationToken).ConfigureAwait(false);
            return true;
        }
        finally
        {
            lock (_gate)
            {
                if (!saved && ReferenceEquals(_processed, position))
                {
                    // The count stays reserved: a save that failed after its commit may still have stored it.
                    _processed = new CheckpointPosition(_durable.Offset, position.CommittedEventCount);
                }

                _idleAdvance = null;
            }

            // A transaction that began meanwhile proceeds only now, after the advance is durable and acknowledged.
            idle.TrySetResult();
        }
    }

    /// <summary>Stops the idle advance, waits for one in progress, and unregisters the metrics. Does not close the connection.</summary>
    /// <returns>A task that completes when the acknowledger is stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        Task? idle;
        ITimer? timer;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            idle = _idleAdvance?.Task;
            timer = _idleTimer;
            _idleTimer = null;
        }

        await _disposing.CancelAsync().ConfigureAwait(false);
        if (timer is not null)
        {
            await timer.DisposeAsync().ConfigureAwait(false);
        }

        if (idle is not null)
        {
            await idle.ConfigureAwait(false);
        }

        PostgresMetrics.Unregister(this);
        _disposing.Dispose();
        _saveGate.Dispose();
        _sendGate.Dispose();
    }

    internal PostgresReplicationStatus GetStatus(Validation.ResumeVerdict? verdict)
    {
        var received = _feedback.LastReceivedLsn;
        lock (_gate)
        {
            var walEnd = received > _serverWalHint ? received : _serverWalHint;
            var durable = (ulong)_durable.Lsn;
            return new PostgresReplicationStatus
            {
                SlotName = SlotName,
                Verdict = verdict,
                Streaming = _streamingConfirmed,
                Processed = _processed,
                Durable = _durable,
                Acknowledged = _acknowledged,
                ServerWalEnd = walEnd,
                LagBytes = (ulong)walEnd > durable ? (long)Math.Min((ulong)walEnd - durable, long.MaxValue) : 0,
                CheckpointAge = _timeProvider.GetElapsedTime(_durableAtTimestamp),
                LastCommitTimestamp = _lastCommitTimestamp,
                SourceLag = _sourceLag,
            };
        }
    }

    /// <summary>Records the server's WAL position from the validation, for the lag gauge before the first keepalive.</summary>
    internal void SetServerWalHint(NpgsqlLogSequenceNumber walPosition)
    {
        lock (_gate)
        {
            if (walPosition > _serverWalHint)
            {
                _serverWalHint = walPosition;
            }
        }
    }

    /// <summary>
    /// Called by the session once the slot is confirmed held by this stream: acknowledges the durable checkpoint and
    /// starts the idle-advance timer.
    /// </summary>
    internal async ValueTask OnStreamingConfirmedAsync(CancellationToken cancellationToken)
    {
        NpgsqlLogSequenceNumber? target;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _streamingConfirmed = true;
            _sessionManaged = true;
            target = _durableHistory.Count == _options.AcknowledgeLag + 1 ? _durableHistory.Peek() : null;
            if (_options.IdleAdvanceInterval != Timeout.InfiniteTimeSpan && _idleTimer is null)
            {
                _idleTimer = _timeProvider.CreateTimer(_ => OnIdleTimer(), null, _options.IdleAdvanceInterval, _options.IdleAdvanceInterval);
            }
        }

        if (target is { } lsn)
        {
            await AcknowledgeAsync(lsn, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Called by the session when the stream ends: no idle advance and no status update without a stream. Waits for a
    /// status update being sent, because Npgsql fails one that is still in flight when replication stops.
    /// </summary>
    internal async ValueTask OnStreamingStoppedAsync()
    {
        lock (_gate)
        {
            _streamingConfirmed = false;
        }

        await _sendGate.WaitAsync().ConfigureAwait(false);
        _sendGate.Release();
    }

    /// <summary>
    /// Wraps a session's message stream: skips transactions the start position already covers, and tracks whether a
    /// transaction is in flight so the idle advance never overtakes one.
    /// </summary>
    internal async IAsyncEnumerable<PgOutputReplicationMessage> TrackAsync(
        IAsyncEnumerable<PgOutputReplicationMessage> messages,
        NpgsqlLogSequenceNumber startLsn,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            _tracking = true;
        }

        var skipping = false;
        await foreach (var message in messages.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            switch (message)
            {
                case BeginMessage begin when begin.TransactionFinalLsn < startLsn:
                    // The server skips these itself when asked to start at the checkpoint; this guards against a
                    // start position that was clamped lower, so a transaction is never applied twice.
                    skipping = true;
                    Log.TransactionSkipped(_logger, SlotName, begin.TransactionFinalLsn, startLsn);
                    continue;
                case BeginMessage:
                    await OnBeginAsync(cancellationToken).ConfigureAwait(false);
                    break;
                case CommitMessage when skipping:
                    skipping = false;
                    continue;
                case CommitMessage commit:
                    OnCommit(commit.TransactionEndLsn, commit.TransactionCommitTimestamp);
                    break;
                default:
                    if (skipping)
                    {
                        continue;
                    }

                    break;
            }

            yield return message;
        }
    }

    internal async ValueTask OnBeginAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task idle;
            lock (_gate)
            {
                if (_idleAdvance is null)
                {
                    _inTransaction = true;
                    return;
                }

                idle = _idleAdvance.Task;
            }

            await idle.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    internal void OnCommit(NpgsqlLogSequenceNumber transactionEndLsn, DateTime? commitTimestamp = null)
    {
        lock (_gate)
        {
            _inTransaction = false;
            if (transactionEndLsn > _received)
            {
                _received = transactionEndLsn;
            }
        }

        if (commitTimestamp is { } committed)
        {
            RecordCommitTimestamp(committed);
        }
    }

    // The time behind the source: the local clock at receipt minus the server's commit timestamp (clamped at 0, since
    // the two clocks may disagree by a little).
    private void RecordCommitTimestamp(DateTime commitTimestamp)
    {
        var committed = new DateTimeOffset(DateTime.SpecifyKind(commitTimestamp, DateTimeKind.Utc));
        var lag = _timeProvider.GetUtcNow() - committed;
        if (lag < TimeSpan.Zero)
        {
            lag = TimeSpan.Zero;
        }

        lock (_gate)
        {
            _lastCommitTimestamp = committed;
            _sourceLag = lag;
        }

        PostgresMetrics.RecordSourceLag(SlotName, lag);
    }

    private void OnIdleTimer()
    {
        if (Interlocked.Exchange(ref _idleTimerBusy, 1) != 0)
        {
            return;
        }

        _ = RunAsync();

        async Task RunAsync()
        {
            try
            {
                await TryIdleAdvanceAsync(_disposing.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Disposed while saving.
            }
            catch (ObjectDisposedException)
            {
                // Disposed between the tick and the save.
            }
            catch (Exception ex) when (ex is NpgsqlException or IOException or InvalidOperationException)
            {
                Log.IdleAdvanceFailed(_logger, SlotName, Durable.Lsn, ex);
            }
            finally
            {
                Volatile.Write(ref _idleTimerBusy, 0);
            }
        }
    }

    private async ValueTask AcknowledgeAsync(NpgsqlLogSequenceNumber lsn, CancellationToken cancellationToken)
    {
        NpgsqlLogSequenceNumber durable;
        lock (_gate)
        {
            if (lsn <= _acknowledged)
            {
                return;
            }

            // Set under the lock, so two concurrent acknowledgements cannot reach the connection in the wrong order.
            _acknowledged = lsn;
            durable = _durable.Lsn;
            _feedback.SetReplicationStatus(lsn);
        }

        using var activity = CheckpointActivitySource.Source.StartActivity("cdc.checkpoint.acknowledge", ActivityKind.Client);
        activity?.SetTag("cdc.source_type", PostgresOffset.StreamingSourceType);
        activity?.SetTag("cdc.slot", SlotName);
        activity?.SetTag("cdc.lsn", PostgresOffset.FormatLsn(lsn));
        await _sendGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            lock (_gate)
            {
                if ((_sessionManaged && !_streamingConfirmed) || _feedbackUnusable)
                {
                    activity?.SetTag("cdc.acknowledge.sent", false);
                    return; // The stream has ended; the status goes with the next stream's first update.
                }
            }

            // Npgsql's replication stream is only ready for a status update once it has received something from the
            // server (it creates its feedback timers after CopyBothResponse, and a status update sent before that
            // dereferences them and leaves its feedback lock taken, which stalls the stream at the next keepalive).
            // The server sends a keepalive as soon as decoding has caught up; until then the status is set and goes
            // with Npgsql's first update.
            if (_feedback.LastReceivedLsn == default)
            {
                Log.AcknowledgeDeferred(_logger, SlotName, lsn);
                activity?.SetTag("cdc.acknowledge.sent", false);
                return;
            }

            await _feedback.SendStatusUpdateAsync(cancellationToken).ConfigureAwait(false);
            activity?.SetTag("cdc.acknowledge.sent", true);
            Log.Acknowledged(_logger, SlotName, lsn, durable);
        }
        catch (InvalidOperationException)
        {
            // Not streaming (yet, or any more): the status is set and goes with the next status update.
        }
        catch (NullReferenceException ex)
        {
            // Npgsql 10 throws this from SendStatusUpdate when its stream ends while the update is being sent (the
            // stream's cleanup clears the feedback timers the update re-arms), and then never releases its feedback
            // lock: any further update would wait forever, so none is sent on this connection again.
            lock (_gate)
            {
                _feedbackUnusable = true;
            }

            CheckpointActivitySource.SetError(activity, ex.GetType().FullName!, ex.Message);
            Log.AcknowledgeFailed(_logger, SlotName, lsn, ex);
        }
        catch (Exception ex) when (ex is NpgsqlException or IOException)
        {
            CheckpointActivitySource.SetError(activity, ex.GetType().FullName!, ex.Message);
            Log.AcknowledgeFailed(_logger, SlotName, lsn, ex);
        }
        finally
        {
            _sendGate.Release();
        }
    }
}
