namespace Cdc.Checkpoint.Diagnostics;

/// <summary>Event ids of the append-only checkpoint log (core range, 1100–1109).</summary>
public static partial class CdcEventId
{
    /// <summary>A checkpoint log wrote a fresh segment (a new owner's first save, or a compaction).</summary>
    public const int LogSegmentWritten = 1100;

    /// <summary>Recovery ignored the damaged last frame of a checkpoint log segment: an interrupted, unacknowledged save.</summary>
    public const int LogTornTailIgnored = 1101;
}
