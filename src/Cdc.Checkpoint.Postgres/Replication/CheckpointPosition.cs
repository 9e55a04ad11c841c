using NpgsqlTypes;

namespace Cdc.Checkpoint.Postgres.Replication;

/// <summary>
/// A position a <see cref="ReplicationAcknowledger"/> hands out: the offset to checkpoint and the committed event
/// count to store with it. Save exactly these two values (<see cref="ICheckpointStore.SaveAsync"/>, or the table store's
/// transactional save), then report the position with <see cref="ReplicationAcknowledger.MarkDurableAsync"/>.
/// </summary>
/// <param name="Offset">The offset: the end LSN of the last processed transaction, on the session's slot and server.</param>
/// <param name="CommittedEventCount">The committed event count to store with it.</param>
public sealed record CheckpointPosition(PostgresOffset Offset, ulong CommittedEventCount)
{
    /// <summary>The LSN of <see cref="Offset"/>.</summary>
    public NpgsqlLogSequenceNumber Lsn => Offset.Lsn;

    /// <inheritdoc />
    public override string ToString() => $"{Offset} count={CommittedEventCount}";
}
