using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.S3;

/// <summary>Event ids of the S3 manifest store (range 7000–7099).</summary>
public static class S3EventId
{
    /// <summary>A checkpoint manifest was created.</summary>
    public const int ManifestSaved = 7000;

    /// <summary>The latest pointer already named a newer checkpoint and was kept.</summary>
    public const int LatestPointerKept = 7001;

    /// <summary>The latest pointer is missing its target or unreadable; the store falls back to listing.</summary>
    public const int LatestPointerInvalid = 7002;

    /// <summary>An old checkpoint was pruned.</summary>
    public const int CheckpointPruned = 7003;

    /// <summary>Pruning after a save failed; the save itself succeeded.</summary>
    public const int PruneFailed = 7004;

    /// <summary>An orphan sidecar of an interrupted save was removed.</summary>
    public const int OrphanRemoved = 7005;

    /// <summary>Recovery skipped an invalid checkpoint.</summary>
    public const int InvalidCheckpointSkipped = 7006;

    /// <summary>Recovery picked a checkpoint.</summary>
    public const int CheckpointRecovered = 7007;
}

internal static partial class S3Log
{
    [LoggerMessage(EventId = S3EventId.ManifestSaved, Level = LogLevel.Information, Message = "Saved checkpoint {CheckpointId} (epoch {Epoch}, sidecar {SidecarBytes} bytes) at {Key}")]
    public static partial void ManifestSaved(ILogger logger, ulong checkpointId, ulong epoch, int sidecarBytes, string key);

    [LoggerMessage(EventId = S3EventId.LatestPointerKept, Level = LogLevel.Warning, Message = "Saved checkpoint {CheckpointId} but the latest pointer already names newer checkpoint {Latest}; it was kept")]
    public static partial void LatestPointerKept(ILogger logger, ulong checkpointId, ulong latest);

    [LoggerMessage(EventId = S3EventId.LatestPointerInvalid, Level = LogLevel.Warning, Message = "Latest pointer {Key} {Problem}; falling back to listing the manifests")]
    public static partial void LatestPointerInvalid(ILogger logger, string key, string problem);

    [LoggerMessage(EventId = S3EventId.CheckpointPruned, Level = LogLevel.Debug, Message = "Pruned checkpoint {CheckpointId} ({Key})")]
    public static partial void CheckpointPruned(ILogger logger, ulong checkpointId, string key);

    [LoggerMessage(EventId = S3EventId.PruneFailed, Level = LogLevel.Warning, Message = "Pruning old checkpoints in {Store} failed after a successful save: {Reason}")]
    public static partial void PruneFailed(ILogger logger, string store, string reason);

    [LoggerMessage(EventId = S3EventId.OrphanRemoved, Level = LogLevel.Information, Message = "Removed orphan sidecar {Key} left by an interrupted save")]
    public static partial void OrphanRemoved(ILogger logger, string key);

    [LoggerMessage(EventId = S3EventId.InvalidCheckpointSkipped, Level = LogLevel.Warning, Message = "Recovery skipped checkpoint {CheckpointId}: {Reason}")]
    public static partial void InvalidCheckpointSkipped(ILogger logger, ulong checkpointId, string reason);

    [LoggerMessage(EventId = S3EventId.CheckpointRecovered, Level = LogLevel.Information, Message = "Recovered checkpoint {CheckpointId} (epoch {Epoch}) from {Store} after examining {Examined}, skipping {Skipped}")]
    public static partial void CheckpointRecovered(ILogger logger, ulong checkpointId, ulong epoch, string store, int examined, int skipped);
}
