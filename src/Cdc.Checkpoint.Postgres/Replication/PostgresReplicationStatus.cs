using Cdc.Checkpoint.Postgres.Validation;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Postgres.Replication;

/// <summary>
/// A consistent snapshot of what a <see cref="ReplicationAcknowledger"/> (and the <see cref="PostgresReplicationSession"/>
/// around it) knows: the processed, durable and acknowledged positions, the server's WAL end, the lag and the checkpoint
/// age. Taken with <see cref="ReplicationAcknowledger.GetStatus()"/> or <see cref="PostgresReplicationSession.GetStatus"/>;
/// cheap (no I/O), safe to call from any thread, for example from a health check.
/// </summary>
public sealed class PostgresReplicationStatus
{
    /// <summary>The replication slot.</summary>
    public required string SlotName { get; init; }

    /// <summary>
    /// The verdict of the resume validation the session started on; <see langword="null"/> for an acknowledger used
    /// without a session.
    /// </summary>
    public PostgresResumeVerdict? Verdict { get; init; }

    /// <summary>
    /// Whether the stream is confirmed (the session holds the slot after <c>START_REPLICATION</c>) and has not ended;
    /// always <see langword="false"/> for an acknowledger used without a session.
    /// </summary>
    public required bool Streaming { get; init; }

    /// <summary>The latest position marked processed (possibly not durable yet).</summary>
    public required CheckpointPosition Processed { get; init; }

    /// <summary>The latest durable checkpoint.</summary>
    public required CheckpointPosition Durable { get; init; }

    /// <summary>The LSN last reported to the server as flushed and applied; 0 before the first report.</summary>
    public required NpgsqlLogSequenceNumber Acknowledged { get; init; }

    /// <summary>The server's WAL end as last seen (keepalives, message ends, or the WAL position at validation).</summary>
    public required NpgsqlLogSequenceNumber ServerWalEnd { get; init; }

    /// <summary>
    /// Bytes of WAL between <see cref="ServerWalEnd"/> and the durable checkpoint (0 when caught up): the WAL a restart
    /// would stream again, and a lower bound of what the slot retains. Also the <c>cdc.checkpoint.lag</c> gauge.
    /// </summary>
    public required long LagBytes { get; init; }

    /// <summary>Time since the last durable checkpoint (or since the acknowledger was created). Also the <c>cdc.checkpoint.age</c> gauge.</summary>
    public required TimeSpan CheckpointAge { get; init; }

    /// <summary>The commit timestamp (server clock) of the last transaction received, or <see langword="null"/> before the first.</summary>
    public DateTimeOffset? LastCommitTimestamp { get; init; }

    /// <summary>
    /// How far behind the source the consumer was when it received its last transaction: the local clock
    /// (<see cref="TimeProvider"/>) at receipt minus <see cref="LastCommitTimestamp"/>, never negative (clock skew between
    /// the hosts adds to it). <see langword="null"/> before the first transaction. It is not updated while nothing is
    /// received; <see cref="CheckpointAge"/> and <see cref="LagBytes"/> tell a stalled consumer from an idle source.
    /// </summary>
    public TimeSpan? SourceLag { get; init; }

    /// <inheritdoc />
    public override string ToString() =>
        $"slot={SlotName} verdict={Verdict?.ToString() ?? "-"} streaming={Streaming} processed={PostgresOffset.FormatLsn(Processed.Lsn)} " +
        $"durable={PostgresOffset.FormatLsn(Durable.Lsn)} acknowledged={PostgresOffset.FormatLsn(Acknowledged)} server_wal_end={PostgresOffset.FormatLsn(ServerWalEnd)} " +
        $"lag={LagBytes}B age={CheckpointAge.TotalSeconds:0.###}s source_lag={(SourceLag is { } lag ? $"{lag.TotalSeconds:0.###}s" : "-")}";
}
