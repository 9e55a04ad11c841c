using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint;

/// <summary>A stored checkpoint: a typed offset and the number of events committed at it.</summary>
/// <param name="SourceType">The source type the record is stored under.</param>
/// <param name="CommittedEventCount">Events durably committed up to <paramref name="Offset"/>.</param>
/// <param name="Offset">The typed offset.</param>
public sealed record CheckpointRecord(string SourceType, ulong CommittedEventCount, CheckpointOffset Offset)
{
    /// <summary>The on-disk format version the record was read from (the current one for new records).</summary>
    public int FormatVersion { get; init; }

    /// <summary>
    /// The store-wide write sequence of this record: it grows with every save in the same directory or table, and
    /// decides which record is the latest without looking at file times. 0 for records of formats that had none.
    /// </summary>
    public ulong Sequence { get; init; }

    /// <summary>When the record was saved, if the format records it.</summary>
    public DateTimeOffset? SavedAt { get; init; }

    /// <summary>The fencing epoch of the owner that wrote it, for stores that fence (table stores); 0 otherwise.</summary>
    public long Epoch { get; init; }
}
