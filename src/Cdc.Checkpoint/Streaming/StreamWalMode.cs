namespace Cdc.Checkpoint.Streaming;

/// <summary>How a <see cref="StreamCheckpointManager"/> with a data directory writes each snapshot file.</summary>
public enum StreamWalMode
{
    /// <summary>
    /// Write, fsync the file, rename, fsync the directory before <see cref="StreamCheckpointManager.Trigger"/> returns:
    /// a returned checkpoint survives a power loss.
    /// </summary>
    Sync = 0,

    /// <summary>
    /// Write and rename without fsync: cheaper and safe against a process crash, but after a power loss the newest
    /// snapshots may be missing or damaged. The CRC detects damage and recovery falls back to the newest valid snapshot.
    /// </summary>
    Async = 1,
}
