using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres.Validation;
using Microsoft.Extensions.Logging;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Postgres.Diagnostics;

/// <summary>Source-generated log messages of Cdc.Checkpoint.Postgres; event ids are listed in <see cref="PostgresEventId"/>.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = PostgresEventId.ResumeValidated, Level = LogLevel.Information,
        Message = "Resume validation of slot {Slot}: {Verdict}, action {Action}. Facts: {Facts}")]
    public static partial void ResumeValidated(ILogger logger, string slot, PostgresResumeVerdict verdict, PostgresResumeAction action, PostgresResumeFacts facts);

    [LoggerMessage(EventId = PostgresEventId.ResumeRefused, Level = LogLevel.Error,
        Message = "Refusing to resume slot {Slot}: {Verdict}. {Reason} Facts: {Facts}")]
    public static partial void ResumeRefused(ILogger logger, string slot, PostgresResumeVerdict verdict, string reason, PostgresResumeFacts facts);

    [LoggerMessage(EventId = PostgresEventId.GapAccepted, Level = LogLevel.Warning,
        Message = "Slot {Slot}: {Verdict} accepted by an explicit opt-in, action {Action}; changes are lost. {Reason} Facts: {Facts}")]
    public static partial void GapAccepted(ILogger logger, string slot, PostgresResumeVerdict verdict, PostgresResumeAction action, string reason, PostgresResumeFacts facts);

    [LoggerMessage(EventId = PostgresEventId.SlotCreated, Level = LogLevel.Information,
        Message = "Created replication slot {Slot} with plugin {Plugin}; consistent point {ConsistentPoint}")]
    public static partial void SlotCreated(ILogger logger, string slot, string plugin, NpgsqlLogSequenceNumber consistentPoint);

    [LoggerMessage(EventId = PostgresEventId.RecheckPassed, Level = LogLevel.Debug,
        Message = "Slot {Slot} is held by this session (walsender {Pid}) and has not moved past the start position {StartLsn}: {SlotFacts}")]
    public static partial void RecheckPassed(ILogger logger, string slot, int pid, NpgsqlLogSequenceNumber startLsn, ReplicationSlotFacts slotFacts);

    [LoggerMessage(EventId = PostgresEventId.RecheckFailed, Level = LogLevel.Error,
        Message = "Slot {Slot} changed after the resume validation: {Reason}")]
    public static partial void RecheckFailed(ILogger logger, string slot, string reason);

    [LoggerMessage(EventId = PostgresEventId.TimelineSwitchRecorded, Level = LogLevel.Warning,
        Message = "Slot {Slot}: the server moved from timeline {OldTimeline} to {NewTimeline}; checkpoint {Checkpoint} is before the switch point and was recorded on the new timeline")]
    public static partial void TimelineSwitchRecorded(ILogger logger, string slot, uint oldTimeline, uint newTimeline, PostgresOffset checkpoint);

    [LoggerMessage(EventId = PostgresEventId.SlotAdopted, Level = LogLevel.Warning,
        Message = "Slot {Slot} had no checkpoint and was adopted at {Lsn} (AdoptSlotWithoutCheckpoint)")]
    public static partial void SlotAdopted(ILogger logger, string slot, NpgsqlLogSequenceNumber lsn);

    [LoggerMessage(EventId = PostgresEventId.TransactionSkipped, Level = LogLevel.Debug,
        Message = "Slot {Slot}: skipped transaction committed at {CommitLsn}, which the checkpoint {Checkpoint} already covers")]
    public static partial void TransactionSkipped(ILogger logger, string slot, NpgsqlLogSequenceNumber commitLsn, NpgsqlLogSequenceNumber checkpoint);

    [LoggerMessage(EventId = PostgresEventId.WalSenderTerminated, Level = LogLevel.Warning,
        Message = "Slot {Slot}: the stream did not end within {Timeout} after cancellation (the walsender missed the cancel request); terminating walsender {Pid}")]
    public static partial void WalSenderTerminated(ILogger logger, string slot, int pid, TimeSpan timeout);

    [LoggerMessage(EventId = PostgresEventId.WalSenderTerminateFailed, Level = LogLevel.Error,
        Message = "Slot {Slot}: terminating walsender {Pid} failed; the stream ends when the server drops it (wal_sender_timeout)")]
    public static partial void WalSenderTerminateFailed(ILogger logger, string slot, int pid, Exception exception);

    [LoggerMessage(EventId = PostgresEventId.StatusIntervalChosen, Level = LogLevel.Debug,
        Message = "Slot {Slot}: standby status updates every {Interval} (wal_sender_timeout {WalSenderTimeout})")]
    public static partial void StatusIntervalChosen(ILogger logger, string slot, TimeSpan interval, string walSenderTimeout);

    [LoggerMessage(EventId = PostgresEventId.StreamEnded, Level = LogLevel.Warning,
        Message = "Slot {Slot}: the server ended the stream of walsender {Pid} or the connection broke; open a new session to resume from the durable checkpoint")]
    public static partial void StreamEnded(ILogger logger, string slot, int pid, Exception exception);

    [LoggerMessage(EventId = PostgresEventId.Acknowledged, Level = LogLevel.Debug,
        Message = "Slot {Slot}: acknowledged {Lsn} to the server (durable checkpoint {Durable})")]
    public static partial void Acknowledged(ILogger logger, string slot, NpgsqlLogSequenceNumber lsn, NpgsqlLogSequenceNumber durable);

    [LoggerMessage(EventId = PostgresEventId.AcknowledgeFailed, Level = LogLevel.Warning,
        Message = "Slot {Slot}: sending the status update for {Lsn} failed; it goes with the next status update")]
    public static partial void AcknowledgeFailed(ILogger logger, string slot, NpgsqlLogSequenceNumber lsn, Exception exception);

    [LoggerMessage(EventId = PostgresEventId.AcknowledgeDeferred, Level = LogLevel.Debug,
        Message = "Slot {Slot}: {Lsn} is set as the replication status; it is sent with the first status update once the stream has received data")]
    public static partial void AcknowledgeDeferred(ILogger logger, string slot, NpgsqlLogSequenceNumber lsn);

    [LoggerMessage(EventId = PostgresEventId.IdleAdvanced, Level = LogLevel.Debug,
        Message = "Slot {Slot}: nothing in flight; checkpointed the server's WAL end {Lsn} (count {Count})")]
    public static partial void IdleAdvanced(ILogger logger, string slot, NpgsqlLogSequenceNumber lsn, ulong count);

    [LoggerMessage(EventId = PostgresEventId.IdleAdvanceFailed, Level = LogLevel.Warning,
        Message = "Slot {Slot}: checkpointing the idle position {Lsn} failed; the slot stays at the last durable checkpoint")]
    public static partial void IdleAdvanceFailed(ILogger logger, string slot, NpgsqlLogSequenceNumber lsn, Exception exception);

    [LoggerMessage(EventId = PostgresEventId.PositionCheckpointed, Level = LogLevel.Debug,
        Message = "Slot {Slot}: checkpointed {Lsn} (count {Count})")]
    public static partial void PositionCheckpointed(ILogger logger, string slot, NpgsqlLogSequenceNumber lsn, ulong count);
}
