using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Cdc.Checkpoint.Postgres.Replication;
using Cdc.Checkpoint.Postgres.Validation;

namespace Cdc.Checkpoint.Postgres.Diagnostics;

/// <summary>
/// The PostgreSQL instruments, on a <see cref="Meter"/> named <c>Cdc.Checkpoint</c> like every instrument of the
/// library (a listener enabling that name sees them all).
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><c>cdc.checkpoint.lag</c> (gauge, <c>By</c>): the server's WAL end seen by a replication session minus its durable checkpoint LSN.</item>
/// <item><c>cdc.checkpoint.age</c> (gauge, <c>s</c>): time since the session's last durable checkpoint.</item>
/// <item><c>cdc.checkpoint.postgres.acknowledged_lsn</c> (gauge, <c>By</c>): the LSN last reported to the server as flushed (a WAL byte position).</item>
/// <item><c>cdc.checkpoint.postgres.resume.verdicts</c> (counter): resume validations, tagged <c>cdc.verdict</c>, <c>cdc.action</c> and <c>cdc.slot</c>.</item>
/// <item><c>cdc.checkpoint.postgres.idle_advances</c> (counter): checkpoints taken from a keepalive's WAL end while idle, tagged <c>cdc.slot</c>.</item>
/// <item><c>cdc.checkpoint.source.lag</c> (histogram, <c>s</c>): at each transaction received, the local clock minus the transaction's commit timestamp, tagged <c>cdc.source_type</c> and <c>cdc.slot</c>.</item>
/// </list>
/// Gauges carry <c>cdc.source_type</c> = <c>postgres</c> and <c>cdc.slot</c>, one measurement per live acknowledger.
/// </remarks>
internal static class PostgresMetrics
{
    internal const string MeterName = "Cdc.Checkpoint";

    internal static readonly Meter Meter = new(MeterName, typeof(PostgresMetrics).Assembly.GetName().Version?.ToString());

    internal static readonly Counter<long> Verdicts = Meter.CreateCounter<long>(
        "cdc.checkpoint.postgres.resume.verdicts", unit: "{validation}", description: "PostgreSQL resume validations by verdict and action.");

    internal static readonly Counter<long> IdleAdvances = Meter.CreateCounter<long>(
        "cdc.checkpoint.postgres.idle_advances", unit: "{checkpoint}", description: "Checkpoints taken from a keepalive's WAL end while nothing was in flight.");

    internal static readonly Histogram<double> SourceLag = Meter.CreateHistogram(
        "cdc.checkpoint.source.lag",
        unit: "s",
        description: "Time behind the source: local clock at receipt minus the commit timestamp of each transaction received.",
        tags: null,
        advice: new InstrumentAdvice<double>
        {
            // From sub-second (streaming live) to an hour (catching up after an outage).
            HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
        });

    private static readonly ConcurrentDictionary<ReplicationAcknowledger, byte> Live = new();

    static PostgresMetrics()
    {
        Meter.CreateObservableGauge(
            "cdc.checkpoint.lag", ObserveLag, unit: "By", description: "Server WAL end minus the durable checkpoint LSN.");
        Meter.CreateObservableGauge(
            "cdc.checkpoint.age", ObserveAge, unit: "s", description: "Time since the last durable checkpoint.");
        Meter.CreateObservableGauge(
            "cdc.checkpoint.postgres.acknowledged_lsn", ObserveAcknowledged, unit: "By", description: "The LSN last reported to the server as flushed and applied.");
    }

    internal static void Register(ReplicationAcknowledger acknowledger) => Live.TryAdd(acknowledger, 0);

    internal static void Unregister(ReplicationAcknowledger acknowledger) => Live.TryRemove(acknowledger, out _);

    internal static void RecordVerdict(PostgresResumeValidationResult result)
    {
        Verdicts.Add(1, new TagList
        {
            { "cdc.verdict", result.Verdict.ToString() },
            { "cdc.action", result.Action.ToString() },
            { "cdc.slot", result.Facts.SlotName },
        });
    }

    internal static void RecordSourceLag(string slotName, TimeSpan lag) =>
        SourceLag.Record(lag.TotalSeconds, new TagList { { "cdc.source_type", PostgresOffset.StreamingSourceType }, { "cdc.slot", slotName } });

    internal static void RecordIdleAdvance(string slotName) => IdleAdvances.Add(1, new TagList { { "cdc.slot", slotName } });

    private static IEnumerable<Measurement<long>> ObserveLag() =>
        Live.Keys.Select(a => new Measurement<long>(a.LagBytes, Tags(a)));

    private static IEnumerable<Measurement<double>> ObserveAge() =>
        Live.Keys.Select(a => new Measurement<double>(a.CheckpointAge.TotalSeconds, Tags(a)));

    private static IEnumerable<Measurement<long>> ObserveAcknowledged() =>
        Live.Keys.Select(a => new Measurement<long>(unchecked((long)(ulong)a.Acknowledged), Tags(a)));

    private static TagList Tags(ReplicationAcknowledger acknowledger) => new()
    {
        { "cdc.source_type", PostgresOffset.StreamingSourceType },
        { "cdc.slot", acknowledger.SlotName },
    };
}
