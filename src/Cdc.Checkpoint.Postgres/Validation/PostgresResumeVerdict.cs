namespace Cdc.Checkpoint.Postgres.Validation;

/// <summary>
/// What a resume validation found when it compared a checkpointed <see cref="PostgresOffset"/> with the live server
/// (<c>IDENTIFY_SYSTEM</c>, the timeline history and <c>pg_replication_slots</c>). See <c>docs/postgres.md</c> for the
/// operator's action for each verdict.
/// </summary>
/// <remarks>Numeric values are stable; new verdicts are only appended.</remarks>
public enum PostgresResumeVerdict
{
    /// <summary>Safe: the slot exists, is free, is at or behind the checkpoint, and the checkpoint belongs to this server and history.</summary>
    Resume = 0,

    /// <summary>
    /// Safe: the server is on a newer timeline, and the checkpoint lies at or before the point where its timeline ended
    /// in the server's history, so every change after it is still on the new timeline.
    /// </summary>
    ResumeOnNewTimeline = 1,

    /// <summary>No checkpoint and no slot: a fresh start that creates the slot and records its consistent point.</summary>
    FreshStart = 2,

    /// <summary>No checkpoint, but the slot exists: the checkpoint may have been lost, or the slot belongs to another consumer.</summary>
    SlotWithoutCheckpoint = 3,

    /// <summary>A checkpoint exists, but its slot does not (dropped): the changes after the checkpoint are no longer retained.</summary>
    SlotMissing = 4,

    /// <summary>The slot's <c>confirmed_flush_lsn</c> is ahead of the checkpoint: the server would skip the transactions in between (events lost).</summary>
    SlotAhead = 5,

    /// <summary>The checkpoint is ahead of anything the server has written: another server, or a server restored from an older backup.</summary>
    CheckpointAhead = 6,

    /// <summary>The checkpoint was taken on another cluster (a different system identifier).</summary>
    SystemMismatch = 7,

    /// <summary>The checkpoint lies on a timeline the server's history does not contain up to the checkpoint (a failover forked before it).</summary>
    TimelineDiverged = 8,

    /// <summary>The slot was invalidated (<c>wal_status</c> <c>lost</c> or no <c>restart_lsn</c>): the WAL it needed has been removed.</summary>
    SlotInvalidated = 9,

    /// <summary>The slot is active in another process (<c>active_pid</c>).</summary>
    SlotInUse = 10,

    /// <summary>The slot is not a logical slot of the expected output plugin.</summary>
    WrongPlugin = 11,

    /// <summary>The slot or the checkpoint belongs to another database than the one the replication connection is attached to.</summary>
    WrongDatabase = 12,
}
