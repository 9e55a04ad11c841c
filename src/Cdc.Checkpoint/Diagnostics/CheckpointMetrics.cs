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

    /// <summary>
    /// The bucket boundaries advised for <c>cdc.checkpoint.save.duration</c>, in seconds: 0.1 ms to 10 s. A durable save
    /// takes from about 0.1 ms (tmpfs) through 1–25 ms (fsync on SSDs, a database commit) to seconds (a stalled disk);
    /// OpenTelemetry's default buckets (0, 5, 10, 25 … 10000) would put every one of them in the first bucket.
    /// </summary>
    public static IReadOnlyList<double> SaveDurationBuckets { get; } =
        [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>Duration of checkpoint saves, in seconds; tags <c>cdc.store</c>, <c>cdc.source_type</c>, <c>error.type</c> on failure.</summary>
    internal static readonly Histogram<double> SaveDuration = Meter.CreateHistogram(
        "cdc.checkpoint.save.duration",
        unit: "s",
        description: "Duration of durable checkpoint saves.",
        tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SaveDurationBuckets });

    /// <summary>Number of saves attempted; tags as for the duration.</summary>
    internal static readonly Counter<long> Saves = Meter.CreateCounter<long>(
        "cdc.checkpoint.saves", unit: "{save}", description: "Checkpoint saves, successful and failed.");

    /// <summary>Saves refused by a guard (regression, conflict, divergence).</summary>
    internal static readonly Counter<long> Refusals = Meter.CreateCounter<long>(
        "cdc.checkpoint.refusals", unit: "{save}", description: "Checkpoint saves refused by a progress guard.");

    internal static void RecordSave(string store, string sourceType, long startTimestamp, CheckpointErrorCode? error)
    {
        var duration = Stopwatch.GetElapsedTime(startTimestamp);
        var elapsed = duration.TotalSeconds;
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

        RecordSaveSpan(store, sourceType, duration, error);
    }

    // The save span is recorded once the save is over, with its real start time, as a child of the caller's current
    // span: one place for every store (they all report through RecordSave) instead of a span opened in each of them.
    // The span is therefore not current during the save, so a database client's own spans are its siblings.
    private static void RecordSaveSpan(string store, string sourceType, TimeSpan duration, CheckpointErrorCode? error)
    {
        if (!CheckpointActivitySource.Source.HasListeners())
        {
            return;
        }

        var end = DateTimeOffset.UtcNow;
        using var activity = CheckpointActivitySource.Source.StartActivity("cdc.checkpoint.save", ActivityKind.Internal, parentContext: default, startTime: end - duration);
        if (activity is null)
        {
            return;
        }

        activity.SetTag("cdc.store", store);
        activity.SetTag("cdc.source_type", sourceType);
        if (error is { } code)
        {
            CheckpointActivitySource.SetError(activity, code.ToString());
        }

        activity.SetEndTime(end.UtcDateTime);
    }
}
