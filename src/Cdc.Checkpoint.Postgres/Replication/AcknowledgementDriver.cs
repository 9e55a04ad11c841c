using System.Diagnostics;
using Cdc.Checkpoint.Postgres.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Postgres.Replication;

// The lock discipline of the acknowledgement, the one for the whole replication folder (the session's timers add no
// lock: each runs one piece of work at a time and calls in here). This file is over 400 lines on purpose: it holds
// every lock of the acknowledgement and every piece of I/O that takes one, so the discipline can be checked in one read.
// - _gate (Lock) guards _state and _disposed. It is held only for calls on the pure state and for
//   SetReplicationStatus (so statuses reach the connection in the order the state produced them): never across an
//   await, a store save or a network call.
// - _saveGate (SemaphoreSlim) lets one store save run at a time, so a later position never reaches the store before an
//   earlier one. An idle advance holds it from its decision to its acknowledgement; a transaction that begins
//   meanwhile waits on it (BeginTransactionAsync).
// - _sendGate (SemaphoreSlim) lets one status update run at a time: Npgsql fails an update that overlaps another one or
//   the end of its stream. The session waits on it before it ends the stream (WaitForSendsAsync).
// Order: _saveGate, then _sendGate, then _gate; never the other way round.

/// <summary>
/// The I/O around <see cref="AcknowledgementState"/>: the store saves (a checkpoint, an idle advance) and the standby
/// status updates (after an acknowledgement, and when the state says one is due). A <see cref="PostgresReplicationSession"/>
/// drives it from the stream and its timers; <see cref="ReplicationAcknowledger"/> is the public face of the same
/// instance, and of one without a session for consumers who run the stream themselves.
/// </summary>
/// <remarks>Thread-safe (see the lock discipline at the top of this file).</remarks>
internal sealed class AcknowledgementDriver : IDisposable
{
    private readonly Lock _gate = new();
    private readonly AcknowledgementState _state; // guarded by _gate
    private readonly IReplicationFeedback _feedback;
    private readonly ICheckpointStore _store;
    private readonly PostgresOffset _identity;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly SemaphoreSlim _saveGate = new(1, 1);
    private readonly SemaphoreSlim _sendGate = new(1, 1);
    private bool _disposed; // guarded by _gate

    /// <summary>Creates the driver of a stream that starts at a durable checkpoint.</summary>
    /// <param name="feedback">The connection's status updates.</param>
    /// <param name="store">The store checkpoints and idle advances are saved to.</param>
    /// <param name="checkpoint">The durable checkpoint the stream starts at; new positions are built from it.</param>
    /// <param name="committedEventCount">The committed event count stored with <paramref name="checkpoint"/>.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <param name="loggerFactory">Logger factory; no logging when <see langword="null"/>.</param>
    /// <param name="timeProvider">Clock; the system clock when <see langword="null"/>.</param>
    /// <param name="sessionStatusInterval">
    /// The status interval of a session, which owns the stream and sends status updates on its own timer
    /// (<see cref="SendDueStatusAsync"/>); <see langword="null"/> when the caller runs the stream (Npgsql's own timer
    /// then sends the periodic updates).
    /// </param>
    public AcknowledgementDriver(
        IReplicationFeedback feedback,
        ICheckpointStore store,
        PostgresOffset checkpoint,
        ulong committedEventCount,
        ReplicationAcknowledgerOptions? options,
        ILoggerFactory? loggerFactory,
        TimeProvider? timeProvider,
        TimeSpan? sessionStatusInterval)
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
            sessionOwned: sessionStatusInterval is not null,
            _timeProvider.GetTimestamp(),
            sessionStatusInterval is { } interval ? StatusIntervals.Schedule(interval, _timeProvider.TimestampFrequency) : null);
    }

    public string SlotName => _identity.SlotName;

    public CheckpointPosition Processed => ToPosition(Read(static s => s.Processed));

    public CheckpointPosition Durable => ToPosition(Read(static s => s.Durable));

    public NpgsqlLogSequenceNumber Acknowledged => new(Read(static s => s.Acknowledged));

    public NpgsqlLogSequenceNumber ServerWalEnd => new(Read(static (s, received) => s.ServerWalEnd(received), LastReceived));

    public long LagBytes => Read(static (s, received) => s.LagBytes(received), LastReceived);

    public TimeSpan CheckpointAge => _timeProvider.GetElapsedTime(Read(static s => s.DurableAt));

    private ulong LastReceived => (ulong)_feedback.LastReceivedLsn;

    /// <summary>Runs <paramref name="read"/> on the state under the lock (tests and status reads).</summary>
    public T Read<T>(Func<AcknowledgementState, T> read)
    {
        lock (_gate)
        {
            return read(_state);
        }
    }

    /// <summary>Runs <paramref name="read"/> on the state under the lock, without a closure.</summary>
    public T Read<TArg, T>(Func<AcknowledgementState, TArg, T> read, TArg argument)
    {
        lock (_gate)
        {
            return read(_state, argument);
        }
    }

    public CheckpointPosition MarkProcessed(CommitMessage commit, ulong eventCount)
    {
        ArgumentNullException.ThrowIfNull(commit);
        var position = MarkProcessed(commit.TransactionEndLsn, eventCount);
        if (!_state.SessionOwned)
        {
            // Inside a session the stream records the commit timestamp as the commit arrives (Commit).
            RecordCommitTimestamp(commit.TransactionCommitTimestamp);
        }

        return position;
    }

    public CheckpointPosition MarkProcessed(NpgsqlLogSequenceNumber transactionEndLsn, ulong eventCount)
    {
        AcknowledgementState.Mark position;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, typeof(ReplicationAcknowledger));
            position = _state.MarkProcessed((ulong)transactionEndLsn, eventCount);
        }

        return ToPosition(position);
    }

    /// <summary>Saves the latest processed position if it is not durable yet, then acknowledges it.</summary>
    public async ValueTask<bool> CheckpointAsync(CancellationToken cancellationToken)
    {
        CheckpointPosition position;
        await _saveGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, typeof(ReplicationAcknowledger));
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

    /// <summary>Records that <paramref name="position"/> is durable and sends the status update that acknowledges it.</summary>
    public ValueTask MarkDurableAsync(CheckpointPosition position, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(position);
        var mark = new AcknowledgementState.Mark((ulong)position.Lsn, position.CommittedEventCount);
        var now = _timeProvider.GetTimestamp();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, typeof(ReplicationAcknowledger));
            if (_state.MarkDurable(mark, now) is null)
            {
                return ValueTask.CompletedTask;
            }
        }

        return SendStatusAsync(scheduled: false, cancellationToken);
    }

    /// <summary>Saves the server's WAL end as a checkpoint if the state allows an idle advance, then acknowledges it.</summary>
    public async ValueTask<bool> TryIdleAdvanceAsync(CancellationToken cancellationToken)
    {
        await _saveGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            AcknowledgementState.Mark mark;
            lock (_gate)
            {
                if (_disposed || _state.TryBeginIdleAdvance(LastReceived) is not { } begun)
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
                await SendStatusAsync(scheduled: false, cancellationToken).ConfigureAwait(false);
            }

            return true;
        }
        finally
        {
            _saveGate.Release();
        }
    }

    /// <summary>The idle-advance timer's work: one <see cref="TryIdleAdvanceAsync"/>; a failure is logged and the next tick tries again.</summary>
    public async ValueTask IdleAdvanceTickAsync(CancellationToken cancellationToken)
    {
        try
        {
            await TryIdleAdvanceAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or IOException or InvalidOperationException)
        {
            Log.IdleAdvanceFailed(_logger, SlotName, Durable.Lsn, ex);
        }
    }

    /// <summary>The status timer's work: sends a status update if one is due (<see cref="AcknowledgementState.StatusDueAt"/>).</summary>
    /// <remarks>
    /// Not cancellable, like Npgsql's own timer: a write cancelled half-way would break the connection. It is bounded by
    /// the connection's write timeout, and the session stops the timer only after the state stopped streaming.
    /// </remarks>
    public ValueTask SendDueStatusAsync() => SendStatusAsync(scheduled: true, CancellationToken.None);

    /// <summary>How long until the next status update is due (at least a millisecond), or <see cref="Timeout.InfiniteTimeSpan"/> when none is.</summary>
    public TimeSpan TimeUntilStatusDue()
    {
        if (Read(static s => s.StatusDueAt) is not { } due)
        {
            return Timeout.InfiniteTimeSpan;
        }

        // Rounded up to whole milliseconds (the timers' resolution), so a timer never fires just before the due time.
        var now = _timeProvider.GetTimestamp();
        return due <= now ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Math.Ceiling(_timeProvider.GetElapsedTime(now, due).TotalMilliseconds));
    }

    /// <summary>Records the server's WAL position from the validation, for the lag before the first keepalive.</summary>
    public void SetServerWalHint(NpgsqlLogSequenceNumber walPosition)
    {
        lock (_gate)
        {
            _state.SetServerWalHint((ulong)walPosition);
        }
    }

    /// <summary>A transaction begins; one that begins while an idle advance is being saved waits until it is acknowledged.</summary>
    public async ValueTask BeginTransactionAsync(CancellationToken cancellationToken)
    {
        while (!TryBeginTransaction())
        {
            await _saveGate.WaitAsync(cancellationToken).ConfigureAwait(false);
            _saveGate.Release();
        }
    }

    private bool TryBeginTransaction()
    {
        lock (_gate)
        {
            return _state.TryBeginTransaction();
        }
    }

    /// <summary>A commit arrived on the stream: it may now be processed; records its timestamp for the source lag.</summary>
    public void Commit(NpgsqlLogSequenceNumber transactionEndLsn, DateTime commitTimestamp)
    {
        lock (_gate)
        {
            _state.Commit((ulong)transactionEndLsn);
        }

        RecordCommitTimestamp(commitTimestamp);
    }

    /// <summary>The session holds the slot: acknowledges the durable checkpoint (subject to the lag).</summary>
    public async ValueTask ConfirmStreamingAsync(CancellationToken cancellationToken)
    {
        var now = _timeProvider.GetTimestamp();
        ulong? report;
        lock (_gate)
        {
            report = _state.ConfirmStreaming(now);
        }

        if (report is not null)
        {
            await SendStatusAsync(scheduled: false, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The stream ends: no status update and no idle advance without a stream.</summary>
    public void StopStreaming()
    {
        lock (_gate)
        {
            _state.StopStreaming();
        }
    }

    /// <summary>Waits until no status update is being sent (Npgsql fails one still in flight when its stream ends).</summary>
    public async ValueTask WaitForSendsAsync()
    {
        await _sendGate.WaitAsync().ConfigureAwait(false);
        _sendGate.Release();
    }

    public PostgresReplicationStatus GetStatus(Validation.PostgresResumeVerdict? verdict)
    {
        var received = LastReceived;
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

    /// <summary>Stops saving and acknowledging; idempotent.</summary>
    /// <remarks>The semaphores are not disposed: they hold no wait handle, and a save still in flight releases its gate.</remarks>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
        }
    }

    // The time behind the source: the local clock at receipt minus the server's commit timestamp (clamped at 0, since
    // the two clocks may disagree by a little).
    private void RecordCommitTimestamp(DateTime commitTimestamp)
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
    /// Sends a status update if the state allows one: after an acknowledgement (<paramref name="scheduled"/> false) at
    /// once, first setting the state's acknowledged LSN as the connection's status; for the status timer only when one is
    /// due, with the status already set.
    /// </summary>
    private async ValueTask SendStatusAsync(bool scheduled, CancellationToken cancellationToken)
    {
        NpgsqlLogSequenceNumber lsn;
        NpgsqlLogSequenceNumber durable;
        lock (_gate)
        {
            lsn = new NpgsqlLogSequenceNumber(_state.Acknowledged);
            durable = new NpgsqlLogSequenceNumber(_state.Durable.Lsn);
            if (!scheduled)
            {
                // Under the lock and from the state, so concurrent acknowledgements never set an older LSN after a newer one.
                _feedback.SetReplicationStatus(lsn);
            }
        }

        // A span per acknowledgement; the periodic updates repeat the last one and get none.
        using var activity = scheduled ? null : PostgresActivitySource.Source.StartActivity("cdc.checkpoint.acknowledge", ActivityKind.Client);
        activity?.SetTag("cdc.source_type", PostgresOffset.StreamingSourceType);
        activity?.SetTag("cdc.slot", SlotName);
        activity?.SetTag("cdc.lsn", PostgresOffset.FormatLsn(lsn));
        await _sendGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var received = LastReceived;
            var now = _timeProvider.GetTimestamp();
            AcknowledgementState.Send send;
            lock (_gate)
            {
                send = scheduled ? _state.DecideScheduledSend(received, now) : _state.DecideSend(received, now);
            }

            if (send != AcknowledgementState.Send.Now)
            {
                // Held: the stream has ended or is not confirmed yet; the status goes with the next stream's first update.
                // Deferred: Npgsql's replication stream is only ready for a status update once it has received something
                // from the server (it creates its feedback timers after CopyBothResponse, and an update sent before that
                // dereferences them and leaves its feedback lock taken, which stalls the stream at the next keepalive).
                // The server sends a keepalive as soon as decoding has caught up; the status timer tries again shortly.
                if (send == AcknowledgementState.Send.Deferred && !scheduled)
                {
                    Log.AcknowledgeDeferred(_logger, SlotName, lsn);
                }

                activity?.SetTag("cdc.acknowledge.sent", false);
                return;
            }

            await _feedback.SendStatusUpdateAsync(cancellationToken).ConfigureAwait(false);
            MarkStatusSent();
            activity?.SetTag("cdc.acknowledge.sent", true);
            if (!scheduled)
            {
                Log.Acknowledged(_logger, SlotName, lsn, durable);
            }
        }
        catch (InvalidOperationException)
        {
            // Not streaming (yet, or any more): the status is set and goes with the next status update.
            MarkStatusSent(); // tried: the next try is an interval later, so the status timer never spins
        }
        catch (NullReferenceException ex)
        {
            // Npgsql 10 throws this from SendStatusUpdate when its stream ends while the update is being sent (the
            // stream's cleanup clears the feedback timers the update re-arms), and then never releases its feedback
            // lock: any further update would wait forever, so none is sent on this connection again.
            lock (_gate)
            {
                _state.FeedbackBroken();
            }

            PostgresActivitySource.SetError(activity, ex.GetType().FullName!, ex.Message);
            Log.AcknowledgeFailed(_logger, SlotName, lsn, ex);
        }
        catch (Exception ex) when (ex is NpgsqlException or IOException)
        {
            MarkStatusSent(); // tried: the next try is an interval later, not at once
            PostgresActivitySource.SetError(activity, ex.GetType().FullName!, ex.Message);
            Log.AcknowledgeFailed(_logger, SlotName, lsn, ex);
        }
        finally
        {
            _sendGate.Release();
        }
    }

    private void MarkStatusSent()
    {
        var now = _timeProvider.GetTimestamp();
        lock (_gate)
        {
            _state.StatusSent(now);
        }
    }

    private CheckpointPosition ToPosition(AcknowledgementState.Mark mark) =>
        new(mark.Lsn == (ulong)_identity.Lsn ? _identity : _identity.WithLsn(new NpgsqlLogSequenceNumber(mark.Lsn)), mark.Count);
}
