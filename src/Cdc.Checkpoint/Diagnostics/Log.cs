using Cdc.Checkpoint.Offsets;
using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Diagnostics;

/// <summary>Source-generated log messages of the core assembly; event ids are listed in <see cref="CdcEventId"/>.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = CdcEventId.CheckpointSaved, Level = LogLevel.Debug,
        Message = "Saved checkpoint {SourceType} at {Offset} (committed events {Count}) to {Path}")]
    public static partial void CheckpointSaved(ILogger logger, string sourceType, CheckpointOffset offset, ulong count, string path);

    [LoggerMessage(EventId = CdcEventId.SaveRefused, Level = LogLevel.Warning,
        Message = "Refused checkpoint save for {SourceType}: {Reason}")]
    public static partial void SaveRefused(ILogger logger, string sourceType, string reason);

    [LoggerMessage(EventId = CdcEventId.SaveFailed, Level = LogLevel.Error,
        Message = "Checkpoint save for {SourceType} failed: {Reason}")]
    public static partial void SaveFailed(ILogger logger, string sourceType, string reason);

    [LoggerMessage(EventId = CdcEventId.CheckpointRewound, Level = LogLevel.Warning,
        Message = "Checkpoint {SourceType} rewound from {OldOffset} (count {OldCount}) to {NewOffset} (count {NewCount}); reason: {Reason}")]
    public static partial void CheckpointRewound(ILogger logger, string sourceType, CheckpointOffset? oldOffset, ulong? oldCount, CheckpointOffset? newOffset, ulong newCount, string reason);

    [LoggerMessage(EventId = CdcEventId.RecordUpgraded, Level = LogLevel.Information,
        Message = "Upgraded checkpoint record {Path} from format version {OldVersion} to {NewVersion}; original kept as {BackupPath}")]
    public static partial void RecordUpgraded(ILogger logger, string path, int oldVersion, int newVersion, string backupPath);

    [LoggerMessage(EventId = CdcEventId.RecordSeeded, Level = LogLevel.Information,
        Message = "Seeded checkpoint {SourceType} at {Offset} (committed events {Count}) in {Directory}")]
    public static partial void RecordSeeded(ILogger logger, string sourceType, CheckpointOffset offset, ulong count, string directory);

    [LoggerMessage(EventId = CdcEventId.InMemoryNotDurable, Level = LogLevel.Warning,
        Message = "InMemoryCheckpoint is not durable: every checkpoint is lost when the process exits and the consumer replays from the start. Use FileCheckpoint or a table store in production.")]
    public static partial void InMemoryNotDurable(ILogger logger);

    [LoggerMessage(EventId = CdcEventId.TempFileRemoved, Level = LogLevel.Information,
        Message = "Removed leftover temp file {Path} of an interrupted write")]
    public static partial void TempFileRemoved(ILogger logger, string path);

    [LoggerMessage(EventId = CdcEventId.CheckpointLoaded, Level = LogLevel.Debug,
        Message = "Loaded checkpoint {SourceType} at {Offset} (committed events {Count}) from {Path}")]
    public static partial void CheckpointLoaded(ILogger logger, string sourceType, CheckpointOffset offset, ulong count, string path);

    [LoggerMessage(EventId = CdcEventId.LeaseAcquired, Level = LogLevel.Information,
        Message = "Acquired the owner lease of {Directory} (epoch {Epoch})")]
    public static partial void LeaseAcquired(ILogger logger, string directory, long epoch);

    [LoggerMessage(EventId = CdcEventId.LeaseReleased, Level = LogLevel.Information,
        Message = "Released the owner lease of {Directory}")]
    public static partial void LeaseReleased(ILogger logger, string directory);

    [LoggerMessage(EventId = CdcEventId.LeaseTakenOver, Level = LogLevel.Warning,
        Message = "Took over the owner lease of {Directory} from {PreviousOwner}, which is no longer running")]
    public static partial void LeaseTakenOver(ILogger logger, string directory, Leasing.LeaseInfo previousOwner);

    [LoggerMessage(EventId = CdcEventId.LeaseHeld, Level = LogLevel.Warning,
        Message = "The owner lease of {Directory} is held by {Owner}")]
    public static partial void LeaseHeld(ILogger logger, string directory, string owner);

    [LoggerMessage(EventId = CdcEventId.LeaseLost, Level = LogLevel.Critical,
        Message = "Lost the owner lease of {Directory}: {Reason}; no further writes")]
    public static partial void LeaseLost(ILogger logger, string directory, string reason);

    [LoggerMessage(EventId = CdcEventId.ModifiedExternally, Level = LogLevel.Critical,
        Message = "Checkpoint file {Path} was changed by another writer: {Reason}")]
    public static partial void ModifiedExternally(ILogger logger, string path, string reason);
}
