using System.Globalization;
using System.Text;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Postgres.Validation;

/// <summary>One row of <c>pg_replication_slots</c>, as a resume validation read it.</summary>
public sealed class ReplicationSlotFacts
{
    /// <summary>The slot name.</summary>
    public required string SlotName { get; init; }

    /// <summary><c>slot_type</c>: <c>logical</c> or <c>physical</c>.</summary>
    public required string SlotType { get; init; }

    /// <summary><c>plugin</c>: the output plugin of a logical slot; <see langword="null"/> for a physical slot.</summary>
    public string? Plugin { get; init; }

    /// <summary><c>database</c>: the database of a logical slot; <see langword="null"/> for a physical slot.</summary>
    public string? Database { get; init; }

    /// <summary><c>active_pid</c>: the process streaming the slot, or <see langword="null"/> when it is free.</summary>
    public int? ActivePid { get; init; }

    /// <summary><c>restart_lsn</c>: the oldest WAL the slot retains; <see langword="null"/> once the slot is invalidated.</summary>
    public NpgsqlLogSequenceNumber? RestartLsn { get; init; }

    /// <summary><c>confirmed_flush_lsn</c>: what consumers have acknowledged; the server skips transactions committed before it.</summary>
    public NpgsqlLogSequenceNumber? ConfirmedFlushLsn { get; init; }

    /// <summary><c>wal_status</c>: <c>reserved</c>, <c>extended</c>, <c>unreserved</c> or <c>lost</c> (PostgreSQL 13+).</summary>
    public string? WalStatus { get; init; }

    /// <inheritdoc />
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"slot {SlotName}: type={SlotType} plugin={Plugin ?? "-"} database={Database ?? "-"} active_pid={(ActivePid is { } pid ? pid.ToString(CultureInfo.InvariantCulture) : "-")} restart_lsn={Format(RestartLsn)} confirmed_flush_lsn={Format(ConfirmedFlushLsn)} wal_status={WalStatus ?? "-"}");

    internal static string Format(NpgsqlLogSequenceNumber? lsn) => lsn is { } value ? PostgresOffset.FormatLsn(value) : "null";
}

/// <summary>The facts a resume validation based its verdict on: the server (<c>IDENTIFY_SYSTEM</c>), the slot and the checkpoint.</summary>
public sealed class PostgresResumeFacts
{
    /// <summary>The slot the consumer streams.</summary>
    public required string SlotName { get; init; }

    /// <summary>The checkpoint being resumed, or <see langword="null"/> when there is none.</summary>
    public PostgresOffset? Checkpoint { get; init; }

    /// <summary>The server's system identifier (<c>IDENTIFY_SYSTEM</c>).</summary>
    public required ulong ServerSystemIdentifier { get; init; }

    /// <summary>The server's current timeline (<c>IDENTIFY_SYSTEM</c>).</summary>
    public required uint ServerTimeline { get; init; }

    /// <summary>The server's WAL flush position when validated (<c>IDENTIFY_SYSTEM</c> <c>xlogpos</c>).</summary>
    public required NpgsqlLogSequenceNumber ServerWalPosition { get; init; }

    /// <summary>The database the replication connection is attached to (<c>IDENTIFY_SYSTEM</c> <c>dbname</c>).</summary>
    public required string ServerDatabase { get; init; }

    /// <summary>The slot's row in <c>pg_replication_slots</c>, or <see langword="null"/> when the slot does not exist.</summary>
    public ReplicationSlotFacts? Slot { get; init; }

    /// <summary>
    /// When the checkpoint is on an older timeline: the LSN where that timeline ended in the server's history, or
    /// <see langword="null"/> when the history does not contain it (or the timelines are equal).
    /// </summary>
    public NpgsqlLogSequenceNumber? TimelineSwitchPoint { get; init; }

    /// <summary>Why the server's timeline history could not be read, when it was needed and could not; otherwise <see langword="null"/>.</summary>
    public string? TimelineHistoryProblem { get; init; }

    /// <inheritdoc />
    public override string ToString()
    {
        var text = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"server system_identifier={ServerSystemIdentifier} timeline={ServerTimeline} wal_flush={PostgresOffset.FormatLsn(ServerWalPosition)} database={ServerDatabase}; ")
            .Append(Slot?.ToString() ?? $"slot {SlotName}: does not exist")
            .Append("; checkpoint: ")
            .Append(Checkpoint?.ToString() ?? "none");
        if (TimelineSwitchPoint is { } switchPoint)
        {
            text.Append("; checkpoint timeline ended at ").Append(PostgresOffset.FormatLsn(switchPoint));
        }

        return text.ToString();
    }
}
