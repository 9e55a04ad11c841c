using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Cdc.Checkpoint.Diagnostics;

/// <summary>
/// The instruments of the one <see cref="Meter"/> named <c>Cdc.Checkpoint</c>. Durations are in seconds
/// (OpenTelemetry convention); failures carry an <c>error.type</c> tag with the <see cref="CheckpointErrorCode"/>.
/// </summary>
public static class CheckpointMetrics
{
    /// <summary>The meter name.</summary>
    public const string MeterName = "Cdc.Checkpoint";

    internal static readonly Meter Meter = new(MeterName, typeof(CheckpointMetrics).Assembly.GetName().Version?.ToString());

    /// <summary>Duration of checkpoint saves, in seconds; tags <c>cdc.store</c>, <c>cdc.source_type</c>, <c>error.type</c> on failure.</summary>
    internal static readonly Histogram<double> SaveDuration = Meter.CreateHistogram<double>(
        "cdc.checkpoint.save.duration", unit: "s", description: "Duration of durable checkpoint saves.");

    /// <summary>Number of saves attempted; tags as for the duration.</summary>
    internal static readonly Counter<long> Saves = Meter.CreateCounter<long>(
        "cdc.checkpoint.saves", unit: "{save}", description: "Checkpoint saves, successful and failed.");

    /// <summary>Saves refused by a guard (regression, conflict, divergence).</summary>
    internal static readonly Counter<long> Refusals = Meter.CreateCounter<long>(
        "cdc.checkpoint.refusals", unit: "{save}", description: "Checkpoint saves refused by a progress guard.");

    internal static void RecordSave(string store, string sourceType, long startTimestamp, CheckpointErrorCode? error)
    {
        var elapsed = Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds;
        var tags = new TagList
        {
            { "cdc.store", store },
            { "cdc.source_type", sourceType },
        };
        if (error is { } code)
        {
            tags.Add("error.type", code.ToString());
        }

        SaveDuration.Record(elapsed, tags);
        Saves.Add(1, tags);
        if (error is CheckpointErrorCode.OffsetRegression or CheckpointErrorCode.ConflictingOffset or CheckpointErrorCode.OffsetDiverged)
        {
            Refusals.Add(1, tags);
        }
    }
}
