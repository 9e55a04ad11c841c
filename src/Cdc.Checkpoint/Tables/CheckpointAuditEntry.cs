namespace Cdc.Checkpoint.Tables;

/// <summary>
/// One row of a table store's audit table, as read by <c>ReadAuditAsync</c>: a rewind (a write that skipped the progress
/// guards) with what the row held before, what it holds after, who wrote it and why. The offsets are kept as the JSON the
/// table holds, so that an entry stays readable even when no codec for its source type is registered.
/// </summary>
/// <param name="Id">The audit row's id; grows with every rewind of the table.</param>
/// <param name="SourceType">The source type of the rewound row.</param>
/// <param name="OldOffsetJson">The offset JSON before the rewind; <see langword="null"/> when there was no row.</param>
/// <param name="OldCount">The committed event count before the rewind; <see langword="null"/> when there was no row.</param>
/// <param name="NewOffsetJson">The offset JSON the rewind wrote.</param>
/// <param name="NewCount">The committed event count the rewind wrote.</param>
/// <param name="Epoch">The fencing epoch of the owner that rewound.</param>
/// <param name="Reason">The reason given to <see cref="ICheckpointStore.RewindAsync"/>.</param>
/// <param name="At">When the rewind happened, by the rewinding store's clock (UTC).</param>
public sealed record CheckpointAuditEntry(
    long Id,
    string SourceType,
    string? OldOffsetJson,
    ulong? OldCount,
    string NewOffsetJson,
    ulong NewCount,
    long Epoch,
    string Reason,
    DateTimeOffset At);
