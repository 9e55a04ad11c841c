using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Cdc.Checkpoint.Diagnostics;

/// <summary>
/// Instruments of streaming checkpoints and durable cursors, on the one <c>Cdc.Checkpoint</c> meter
/// (<see cref="CheckpointMetrics"/>). Durations are in seconds; failures carry <c>error.type</c>.
/// </summary>
internal static class StreamingMetrics
{
    /// <summary>Checkpoints taken by stream checkpoint managers (failed snapshot writes tagged with <c>error.type</c>).</summary>
    internal static readonly Counter<long> Checkpoints = CheckpointMetrics.Meter.CreateCounter<long>(
        "cdc.checkpoint.stream.checkpoints", unit: "{checkpoint}", description: "Stream checkpoints taken, successful and failed.");

    /// <summary>Time to capture (and, with a data directory, write) one stream checkpoint.</summary>
    internal static readonly Histogram<double> CheckpointDuration = CheckpointMetrics.Meter.CreateHistogram<double>(
        "cdc.checkpoint.stream.checkpoint.duration", unit: "s", description: "Duration of stream checkpoints, including the snapshot write.");

    /// <summary>Size of written stream snapshots.</summary>
    internal static readonly Histogram<long> SnapshotSize = CheckpointMetrics.Meter.CreateHistogram<long>(
        "cdc.checkpoint.stream.snapshot.size", unit: "By", description: "Size of stream snapshot files written.");

    /// <summary>Durable cursor saves and rewinds (refusals and failures tagged with <c>error.type</c>).</summary>
    internal static readonly Counter<long> CursorSaves = CheckpointMetrics.Meter.CreateCounter<long>(
        "cdc.checkpoint.cursor.saves", unit: "{save}", description: "Durable cursor saves, successful, refused and failed.");

    /// <summary>Changelog positions pull cursors skipped, tagged <c>cdc.gap.kind</c> = <c>lost</c> or <c>cancelled</c>.</summary>
    internal static readonly Counter<long> CursorSkipped = CheckpointMetrics.Meter.CreateCounter<long>(
        "cdc.checkpoint.cursor.skipped", unit: "{position}", description: "Changelog positions a pull cursor never delivered: lost (overwritten, dropped, popped) or cancelled.");

    internal static void RecordCheckpoint(long startTimestamp, CheckpointErrorCode? error)
    {
        var tags = default(TagList);
        if (error is { } code)
        {
            tags.Add("error.type", code.ToString());
        }

        CheckpointDuration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tags);
        Checkpoints.Add(1, tags);
    }

    internal static void RecordCursorSave(string operation, CheckpointErrorCode? error)
    {
        var tags = new TagList { { "cdc.operation", operation } };
        if (error is { } code)
        {
            tags.Add("error.type", code.ToString());
        }

        CursorSaves.Add(1, tags);
    }

    internal static void RecordCursorGap(ulong lost, ulong cancelled)
    {
        if (lost > 0)
        {
            CursorSkipped.Add((long)Math.Min(lost, long.MaxValue), new KeyValuePair<string, object?>("cdc.gap.kind", "lost"));
        }

        if (cancelled > 0)
        {
            CursorSkipped.Add((long)Math.Min(cancelled, long.MaxValue), new KeyValuePair<string, object?>("cdc.gap.kind", "cancelled"));
        }
    }
}
