using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Diagnostics;

/// <summary>Log messages of the manifest store and checkpoint coordinator (event ids 3100–3199).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = CdcEventId.ManifestSaved, Level = LogLevel.Debug,
        Message = "Saved checkpoint manifest {CheckpointId} (epoch {Epoch}, {SourceCount} sources, sidecar {SidecarBytes} bytes) to {Path}")]
    public static partial void ManifestSaved(ILogger logger, ulong checkpointId, ulong epoch, int sourceCount, long sidecarBytes, string path);

    [LoggerMessage(EventId = CdcEventId.ManifestLoaded, Level = LogLevel.Debug,
        Message = "Loaded checkpoint manifest {CheckpointId} (epoch {Epoch}) from {Path}")]
    public static partial void ManifestLoaded(ILogger logger, ulong checkpointId, ulong epoch, string path);

    [LoggerMessage(EventId = CdcEventId.LatestPointerKept, Level = LogLevel.Warning,
        Message = "Saved checkpoint {CheckpointId} but the latest pointer already names the newer checkpoint {LatestId}; the pointer was not moved back (a delayed or second writer?)")]
    public static partial void LatestPointerKept(ILogger logger, ulong checkpointId, ulong latestId);

    [LoggerMessage(EventId = CdcEventId.LatestPointerInvalid, Level = LogLevel.Warning,
        Message = "The latest pointer {Path} {Problem}; scanning the checkpoint directories instead")]
    public static partial void LatestPointerInvalid(ILogger logger, string path, string problem);

    [LoggerMessage(EventId = CdcEventId.CheckpointPruned, Level = LogLevel.Information,
        Message = "Pruned checkpoint {CheckpointId} ({Path})")]
    public static partial void CheckpointPruned(ILogger logger, ulong checkpointId, string path);

    [LoggerMessage(EventId = CdcEventId.PruneFailed, Level = LogLevel.Warning,
        Message = "Pruning old checkpoints in {Directory} failed after a successful save; old checkpoints may accumulate until the next prune: {Reason}")]
    public static partial void PruneFailed(ILogger logger, string directory, string reason);

    [LoggerMessage(EventId = CdcEventId.InvalidCheckpointSkipped, Level = LogLevel.Warning,
        Message = "Recovery skipped invalid checkpoint {CheckpointId}: {Reason}")]
    public static partial void InvalidCheckpointSkipped(ILogger logger, ulong checkpointId, string reason);

    [LoggerMessage(EventId = CdcEventId.CheckpointRecovered, Level = LogLevel.Information,
        Message = "Recovered checkpoint {CheckpointId} (epoch {Epoch}) from {Directory} after examining {Examined} and skipping {Skipped}")]
    public static partial void CheckpointRecovered(ILogger logger, ulong checkpointId, ulong epoch, string directory, int examined, int skipped);

    [LoggerMessage(EventId = CdcEventId.OrphanCheckpointRemoved, Level = LogLevel.Information,
        Message = "Removed orphaned checkpoint directory {Path} (no manifest; left by an interrupted save)")]
    public static partial void OrphanCheckpointRemoved(ILogger logger, string path);

    [LoggerMessage(EventId = CdcEventId.SinkStatusesUpdated, Level = LogLevel.Information,
        Message = "Updated sink commit statuses of checkpoint {CheckpointId}: {Statuses}")]
    public static partial void SinkStatusesUpdated(ILogger logger, ulong checkpointId, string statuses);

    [LoggerMessage(EventId = CdcEventId.GroupCommitWritten, Level = LogLevel.Debug,
        Message = "Committed checkpoint {CheckpointId} for {Requests} commit requests")]
    public static partial void GroupCommitWritten(ILogger logger, ulong checkpointId, int requests);

    [LoggerMessage(EventId = CdcEventId.GroupCommitFailed, Level = LogLevel.Error,
        Message = "Committing checkpoint {CheckpointId} failed for {Requests} commit requests: {Reason}")]
    public static partial void GroupCommitFailed(ILogger logger, ulong checkpointId, int requests, string reason);

    [LoggerMessage(EventId = CdcEventId.OffsetReportRefused, Level = LogLevel.Warning,
        Message = "Refused offset for source {Source}: {Reason}")]
    public static partial void OffsetReportRefused(ILogger logger, string source, string reason);

    [LoggerMessage(EventId = CdcEventId.SourceRewound, Level = LogLevel.Warning,
        Message = "Source {Source} rewound from {OldOffset} to {NewOffset} (committed events {Count}); reason: {Reason}")]
    public static partial void SourceRewound(ILogger logger, string source, string oldOffset, string newOffset, ulong count, string reason);

    [LoggerMessage(EventId = CdcEventId.CoordinatorRestored, Level = LogLevel.Information,
        Message = "Checkpoint coordinator restored {SourceCount} sources from checkpoint {CheckpointId} (epoch {Epoch}); {Skipped} invalid newer checkpoints skipped; next checkpoint id {NextId}")]
    public static partial void CoordinatorRestored(ILogger logger, int sourceCount, ulong checkpointId, ulong epoch, int skipped, ulong nextId);

    [LoggerMessage(EventId = CdcEventId.CoordinatorFreshStart, Level = LogLevel.Information,
        Message = "Checkpoint coordinator found no checkpoint and starts fresh")]
    public static partial void CoordinatorFreshStart(ILogger logger);
}
