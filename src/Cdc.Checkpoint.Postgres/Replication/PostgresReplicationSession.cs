using System.Runtime.CompilerServices;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres.Diagnostics;
using Cdc.Checkpoint.Postgres.Validation;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Postgres.Replication;

/// <summary>
/// One run of a pgoutput consumer, done safely end to end: load the checkpoint, validate resuming against the live
/// server, act on the verdict (fail closed, or create the slot on a fresh start), start replication at the
/// checkpoint, check the slot again once the server has accepted <c>START_REPLICATION</c>, skip transactions the
/// checkpoint covers, and acknowledge only durable checkpoints (<see cref="Acknowledger"/>), with idle advance.
/// </summary>
/// <remarks>
/// <para>
/// The checkpoint is the truth, not the slot: PostgreSQL 15 does not persist an advanced <c>confirmed_flush_lsn</c>
/// across a server restart, so a slot behind the checkpoint is normal, and replication always starts at the
/// checkpointed LSN. A slot ahead of it is a gap and is refused unless an opt-in accepts it.
/// </para>
/// <para>
/// A slot is created only when there is no checkpoint (a fresh start; its consistent point is saved as the first
/// checkpoint with event count 0) or when <see cref="PostgresResumeValidationOptions.RecreateLostSlot"/> accepts losing the
/// changes since the checkpoint.
/// </para>
/// <para>Not thread-safe except where noted on <see cref="Acknowledger"/>; <see cref="ReadAsync"/> can be enumerated once.</para>
/// </remarks>
public sealed class PostgresReplicationSession : IAsyncDisposable
{
    private readonly LogicalReplicationConnection _replication;
    private readonly NpgsqlDataSource _dataSource;
    private readonly PostgresReplicationSessionOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly AcknowledgementDriver _acknowledgement; // the saves and status updates (Acknowledger is its public face)

    private int _reading;
    private int _disposed;
    private SessionTimer? _statusUpdates; // while the stream is confirmed
    private SessionTimer? _idleAdvance; // while the stream is confirmed, unless turned off

    /// <summary>How long a cancelled stream may take to end before its walsender is terminated from SQL.</summary>
    private static readonly TimeSpan StreamStopTimeout = TimeSpan.FromSeconds(5);

    private PostgresReplicationSession(
        LogicalReplicationConnection replication,
        NpgsqlDataSource dataSource,
        PostgresReplicationSessionOptions options,
        PostgresResumeValidationResult validation,
        CheckpointPosition start,
        ReplicationAcknowledger acknowledger,
        TimeProvider timeProvider,
        ILogger logger)
    {
        _replication = replication;
        _dataSource = dataSource;
        _options = options;
        Validation = validation;
        StartPosition = start;
        Acknowledger = acknowledger;
        _acknowledgement = acknowledger.Driver;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <summary>The resume validation the session started on.</summary>
    public PostgresResumeValidationResult Validation { get; }

    /// <summary>The durable position replication starts at (the checkpoint, or the new slot's consistent point).</summary>
    public CheckpointPosition StartPosition { get; }

    /// <summary>The acknowledger: mark processed transactions and report durable checkpoints through it.</summary>
    public ReplicationAcknowledger Acknowledger { get; }

    /// <summary>
    /// The interval at which the session sends standby status updates while streaming (at most this long after the
    /// previous one, whatever the consumer does): <see cref="PostgresReplicationSessionOptions.StatusInterval"/>, or
    /// derived from the walsender's <c>wal_sender_timeout</c>.
    /// </summary>
    public TimeSpan StatusInterval { get; private init; }

    /// <summary>The replication connection (for its process id or status; do not start replication on it yourself).</summary>
    public LogicalReplicationConnection Connection => _replication;

    /// <summary>
    /// Opens a session: connects, loads the checkpoint of source type <c>postgres</c> from <paramref name="store"/>,
    /// validates resuming, and acts on the verdict.
    /// </summary>
    /// <param name="connectionString">An Npgsql connection string to the database whose changes are streamed; used for the replication connection and for reading <c>pg_replication_slots</c>.</param>
    /// <param name="store">The checkpoint store; it must read <c>postgres</c> offsets as <see cref="PostgresOffset"/>.</param>
    /// <param name="options">Slot, publications and policies.</param>
    /// <param name="loggerFactory">Logger factory; no logging when <see langword="null"/>.</param>
    /// <param name="timeProvider">Clock; the system clock when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels opening.</param>
    /// <returns>The session, ready for <see cref="ReadAsync"/>.</returns>
    /// <exception cref="CheckpointException">
    /// Resuming is refused (the code and message name the verdict and the operator's action), or the stored checkpoint
    /// is of another kind or slot (<see cref="CheckpointErrorCode.Misconfigured"/>), or a save failed.
    /// </exception>
    /// <exception cref="NpgsqlException">The server cannot be reached.</exception>
    public static async Task<PostgresReplicationSession> OpenAsync(
        string connectionString,
        ICheckpointStore store,
        PostgresReplicationSessionOptions options,
        ILoggerFactory? loggerFactory = null,
        TimeProvider? timeProvider = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        loggerFactory ??= NullLoggerFactory.Instance;
        timeProvider ??= TimeProvider.System;
        var logger = loggerFactory.CreateLogger<PostgresReplicationSession>();

        var dataSource = NpgsqlDataSource.Create(connectionString);
        var replication = new LogicalReplicationConnection(connectionString);
        ReplicationAcknowledger? acknowledger = null;
        try
        {
            await replication.Open(cancellationToken).ConfigureAwait(false);

            // The server ends a walsender that heard nothing for wal_sender_timeout, so status updates must go out
            // whatever the consumer does; ask the walsender itself (the connection string, role and database can all set
            // it). The session sends them on its own timer, when the acknowledgement state says one is due; Npgsql's own
            // timer (WalReceiverStatusInterval, 10 s by default) is turned off: Timeout.InfiniteTimeSpan arms its timer
            // never (ReplicationConnection in Npgsql 10.0.3). Npgsql still answers keepalives that request a reply, and
            // after half of WalReceiverTimeout without a message asks for one itself; both carry only the status set
            // through SetReplicationStatus, the durable checkpoint.
            var walSenderTimeoutText = await replication.Show("wal_sender_timeout", cancellationToken).ConfigureAwait(false);
            var walSenderTimeout = StatusIntervals.ParseSetting(walSenderTimeoutText);
            var statusInterval = options.StatusInterval ?? StatusIntervals.Derive(walSenderTimeout);
            replication.WalReceiverStatusInterval = Timeout.InfiniteTimeSpan;
            Log.StatusIntervalChosen(logger, options.SlotName, statusInterval, walSenderTimeoutText);
            var record = await store.LoadAsync(PostgresOffset.StreamingSourceType, cancellationToken).ConfigureAwait(false);
            PostgresOffset? checkpoint = null;
            if (record is not null)
            {
                checkpoint = AsPostgresOffset(record);
                if (!string.Equals(checkpoint.SlotName, options.SlotName, StringComparison.Ordinal))
                {
                    throw new CheckpointException(
                        CheckpointErrorCode.Misconfigured,
                        $"The stored checkpoint {checkpoint} belongs to slot '{checkpoint.SlotName}', but the session is configured for slot '{options.SlotName}'. Use the slot the checkpoint was taken on, or another checkpoint name/directory for the new slot.");
                }
            }

            // Validated once: the verdict is carried out below, and the check after START_REPLICATION compares the slot
            // with the facts of this same validation.
            var validation = await new PostgresResumeValidator(dataSource, options.Validation, loggerFactory).ValidateAsync(replication, options.SlotName, checkpoint, cancellationToken).ConfigureAwait(false);
            var start = await CarryOutAsync(validation, record, replication, store, options, logger, cancellationToken).ConfigureAwait(false);
            var acknowledgement = new AcknowledgementDriver(
                new NpgsqlReplicationFeedback(replication), store, start.Offset, start.CommittedEventCount, options.Acknowledgement, loggerFactory, timeProvider, statusInterval);
            acknowledgement.SetServerWalHint(validation.Facts.ServerWalPosition);
            acknowledger = new ReplicationAcknowledger(acknowledgement);
            return new PostgresReplicationSession(replication, dataSource, options, validation, start, acknowledger, timeProvider, logger)
            {
                StatusInterval = statusInterval,
            };
        }
        catch
        {
            if (acknowledger is not null)
            {
                await acknowledger.DisposeAsync().ConfigureAwait(false);
            }

            await replication.DisposeAsync().ConfigureAwait(false);
            await dataSource.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Carries out the resume verdict — the one place that does: refuse (throw the verdict), resume at the checkpoint
    /// (recording a timeline switch), create or re-create the slot and save its consistent point, or adopt the slot's
    /// position.
    /// </summary>
    /// <returns>The durable position replication starts at.</returns>
    private static async Task<CheckpointPosition> CarryOutAsync(
        PostgresResumeValidationResult validation,
        CheckpointRecord? record,
        LogicalReplicationConnection replication,
        ICheckpointStore store,
        PostgresReplicationSessionOptions options,
        ILogger logger,
        CancellationToken cancellationToken)
    {
        var facts = validation.Facts;
        var checkpoint = facts.Checkpoint;
        var identity = new PostgresOffset(
            checkpoint?.Lsn ?? facts.ServerWalPosition,
            options.SlotName,
            facts.ServerSystemIdentifier,
            facts.ServerTimeline,
            string.IsNullOrEmpty(facts.ServerDatabase) ? null : facts.ServerDatabase);
        var count = record?.CommittedEventCount ?? 0;

        // A new start after an existing record (an opt-in accepted a gap) counts one more, so the store's progress guard
        // accepts it; a fresh start begins at 0.
        var nextCount = record is null ? 0 : checked(count + 1);
        switch (validation.Action)
        {
            case PostgresResumeAction.Refuse:
                throw validation.ToException();

            case PostgresResumeAction.StartAtCheckpoint:
                var start = new CheckpointPosition(identity.WithLsn(checkpoint!.Lsn), count);
                if (validation.Verdict == PostgresResumeVerdict.ResumeOnNewTimeline)
                {
                    // Offsets of different timelines never compare, so the move to the new timeline is an explicit,
                    // audited rewrite of the same LSN, justified by the history the validation checked.
                    await store.RewindAsync(
                        start.Offset,
                        count,
                        $"timeline switch {checkpoint.Timeline} -> {facts.ServerTimeline}: checkpoint {PostgresOffset.FormatLsn(checkpoint.Lsn)} is before the switch point {PostgresOffset.FormatLsn(facts.TimelineSwitchPoint!.Value)} in the server's history",
                        cancellationToken).ConfigureAwait(false);
                    Log.TimelineSwitchRecorded(logger, options.SlotName, checkpoint.Timeline!.Value, facts.ServerTimeline, start.Offset);
                }

                return start;

            case PostgresResumeAction.CreateSlot or PostgresResumeAction.RecreateSlot:
                if (validation.Action == PostgresResumeAction.RecreateSlot)
                {
                    await replication.DropReplicationSlot(options.SlotName, wait: false, cancellationToken).ConfigureAwait(false);
                }

                var slot = await replication.CreatePgOutputReplicationSlot(
                    options.SlotName,
                    temporarySlot: false,
                    slotSnapshotInitMode: LogicalSlotSnapshotInitMode.NoExport,
                    cancellationToken: cancellationToken).ConfigureAwait(false);
                Log.SlotCreated(logger, options.SlotName, options.Validation.OutputPlugin, slot.ConsistentPoint);
                return await SaveStartAsync(new CheckpointPosition(identity.WithLsn(slot.ConsistentPoint), nextCount)).ConfigureAwait(false);

            case PostgresResumeAction.StartAtSlot:
                var adopted = await SaveStartAsync(new CheckpointPosition(identity.WithLsn(validation.StartLsn!.Value), nextCount)).ConfigureAwait(false);
                if (record is null)
                {
                    Log.SlotAdopted(logger, options.SlotName, adopted.Lsn);
                }

                return adopted;

            default:
                throw new InvalidOperationException($"Unexpected resume action {validation.Action}.");
        }

        async Task<CheckpointPosition> SaveStartAsync(CheckpointPosition position)
        {
            await store.SaveAsync(position.Offset, position.CommittedEventCount, cancellationToken).ConfigureAwait(false);
            return position;
        }
    }

    // A store without the PostgreSQL codec configured (a FileCheckpoint with default options, a manifest store) returns
    // the record as a GenericOffset; the session knows what a 'postgres' record is and reads it itself. The first save
    // of a PostgresOffset then teaches such a store the codec, so its progress guards compare typed offsets.
    private static PostgresOffset AsPostgresOffset(CheckpointRecord record)
    {
        switch (record.Offset)
        {
            case PostgresOffset typed:
                return typed;
            case GenericOffset generic when string.Equals(generic.SourceType, PostgresOffset.StreamingSourceType, StringComparison.Ordinal):
                try
                {
                    return (PostgresOffset)PostgresOffsetCodec.Instance.Read(generic.SourceType, generic.Value, record.FormatVersion);
                }
                catch (FormatException ex)
                {
                    throw new CheckpointException(
                        CheckpointErrorCode.Corrupt,
                        $"The stored '{PostgresOffset.StreamingSourceType}' checkpoint {record.Offset} is not a valid PostgreSQL offset: {ex.Message} Restore the checkpoint from a backup, or seed a new one with the CLI.",
                        ex);
                }

            default:
                throw new CheckpointException(
                    CheckpointErrorCode.Misconfigured,
                    $"The stored '{PostgresOffset.StreamingSourceType}' checkpoint {record.Offset} was read as {record.Offset.GetType().Name}, not as a PostgreSQL offset: the store's codecs map 'postgres' to another type. Configure them with OffsetCodecRegistry.Empty.WithPostgres().");
        }
    }

    /// <summary>
    /// Starts replication at <see cref="StartPosition"/> and yields the pgoutput messages of transactions after it.
    /// Before the first message, the slot is checked again (held by this session, not moved past the start).
    /// </summary>
    /// <param name="cancellationToken">Stops the stream. Npgsql may still yield messages it had buffered; stop consuming on your own flag if you must stop at once.</param>
    /// <returns>The messages; Npgsql reuses message instances, so read each one before moving on.</returns>
    /// <exception cref="InvalidOperationException">The session is already being read.</exception>
    /// <exception cref="CheckpointException">The slot changed after the validation, or is in use, or is gone (thrown on the first iteration).</exception>
    public IAsyncEnumerable<PgOutputReplicationMessage> ReadAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.Exchange(ref _reading, 1) != 0)
        {
            throw new InvalidOperationException("A replication session can be read once; open a new session to stream again.");
        }

        return TrackAsync(StartAndRecheckAsync(cancellationToken), cancellationToken);
    }

    /// <summary>
    /// A consistent snapshot of the session: the resume verdict it started on, whether it streams, the processed,
    /// durable and acknowledged positions, lag and checkpoint age (no I/O; thread-safe, also after disposal).
    /// </summary>
    /// <returns>The status.</returns>
    public PostgresReplicationStatus GetStatus() => _acknowledgement.GetStatus(Validation.Verdict);

    /// <summary>Reads the session's slot's WAL retention (<c>wal_status</c>, <c>safe_wal_size</c>) from the server.</summary>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The slot's health, or <see langword="null"/> when the slot does not exist (any more).</returns>
    /// <exception cref="NpgsqlException">The server could not be queried.</exception>
    /// <exception cref="ObjectDisposedException">The session is disposed.</exception>
    public Task<PostgresSlotHealth?> ReadSlotHealthAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return PostgresSlotHealth.ReadAsync(_dataSource, _options.SlotName, cancellationToken);
    }

    /// <summary>Stops the acknowledger and closes the replication connection.</summary>
    /// <returns>A task that completes when everything is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopTimersAsync().ConfigureAwait(false);
        await Acknowledger.DisposeAsync().ConfigureAwait(false);
        await _replication.DisposeAsync().ConfigureAwait(false);
        await _dataSource.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Wraps the message stream: skips transactions the start position already covers, and records in the
    /// acknowledgement state whether a transaction is in flight and which commits arrived, so the idle advance never
    /// overtakes a transaction and nothing unreceived is processed.
    /// </summary>
    private async IAsyncEnumerable<PgOutputReplicationMessage> TrackAsync(
        IAsyncEnumerable<PgOutputReplicationMessage> messages,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var startLsn = StartPosition.Lsn;
        var skipping = false;
        await foreach (var message in messages.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            switch (message)
            {
                case BeginMessage begin when begin.TransactionFinalLsn < startLsn:
                    // The server skips these itself when asked to start at the checkpoint; this guards against a
                    // start position that was clamped lower, so a transaction is never applied twice.
                    skipping = true;
                    Log.TransactionSkipped(_logger, _options.SlotName, begin.TransactionFinalLsn, startLsn);
                    continue;
                case BeginMessage:
                    // A transaction that begins while an idle advance is being saved waits until it is durable.
                    await _acknowledgement.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                    break;
                case CommitMessage when skipping:
                    skipping = false;
                    continue;
                case CommitMessage commit:
                    _acknowledgement.Commit(commit.TransactionEndLsn, commit.TransactionCommitTimestamp);
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

    // The slot is confirmed held by this stream: acknowledge the durable checkpoint, then start the status timer (due
    // when the acknowledgement state says) and the idle-advance timer.
    private async Task OnStreamingConfirmedAsync(CancellationToken cancellationToken)
    {
        await _acknowledgement.ConfirmStreamingAsync(cancellationToken).ConfigureAwait(false);
        Volatile.Write(ref _statusUpdates, new SessionTimer(_ => _acknowledgement.SendDueStatusAsync(), _acknowledgement.TimeUntilStatusDue, _timeProvider));
        var interval = _options.Acknowledgement.IdleAdvanceInterval;
        if (interval != Timeout.InfiniteTimeSpan)
        {
            Volatile.Write(ref _idleAdvance, new SessionTimer(_acknowledgement.IdleAdvanceTickAsync, () => interval, _timeProvider));
        }
    }

    // No idle advance and no status update without a stream; waits for an update being sent, because Npgsql fails one
    // that is still in flight when replication stops. Called when cancellation begins and again when the stream ends.
    private async Task OnStreamingStoppedAsync()
    {
        _acknowledgement.StopStreaming();
        await StopTimersAsync().ConfigureAwait(false);
        await _acknowledgement.WaitForSendsAsync().ConfigureAwait(false);
    }

    private async Task StopTimersAsync()
    {
        if (Volatile.Read(ref _statusUpdates) is { } status)
        {
            await status.DisposeAsync().ConfigureAwait(false);
        }

        if (Volatile.Read(ref _idleAdvance) is { } idle)
        {
            await idle.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async IAsyncEnumerable<PgOutputReplicationMessage> StartAndRecheckAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // The stream is not linked to the caller's token directly: on cancellation the acknowledger stops sending
        // status updates (and waits for one in flight) before Npgsql's stream is torn down, because Npgsql fails an
        // update that races with the end of its stream and then never sends another one.
        using var stream = new CancellationTokenSource();
        var walSender = _replication.ProcessID;
        var slot = new PgOutputReplicationSlot(_options.SlotName);
        var replicationOptions = new PgOutputReplicationOptions(_options.PublicationNames, _options.ProtocolVersion);
        var enumerator = _replication.StartReplication(slot, replicationOptions, stream.Token, StartPosition.Lsn).GetAsyncEnumerator(stream.Token);
        var pending = enumerator.MoveNextAsync().AsTask();
        Task? stopping = null;
        var registration = cancellationToken.Register(() => stopping = StopStreamAsync(stream, pending, walSender));
        try
        {
            await RecheckAsync(pending, cancellationToken).ConfigureAwait(false);
            await OnStreamingConfirmedAsync(cancellationToken).ConfigureAwait(false);
            while (await AwaitStartAsync(pending, cancellationToken).ConfigureAwait(false))
            {
                yield return enumerator.Current;
                pending = enumerator.MoveNextAsync().AsTask();
            }
        }
        finally
        {
            await registration.DisposeAsync().ConfigureAwait(false);
            if (stopping is not null)
            {
                await stopping.ConfigureAwait(false);
            }

            await OnStreamingStoppedAsync().ConfigureAwait(false);
            if (!pending.IsCompleted)
            {
                await EndStreamAsync(stream, pending, walSender).ConfigureAwait(false);
                try
                {
                    await pending.ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OperationCanceledException or NpgsqlException)
                {
                    // The stream is being abandoned; its end is of no interest.
                }
            }

            await enumerator.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task StopStreamAsync(CancellationTokenSource stream, Task<bool> pending, int walSender)
    {
        await OnStreamingStoppedAsync().ConfigureAwait(false);
        await EndStreamAsync(stream, pending, walSender).ConfigureAwait(false);
    }

    // Cancels the stream, and ends the walsender from SQL when the cancellation does not end it. PostgreSQL ignores a
    // cancel request that reaches the walsender while it is still reading START_REPLICATION; the walsender then
    // streams, Npgsql resets its read timeout to wal_receiver_timeout when CopyBoth begins, and the keepalives keep
    // the stream alive: without this, a session stopped right after it started could wait forever.
    private async Task EndStreamAsync(CancellationTokenSource stream, Task<bool> pending, int walSender)
    {
        await stream.CancelAsync().ConfigureAwait(false);
        var delay = Task.Delay(StreamStopTimeout, _timeProvider, CancellationToken.None);
        if (await Task.WhenAny(pending, delay).ConfigureAwait(false) == pending)
        {
            return;
        }

        Log.WalSenderTerminated(_logger, _options.SlotName, walSender, StreamStopTimeout);
        try
        {
            var command = _dataSource.CreateCommand("SELECT pg_catalog.pg_terminate_backend($1)");
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = walSender });
                await command.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (NpgsqlException ex)
        {
            Log.WalSenderTerminateFailed(_logger, _options.SlotName, walSender, ex);
        }
    }

    // Waits until the server shows this session as the slot's holder, then checks the slot again, so nothing the
    // validation saw can have changed unnoticed; an error of START_REPLICATION itself ends the wait.
    private async Task RecheckAsync(Task<bool> pending, CancellationToken cancellationToken)
    {
        var started = _timeProvider.GetTimestamp();
        var timeout = _options.Validation.RecheckTimeout;
        while (true)
        {
            if (pending.IsCompleted && !await AwaitStartAsync(pending, cancellationToken).ConfigureAwait(false))
            {
                return; // The server ended the stream at once: there is nothing to check or to consume.
            }

            if (await PostgresResumeValidator.RecheckSlotAsync(_dataSource, _options.Validation.OutputPlugin, _logger, Validation, StartPosition.Lsn, _replication.ProcessID, cancellationToken).ConfigureAwait(false))
            {
                return;
            }

            if (_timeProvider.GetElapsedTime(started) > timeout)
            {
                throw new CheckpointException(
                    CheckpointErrorCode.InUse,
                    $"Replication slot '{_options.SlotName}' did not show this session (walsender {_replication.ProcessID}) as its holder within {timeout.TotalSeconds:0.#} s after START_REPLICATION. Another process may hold it, or the SQL and replication connections reach different servers; check pg_replication_slots.active_pid.");
            }

            var delay = Task.Delay(_options.Validation.RecheckPollInterval, _timeProvider, cancellationToken);
            await Task.WhenAny(pending, delay).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    // How a stream the server ends (or a broken connection) reaches us through Npgsql 10: the FATAL the backend sends
    // before it exits (class 57, operator intervention, e.g. 57P01 after pg_terminate_backend; class 08, connection
    // exceptions), an NpgsqlException wrapping the I/O error when the socket simply closes (replication timeout), and,
    // when the read races with the connector being broken, a NullReferenceException out of Npgsql's ReadMessage.
    private static bool IsStreamEnd(Exception exception) => exception switch
    {
        PostgresException pg => pg.SqlState.StartsWith("57", StringComparison.Ordinal) || pg.SqlState.StartsWith("08", StringComparison.Ordinal),
        NpgsqlException => true,
        NullReferenceException => true, // the awaited task is Npgsql's own enumerator: nothing of ours runs inside it
        IOException => true,
        _ => false,
    };

    private async Task<bool> AwaitStartAsync(Task<bool> pending, CancellationToken cancellationToken)
    {
        try
        {
            return await pending.ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.ObjectInUse)
        {
            throw new CheckpointException(
                CheckpointErrorCode.InUse,
                $"START_REPLICATION on slot '{_options.SlotName}' was refused because another process holds the slot ({ex.MessageText}). Stop the other consumer and retry (transient).",
                ex);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedObject)
        {
            throw new CheckpointException(
                CheckpointErrorCode.PositionUnavailable,
                $"START_REPLICATION on slot '{_options.SlotName}' failed: {ex.MessageText}. The slot was dropped after the validation; nothing was consumed. Start again to get the validation verdict and the operator action.",
                ex);
        }
        catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.ObjectNotInPrerequisiteState or "58P01")
        {
            throw new CheckpointException(
                CheckpointErrorCode.PositionUnavailable,
                $"START_REPLICATION on slot '{_options.SlotName}' at {PostgresOffset.FormatLsn(StartPosition.Lsn)} failed: {ex.MessageText}. The WAL the slot needs is gone (slot invalidated or WAL removed); see SlotInvalidated in docs/postgres.md.",
                ex);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && IsStreamEnd(ex))
        {
            Log.StreamEnded(_logger, _options.SlotName, _replication.ProcessID, ex);
            var reason = ex switch
            {
                PostgresException pg => $"{pg.SqlState}: {pg.MessageText}",
                NullReferenceException => "the connection was closed under Npgsql's reader (NullReferenceException in Npgsql's ReadMessage)",
                _ => ex.Message.TrimEnd('.'),
            };
            throw new CheckpointException(
                CheckpointErrorCode.ConnectionLost,
                $"The replication stream of slot '{_options.SlotName}' (walsender {_replication.ProcessID}) ended: {reason}. The server terminated the walsender (pg_terminate_backend, wal_sender_timeout, shutdown) or the connection broke. Nothing durable is lost: dispose this session and open a new session, which resumes from the durable checkpoint {PostgresOffset.FormatLsn(Acknowledger.Durable.Lsn)} (transient).",
                ex);
        }
    }
}
