using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Diagnostics;

/// <summary>Log messages of the append-only checkpoint log (event ids 1100–1109).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = CdcEventId.LogSegmentWritten, Level = LogLevel.Debug,
        Message = "Wrote checkpoint log segment {SegmentId} to {Path}: {RecordCount} live records, {SegmentBytes} bytes")]
    public static partial void LogSegmentWritten(ILogger logger, string path, ulong segmentId, int recordCount, int segmentBytes);

    [LoggerMessage(EventId = CdcEventId.LogTornTailIgnored, Level = LogLevel.Warning,
        Message = "Ignored the damaged last frame at byte {Position} of checkpoint log {Path} ({Reason}): a save interrupted before it was acknowledged; the newest complete frame is used and the next save starts a fresh segment")]
    public static partial void LogTornTailIgnored(ILogger logger, string path, int position, string reason);
}
