using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Diagnostics;

// Streaming checkpoint and durable cursor messages.
internal static partial class Log
{
    [LoggerMessage(EventId = CdcEventId.StreamCheckpointTaken, Level = LogLevel.Debug,
        Message = "Took stream checkpoint {Id} (epoch {Epoch}) of {SourceCount} sources and {SinkCount} sinks")]
    public static partial void StreamCheckpointTaken(ILogger logger, ulong id, ulong epoch, int sourceCount, int sinkCount);

    [LoggerMessage(EventId = CdcEventId.StreamSnapshotSkipped, Level = LogLevel.Warning,
        Message = "Skipped stream snapshot {Path} during recovery: {Reason}")]
    public static partial void StreamSnapshotSkipped(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = CdcEventId.StreamCheckpointsRecovered, Level = LogLevel.Information,
        Message = "Recovered {Count} stream checkpoints from {Directory}; latest id {LatestId}, next id {NextId}")]
    public static partial void StreamCheckpointsRecovered(ILogger logger, int count, string directory, ulong latestId, ulong nextId);

    [LoggerMessage(EventId = CdcEventId.StreamCheckpointPruned, Level = LogLevel.Debug,
        Message = "Pruned stream checkpoint {Id}")]
    public static partial void StreamCheckpointPruned(ILogger logger, ulong id);

    [LoggerMessage(EventId = CdcEventId.StreamSnapshotDeleteFailed, Level = LogLevel.Warning,
        Message = "Could not delete pruned stream snapshot {Path}: {Reason}")]
    public static partial void StreamSnapshotDeleteFailed(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = CdcEventId.StreamSnapshotsMigrated, Level = LogLevel.Information,
        Message = "Moved {Count} legacy stream snapshot files from {Directory} into the manifest store; {LeftInPlace} unreadable ones were left in place")]
    public static partial void StreamSnapshotsMigrated(ILogger logger, int count, string directory, int leftInPlace);

    [LoggerMessage(EventId = CdcEventId.CursorSaved, Level = LogLevel.Debug,
        Message = "Saved cursor {CursorId} (started {Started}) at position {Position} to {Path}")]
    public static partial void CursorSaved(ILogger logger, string cursorId, bool started, ulong position, string path);

    [LoggerMessage(EventId = CdcEventId.CursorLoaded, Level = LogLevel.Debug,
        Message = "Loaded cursor {CursorId} (started {Started}) at position {Position} from {Path}")]
    public static partial void CursorLoaded(ILogger logger, string cursorId, bool started, ulong position, string path);

    [LoggerMessage(EventId = CdcEventId.CursorRewound, Level = LogLevel.Warning,
        Message = "Cursor {CursorId} rewound from {OldPosition} to {NewPosition}; reason: {Reason}")]
    public static partial void CursorRewound(ILogger logger, string cursorId, string oldPosition, string newPosition, string reason);

    [LoggerMessage(EventId = CdcEventId.CursorSaveRefused, Level = LogLevel.Warning,
        Message = "Refused to save cursor {CursorId}: {Reason}")]
    public static partial void CursorSaveRefused(ILogger logger, string cursorId, string reason);

    [LoggerMessage(EventId = CdcEventId.CursorGap, Level = LogLevel.Warning,
        Message = "Cursor of {ConsumerIdentity} skipped changelog positions {Expected} to {Delivered} (exclusive): {Lost} lost (overwritten, dropped or popped), {Cancelled} cancelled")]
    public static partial void CursorGap(ILogger logger, string consumerIdentity, ulong expected, ulong delivered, ulong lost, ulong cancelled);
}
