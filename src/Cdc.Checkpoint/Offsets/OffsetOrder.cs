namespace Cdc.Checkpoint.Offsets;

/// <summary>
/// Where one offset stands relative to another offset of the same source, in the order of progress.
/// </summary>
public enum OffsetOrder
{
    /// <summary>This offset is behind the other: resuming from it redelivers events.</summary>
    Before = -1,

    /// <summary>Both offsets name the same position.</summary>
    Same = 0,

    /// <summary>This offset is ahead of the other.</summary>
    After = 1,

    /// <summary>
    /// The offsets cannot be compared: another slot, another server, or a GTID history that is neither a subset
    /// nor a superset of the other. Moving from one to the other is never treated as progress.
    /// </summary>
    Diverged = 2,
}
