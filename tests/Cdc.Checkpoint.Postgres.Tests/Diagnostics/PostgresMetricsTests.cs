using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Cdc.Checkpoint.Postgres.Replication;
using Cdc.Checkpoint.Postgres.Tests.Replication;
using Cdc.Checkpoint.Postgres.Tests.Support;
using Cdc.Checkpoint.Postgres.Validation;
using Npgsql.Replication;
using NpgsqlTypes;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Diagnostics;

/// <summary>The PostgreSQL instruments on the <c>Cdc.Checkpoint</c> meter, observed with a <see cref="MeterListener"/>.</summary>
public sealed class PostgresMetricsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class Recorder : IDisposable
    {
        private readonly MeterListener _listener = new();

        public Recorder()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "Cdc.Checkpoint")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
            _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
            _listener.Start();
        }

        public ConcurrentQueue<(string Name, string? Unit, double Value, Dictionary<string, object?> Tags)> Measurements { get; } = new();

        public void Collect() => _listener.RecordObservableInstruments();

        public IEnumerable<(double Value, Dictionary<string, object?> Tags)> For(string name, string slot) =>
            Measurements.Where(m => m.Name == name && Equals(m.Tags.GetValueOrDefault("cdc.slot"), slot)).Select(m => (m.Value, m.Tags));

        public void Dispose() => _listener.Dispose();

        private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var dictionary = new Dictionary<string, object?>();
            foreach (var tag in tags)
            {
                dictionary[tag.Key] = tag.Value;
            }

            Measurements.Enqueue((instrument.Name, instrument.Unit, value, dictionary));
        }
    }

    [Fact]
    public async Task Gauges_LiveAcknowledger_ReportLagBytesCheckpointAgeAndAcknowledgedLsn()
    {
        using var recorder = new Recorder();
        var time = new FakeTimeProvider();
        var feedback = new AcknowledgerTests.FakeFeedback();
        var slot = "metrics_" + Guid.NewGuid().ToString("N")[..10];
        var start = new PostgresOffset(new NpgsqlLogSequenceNumber(1000), slot, 5, 1, "app");
        await using (var ack = new ReplicationAcknowledger(new AcknowledgementDriver(feedback, new AcknowledgerTests.RecordingStore(), start, 0, null, null, time, sessionStatusInterval: null)))
        {
            await ack.MarkDurableAsync(ack.MarkProcessed(new NpgsqlLogSequenceNumber(1500), 3), Ct);
            feedback.LastReceivedLsn = new NpgsqlLogSequenceNumber(4000);
            time.Advance(TimeSpan.FromSeconds(42));

            recorder.Collect();

            recorder.For("cdc.checkpoint.lag", slot).ShouldHaveSingleItem().Value.ShouldBe(2500);
            recorder.For("cdc.checkpoint.age", slot).ShouldHaveSingleItem().Value.ShouldBe(42);
            var acknowledged = recorder.For("cdc.checkpoint.postgres.acknowledged_lsn", slot).ShouldHaveSingleItem();
            acknowledged.Value.ShouldBe(1500);
            acknowledged.Tags["cdc.source_type"].ShouldBe("postgres");
        }

        recorder.Measurements.Clear();
        recorder.Collect();
        recorder.For("cdc.checkpoint.lag", slot).ShouldBeEmpty(); // disposed acknowledgers are no longer observed
    }

    [Fact]
    public async Task VerdictCounter_ValidationOnTheServer_CountsTheVerdictAndAction()
    {
        using var recorder = new Recorder();
        await using var scenario = await PgScenario.CreateAsync();
        await using var replication = new LogicalReplicationConnection(scenario.ReplicationConnectionString);
        await replication.Open(Ct);

        await new PostgresResumeValidator(scenario.DataSource).ValidateAsync(replication, scenario.SlotName, null, Ct);
        await scenario.CreateSlotAsync();
        await new PostgresResumeValidator(scenario.DataSource).ValidateAsync(replication, scenario.SlotName, null, Ct);

        var verdicts = recorder.For("cdc.checkpoint.postgres.resume.verdicts", scenario.SlotName).ToList();
        verdicts.Count.ShouldBe(2);
        verdicts[0].Tags["cdc.verdict"].ShouldBe(nameof(PostgresResumeVerdict.FreshStart));
        verdicts[0].Tags["cdc.action"].ShouldBe(nameof(PostgresResumeAction.CreateSlot));
        verdicts[1].Tags["cdc.verdict"].ShouldBe(nameof(PostgresResumeVerdict.SlotWithoutCheckpoint));
        verdicts[1].Tags["cdc.action"].ShouldBe(nameof(PostgresResumeAction.Refuse));
        verdicts.ShouldAllBe(v => v.Value == 1);
    }
}
