namespace Cdc.Checkpoint.Files;

/// <summary>What a checkpoint log segment holds, read without the owner lease by <see cref="CheckpointLog.ReadAsync"/>.</summary>
/// <param name="SegmentPath">The segment file.</param>
/// <param name="FormatVersion">The segment format version.</param>
/// <param name="SegmentId">The segment id (grows with every fresh segment written in the directory).</param>
/// <param name="SegmentBytes">The segment's length (preallocated).</param>
/// <param name="FrameCount">Valid frames in the segment.</param>
/// <param name="Tail">Where the valid frames end.</param>
/// <param name="TornTailPosition">Where a damaged last frame starts (an interrupted save, ignored by recovery), or <see langword="null"/>.</param>
/// <param name="TornTailReason">What is wrong with that frame, or <see langword="null"/>.</param>
/// <param name="Records">The newest record of each source type, ordered by source type.</param>
/// <param name="Latest">The record with the highest write sequence, or <see langword="null"/> when there is none.</param>
/// <param name="Mode">The segment's permission bits (Linux), or <see langword="null"/>.</param>
public sealed record CheckpointLogContents(
    string SegmentPath,
    int FormatVersion,
    ulong SegmentId,
    long SegmentBytes,
    int FrameCount,
    long Tail,
    long? TornTailPosition,
    string? TornTailReason,
    IReadOnlyList<CheckpointRecord> Records,
    CheckpointRecord? Latest,
    UnixFileMode? Mode);
