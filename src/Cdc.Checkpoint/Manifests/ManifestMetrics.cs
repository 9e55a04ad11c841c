using System.Diagnostics;
using System.Diagnostics.Metrics;
using Cdc.Checkpoint.Diagnostics;

namespace Cdc.Checkpoint.Manifests;

/// <summary>Instruments of the manifest store and coordinator, on the shared <c>Cdc.Checkpoint</c> meter.</summary>
internal static class ManifestMetrics
{
    /// <summary>Durable manifest writes (saves and sink-status rewrites); <c>error.type</c> on failure.</summary>
    public static readonly Counter<long> Writes = CheckpointMetrics.Meter.CreateCounter<long>(
        "cdc.checkpoint.manifest.writes", unit: "{write}", description: "Durable checkpoint manifest writes, successful and failed.");

    /// <summary>Duration of a manifest save including its sidecar and pointer, in seconds.</summary>
    public static readonly Histogram<double> WriteDuration = CheckpointMetrics.Meter.CreateHistogram<double>(
        "cdc.checkpoint.manifest.write.duration", unit: "s", description: "Duration of durable checkpoint manifest saves.");

    /// <summary>Commit requests made of a coordinator.</summary>
    public static readonly Counter<long> CommitRequests = CheckpointMetrics.Meter.CreateCounter<long>(
        "cdc.checkpoint.manifest.commit.requests", unit: "{request}", description: "Commit requests made of checkpoint coordinators.");

    /// <summary>Commit requests served by one durable manifest write (group commit batch size).</summary>
    public static readonly Histogram<long> BatchSize = CheckpointMetrics.Meter.CreateHistogram<long>(
        "cdc.checkpoint.manifest.commit.batch_size", unit: "{request}", description: "Commit requests served by one durable manifest write.");

    public static void RecordWrite(long startTimestamp, CheckpointErrorCode? error)
    {
        var tags = new TagList();
        if (error is { } code)
        {
            tags.Add("error.type", code.ToString());
        }

        WriteDuration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tags);
        Writes.Add(1, tags);
    }
}
