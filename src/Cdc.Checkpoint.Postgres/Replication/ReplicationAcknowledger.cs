using System.Diagnostics;
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
/// more than the durable checkpoint. Inside a <see cref="PostgresReplicationSession"/>, the session drives the stream's
/// lifecycle and the idle advance (<see cref="ReplicationAcknowledgerOptions.IdleAdvanceInterval"/>,
/// <see cref="TryIdleAdvanceAsync"/>); the rules themselves are a pure state the acknowledger only locks.
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
    private readonly Lock _gate = new();
    private readonly AcknowledgementState _state; // guarded by _gate
    private readonly IReplicationFeedback _feedback;
    private readonly ICheckpointStore _store;
    private readonly PostgresOffset _identity;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;

    // Saves one at a time, so a later position never reaches the store before an earlier one; an idle advance holds it
    // from its decision to its acknowledgement, which is what a beginning transaction waits for.
    private readonly SemaphoreSlim _saveGate = new(1, 1);

    // Status updates one at a time: Npgsql fails an update that overlaps another or the end of the stream.
    private readonly SemaphoreSlim _sendGate = new(1, 1);
    private bool _disposed; // guarded by _gate

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
    /// <param name="timeProvider">Clock for checkpoint age and the source lag; the system clock when <see langword="null"/>.</param>
    public ReplicationAcknowledger(
        LogicalReplicationConnection connection,
        ICheckpointStore store,
        PostgresOffset checkpoint,
        ulong committedEventCount,
        ReplicationAcknowledgerOptions? options = null,
        ILoggerFactory? loggerFactory = null,
        TimeProvider? timeProvider = null)
        : this(new NpgsqlReplicationFeedback(connection ?? throw new ArgumentNullException(nameof(connection))), store, checkpoint, committedEventCount, options, loggerFactory, timeProvider, sessionOwned: false)
    {
    }

    internal ReplicationAcknowledger(
        IReplicationFeedback feedback,
        ICheckpointStore store,
        PostgresOffset checkpoint,
        ulong committedEventCount,
        ReplicationAcknowledgerOptions? options,
        ILoggerFactory? loggerFactory,
        TimeProvider? timeProvider,
        bool sessionOwned)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(checkpoint);
        if (!string.Equals(checkpoint.SourceType, PostgresOffset.StreamingSourceType, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The acknowledger streams '{PostgresOffset.StreamingSourceType}' offsets, not '{checkpoint.SourceType}'.", nameof(checkpoint));
        }

        options ??= new ReplicationAcknowledgerOptions();
        _feedback = feedback;
        _store = store;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<ReplicationAcknowledger>();
        _timeProvider = timeProvider ?? TimeProvider.System;
        _identity = checkpoint;
        var idleAdvanceMinimumBytes = (ulong)(options.IdleAdvanceMinimumBytes
            ?? (store is Store.PostgresCheckpointStore ? ReplicationAcknowledgerOptions.DefaultIdleAdvanceMinimumBytes : 0));
        _state = new AcknowledgementState(
            checkpoint.SlotName,
            new AcknowledgementState.Mark((ulong)checkpoint.Lsn, committedEventCount),
            options.AcknowledgeLag,
            idleAdvanceMinimumBytes,
            sessionOwned,
            _timeProvider.GetTimestamp());
        PostgresMetrics.Register(this);
    }

    /// <summary>The slot the acknowledger reports for.</summary>
    public string SlotName => _identity.SlotName;

    /// <summary>The latest position marked processed (possibly not durable yet).</summary>
    public CheckpointPosition Processed => ToPosition(Apply(static s => s.Processed));

    /// <summary>The latest durable position.</summary>
    public CheckpointPosition Durable => ToPosition(Apply(static s => s.Durable));

    /// <summary>The LSN last reported to the server as flushed and applied; 0 before the first report.</summary>
    public NpgsqlLogSequenceNumber Acknowledged => new(Apply(static s => s.Acknowledged));

    /// <summary>The server's WAL end as last seen (keepalives, message ends, or the WAL position at validation).</summary>
    public NpgsqlLogSequenceNumber ServerWalEnd => new(Apply(static (s, received) => s.ServerWalEnd(received), (ulong)_feedback.LastReceivedLsn));

    /// <summary>Bytes of WAL between the server's WAL end and the durable checkpoint (0 when caught up).</summary>
    /// <remarks>Thread-safe, no I/O. Also the <c>cdc.checkpoint.lag</c> gauge.</remarks>
    public long LagBytes => Apply(static (s, received) => s.LagBytes(received), (ulong)_feedback.LastReceivedLsn);

    /// <summary>Time since the last durable checkpoint (or since the acknowledger was created), on the injected clock.</summary>
    /// <remarks>Thread-safe, no I/O. Also the <c>cdc.checkpoint.age</c> gauge.</remarks>
    public TimeSpan CheckpointAge => _timeProvider.GetElapsedTime(Apply(static s => s.DurableAt));

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
        if (!_state.SessionOwned)
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
        AcknowledgementState.Mark position;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            position = _state.MarkProcessed((ulong)transactionEndLsn, eventCount);
        }

        return ToPosition(position);
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
                if (_state.PendingSave is not { } pending)
                {
                    return false;
                }

                position = ToPosition(pending);
            }

            await _store.SaveAsync(position.Offset, position.CommittedEventCount, cancellationToken).ConfigureAwait(false);
            Log.PositionCheckpointed(_logger, SlotName, position.Lsn, position.CommittedEventCount);
        }
        finally
        {
            _saveGate.Release();
        }

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
    public ValueTask MarkDurableAsync(CheckpointPosition position, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(position);
        var mark = new AcknowledgementState.Mark((ulong)position.Lsn, position.CommittedEventCount);
        var now = _timeProvider.GetTimestamp();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_state.MarkDurable(mark, now) is null)
            {
                return ValueTask.CompletedTask;
            }
        }

        return SendStatusAsync(cancellationToken);
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
        await _saveGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            AcknowledgementState.Mark mark;
            lock (_gate)
            {
                if (_disposed || _state.TryBeginIdleAdvance((ulong)_feedback.LastReceivedLsn) is not { } begun)
                {
                    return false;
                }

                mark = begun;
            }

            var position = ToPosition(mark);
            var saved = false;
            ulong? report = null;
            try
            {
                await _store.SaveAsync(position.Offset, position.CommittedEventCount, cancellationToken).ConfigureAwait(false);
                saved = true;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.IdleAdvanceFailed(_logger, SlotName, position.Lsn, ex);
                return false;
            }
            finally
            {
                var now = _timeProvider.GetTimestamp();
                lock (_gate)
                {
                    report = _state.EndIdleAdvance(saved, now);
                }
            }

            PostgresMetrics.RecordIdleAdvance(SlotName);
            Log.IdleAdvanced(_logger, SlotName, position.Lsn, position.CommittedEventCount);
            if (report is not null)
            {
                // Still under the save gate: a transaction that began meanwhile proceeds only after the acknowledgement.
                await SendStatusAsync(cancellationToken).ConfigureAwait(false);
            }

            return true;
        }
        finally
        {
            _saveGate.Release();
        }
    }

    /// <summary>Stops acknowledging and unregisters the metrics. Does not close the connection.</summary>
    /// <returns>A task that completes when the acknowledger is stopped.</returns>
    public ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return ValueTask.CompletedTask;
            }

            _disposed = true;
        }

        // The semaphores are not disposed: they hold no wait handle, and a save still in flight releases its gate.
        PostgresMetrics.Unregister(this);
        return ValueTask.CompletedTask;
    }

    /// <summary>Runs <paramref name="read"/> on the state under the lock.</summary>
    internal T Apply<T>(Func<AcknowledgementState, T> read)
    {
        lock (_gate)
        {
            return read(_state);
        }
    }

    /// <summary>Runs <paramref name="change"/> on the state under the lock, without a closure.</summary>
    internal T Apply<TArg, T>(Func<AcknowledgementState, TArg, T> change, TArg argument)
    {
        lock (_gate)
        {
            return change(_state, argument);
        }
    }

    /// <summary>Runs <paramref name="change"/> on the state under the lock.</summary>
    internal void Apply(Action<AcknowledgementState> change)
    {
        lock (_gate)
        {
            change(_state);
        }
    }

    /// <summary>Runs <paramref name="change"/> on the state under the lock, without a closure.</summary>
    internal void Apply<TArg>(Action<AcknowledgementState, TArg> change, TArg argument)
    {
        lock (_gate)
        {
            change(_state, argument);
        }
    }

    internal PostgresReplicationStatus GetStatus(Validation.PostgresResumeVerdict? verdict)
    {
        var received = (ulong)_feedback.LastReceivedLsn;
        lock (_gate)
        {
            return new PostgresReplicationStatus
            {
                SlotName = SlotName,
                Verdict = verdict,
                Streaming = _state.Streaming,
                Processed = ToPosition(_state.Processed),
                Durable = ToPosition(_state.Durable),
                Acknowledged = new NpgsqlLogSequenceNumber(_state.Acknowledged),
                ServerWalEnd = new NpgsqlLogSequenceNumber(_state.ServerWalEnd(received)),
                LagBytes = _state.LagBytes(received),
                CheckpointAge = _timeProvider.GetElapsedTime(_state.DurableAt),
                LastCommitTimestamp = _state.LastCommitTimestamp,
                SourceLag = _state.SourceLag,
            };
        }
    }

    /// <summary>Waits until no idle advance is being saved (a beginning transaction must not overtake one).</summary>
    internal async ValueTask WaitForIdleAdvanceAsync(CancellationToken cancellationToken)
    {
        await _saveGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        _saveGate.Release();
    }

    /// <summary>Waits until no status update is being sent (Npgsql fails one still in flight when replication stops).</summary>
    internal async ValueTask WaitForSendsAsync()
    {
        await _sendGate.WaitAsync().ConfigureAwait(false);
        _sendGate.Release();
    }

    // The time behind the source: the local clock at receipt minus the server's commit timestamp (clamped at 0, since
    // the two clocks may disagree by a little).
    internal void RecordCommitTimestamp(DateTime commitTimestamp)
    {
        var committed = new DateTimeOffset(DateTime.SpecifyKind(commitTimestamp, DateTimeKind.Utc));
        var now = _timeProvider.GetUtcNow();
        TimeSpan lag;
        lock (_gate)
        {
            lag = _state.RecordCommitTimestamp(committed, now);
        }

        PostgresMetrics.RecordSourceLag(SlotName, lag);
    }

    /// <summary>
    /// Sets the state's acknowledged LSN as the connection's replication status and sends a status update if the state
    /// allows one now. The status is set under the lock, so concurrent calls never set an older LSN after a newer one.
    /// </summary>
    internal async ValueTask SendStatusAsync(CancellationToken cancellationToken)
    {
        NpgsqlLogSequenceNumber lsn;
        NpgsqlLogSequenceNumber durable;
        lock (_gate)
        {
            lsn = new NpgsqlLogSequenceNumber(_state.Acknowledged);
            durable = new NpgsqlLogSequenceNumber(_state.Durable.Lsn);
            _feedback.SetReplicationStatus(lsn);
        }

        using var activity = PostgresActivitySource.Source.StartActivity("cdc.checkpoint.acknowledge", ActivityKind.Client);
        activity?.SetTag("cdc.source_type", PostgresOffset.StreamingSourceType);
        activity?.SetTag("cdc.slot", SlotName);
        activity?.SetTag("cdc.lsn", PostgresOffset.FormatLsn(lsn));
        await _sendGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var send = Apply(static (s, received) => s.DecideSend(received), (ulong)_feedback.LastReceivedLsn);
            if (send != AcknowledgementState.Send.Now)
            {
                // Held: the stream has ended or is not confirmed yet; the status goes with the next stream's first update.
                // Deferred: Npgsql's replication stream is only ready for a status update once it has received something
                // from the server (it creates its feedback timers after CopyBothResponse, and an update sent before that
                // dereferences them and leaves its feedback lock taken, which stalls the stream at the next keepalive).
                // The server sends a keepalive as soon as decoding has caught up; the status goes with Npgsql's first update.
                if (send == AcknowledgementState.Send.Deferred)
                {
                    Log.AcknowledgeDeferred(_logger, SlotName, lsn);
                }

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
            Apply(static s => s.FeedbackBroken());
            PostgresActivitySource.SetError(activity, ex.GetType().FullName!, ex.Message);
            Log.AcknowledgeFailed(_logger, SlotName, lsn, ex);
        }
        catch (Exception ex) when (ex is NpgsqlException or IOException)
        {
            PostgresActivitySource.SetError(activity, ex.GetType().FullName!, ex.Message);
            Log.AcknowledgeFailed(_logger, SlotName, lsn, ex);
        }
        finally
        {
            _sendGate.Release();
        }
    }

    private CheckpointPosition ToPosition(AcknowledgementState.Mark mark) =>
        new(mark.Lsn == (ulong)_identity.Lsn ? _identity : _identity.WithLsn(new NpgsqlLogSequenceNumber(mark.Lsn)), mark.Count);
}
