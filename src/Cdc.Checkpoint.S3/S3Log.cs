using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.S3;

/// <summary>
/// Event ids of the S3 manifest store's writes (range 7000–7099). Loading, validation and recovery log with the core
/// manifest event ids (<c>CdcEventId</c> 3100–3199), the same for every manifest store.
/// </summary>
public static class S3EventId
{
    /// <summary>A checkpoint manifest was created.</summary>
    public const int ManifestSaved = 7000;

    /// <summary>The latest pointer already named a newer checkpoint and was kept.</summary>
    public const int LatestPointerKept = 7001;

    // 7002, 7006 and 7007 (pointer invalid, checkpoint skipped, checkpoint recovered) are now the core manifest ids 3103, 3106 and 3107.

    /// <summary>An old checkpoint was pruned.</summary>
    public const int CheckpointPruned = 7003;

    /// <summary>Pruning after a save failed; the save itself succeeded.</summary>
    public const int PruneFailed = 7004;

    /// <summary>An orphan sidecar of an interrupted save was removed.</summary>
    public const int OrphanRemoved = 7005;
}

internal static partial class S3Log
{
    [LoggerMessage(EventId = S3EventId.ManifestSaved, Level = LogLevel.Information, Message = "Saved checkpoint {CheckpointId} (epoch {Epoch}, sidecar {SidecarBytes} bytes) at {Key}")]
    public static partial void ManifestSaved(ILogger logger, ulong checkpointId, ulong epoch, int sidecarBytes, string key);

    [LoggerMessage(EventId = S3EventId.LatestPointerKept, Level = LogLevel.Warning, Message = "Saved checkpoint {CheckpointId} but the latest pointer already names newer checkpoint {Latest}; it was kept")]
    public static partial void LatestPointerKept(ILogger logger, ulong checkpointId, ulong latest);

    [LoggerMessage(EventId = S3EventId.CheckpointPruned, Level = LogLevel.Debug, Message = "Pruned checkpoint {CheckpointId} ({Key})")]
    public static partial void CheckpointPruned(ILogger logger, ulong checkpointId, string key);

    [LoggerMessage(EventId = S3EventId.PruneFailed, Level = LogLevel.Warning, Message = "Pruning old checkpoints in {Store} failed after a successful save: {Reason}")]
    public static partial void PruneFailed(ILogger logger, string store, string reason);

    [LoggerMessage(EventId = S3EventId.OrphanRemoved, Level = LogLevel.Information, Message = "Removed orphan sidecar {Key} left by an interrupted save")]
    public static partial void OrphanRemoved(ILogger logger, string key);

}
