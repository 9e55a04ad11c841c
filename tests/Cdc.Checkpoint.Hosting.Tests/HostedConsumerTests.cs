using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Hosting.Consumers;
using Cdc.Checkpoint.Hosting.Diagnostics;
using Cdc.Checkpoint.Hosting.Tests.Support;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using Cdc.Checkpoint.Postgres.Store;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Hosting.Tests;

/// <summary>The hosted PostgreSQL consumer against the throwaway PostgreSQL 15: stop, retry, fail-stop, health, telemetry.</summary>
public sealed class HostedConsumerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Consumer_GracefulStopWithPendingTransactions_WritesFinalCheckpoint()
    {
        await using var database = await HostingDatabase.CreateAsync();
        using var directory = new TempDirectory("cdc-hosting-");
        var slot = HostingDatabase.NewSlotName();

        // The policy would checkpoint only every 1000 transactions: what is durable after the stop is the final checkpoint.
        await using var consumer = ConsumerHost.Create(database, slot, TestStore.File, directory.File("checkpoint"), new() { ["Cdc:Consumers:orders:Checkpoint:EveryTransactions"] = "1000" });
        await consumer.Host.StartAsync(Ct);
        await Eventually.HoldsAsync(() => consumer.Status.State == ConsumerState.Streaming, "the consumer streams");
        var start = consumer.Status.CommittedEventCount!.Value;
        await database.InsertAsync(1, 5);
        await Eventually.HoldsAsync(() => consumer.Applied.Count == 5, "5 rows are applied");
        consumer.Status.CommittedEventCount.ShouldBe(start, "nothing saved before the stop");
        var lastCommit = await database.ScalarAsync<string>("SELECT pg_current_wal_flush_lsn()::text");

        await consumer.Host.StopAsync(Ct);

        consumer.Status.State.ShouldBe(ConsumerState.Stopped);
        consumer.Logs.Entries.ShouldContain(e => e.EventId.Id == HostingEventId.ConsumerStopped);
        consumer.Host.Dispose(); // Releases the owner lease of the checkpoint directory.
        await using var checkpoint = new FileCheckpoint(directory.File("checkpoint"), new FileCheckpointOptions { Codecs = OffsetCodecRegistry.Empty.WithPostgres() });
        var record = (await checkpoint.LoadAsync(PostgresOffset.StreamingSourceType, Ct)).ShouldNotBeNull();
        record.CommittedEventCount.ShouldBe(start + 5);
        ((PostgresOffset)record.Offset).SlotName.ShouldBe(slot);
        ((ulong)((PostgresOffset)record.Offset).Lsn).ShouldBeLessThanOrEqualTo((ulong)PostgresOffset.ParseLsn(lastCommit));
    }

    [Fact]
    public async Task Consumer_SlotHeldByAnotherProcess_RetriesUntilItLeavesThenStreams()
    {
        await using var database = await HostingDatabase.CreateAsync();
        using var directory = new TempDirectory("cdc-hosting-");
        var slot = HostingDatabase.NewSlotName();
        await FirstRunAsync(database, slot, directory.File("checkpoint"));

        // Another process holds the slot.
        var other = new LogicalReplicationConnection(database.ConnectionString);
        await other.Open(Ct);
        using var otherStop = new CancellationTokenSource();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(otherStop.Token, Ct);
        var otherStream = Task.Run(async () =>
        {
            try
            {
                await foreach (var _ in other.StartReplication(new PgOutputReplicationSlot(slot), new PgOutputReplicationOptions("pub", PgOutputProtocolVersion.V1), linked.Token))
                {
                }
            }
            catch (OperationCanceledException)
            {
            }
        }, Ct);
        await Eventually.HoldsAsync(async () => await database.ScalarAsync<bool>("SELECT active FROM pg_replication_slots WHERE slot_name = $1", slot), "the other process holds the slot");

        await using var consumer = ConsumerHost.Create(database, slot, TestStore.File, directory.File("checkpoint"));
        await consumer.Host.StartAsync(Ct);
        await Eventually.HoldsAsync(() => consumer.Status is { State: ConsumerState.Retrying, RetryAttempt: >= 2 }, "the consumer retries");
        consumer.Status.LastErrorCode.ShouldBe(CheckpointErrorCode.InUse);
        (await consumer.HealthAsync()).Status.ShouldBe(HealthStatus.Degraded);
        consumer.Logs.Entries.ShouldContain(e => e.EventId.Id == HostingEventId.ConsumerRetrying && e.Level == LogLevel.Warning);

        await otherStop.CancelAsync();
        await otherStream;
        await other.DisposeAsync();
        await Eventually.HoldsAsync(() => consumer.Status.State == ConsumerState.Streaming, "the consumer streams once the slot is free");
        await database.InsertAsync(1, 3);
        await Eventually.HoldsAsync(() => consumer.Applied.Count == 3, "3 rows are applied");
        consumer.Applied.Order().ShouldBe([1L, 2L, 3L]);
    }

    [Fact]
    public async Task Consumer_SlotAheadOfCheckpoint_FailsStopWithTheOperatorMessageAndStopsTheHost()
    {
        await using var database = await HostingDatabase.CreateAsync();
        using var directory = new TempDirectory("cdc-hosting-");
        var slot = HostingDatabase.NewSlotName();
        await FirstRunAsync(database, slot, directory.File("checkpoint"));

        // Changes are made while no consumer runs, and the slot is moved past them: they would be lost.
        await database.InsertAsync(1, 3);
        await database.ExecAsync("SELECT pg_replication_slot_advance($1, pg_current_wal_lsn())", slot);

        await using var consumer = ConsumerHost.Create(database, slot, TestStore.File, directory.File("checkpoint"));
        var stopping = new TaskCompletionSource();
        var lifetime = consumer.Host.Services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.ApplicationStopping.Register(() => stopping.TrySetResult());
        var exitCode = Environment.ExitCode;
        try
        {
            await consumer.Host.StartAsync(Ct);
            await stopping.Task.WaitAsync(TimeSpan.FromSeconds(60), Ct);

            Environment.ExitCode.ShouldBe(1);
        }
        finally
        {
            Environment.ExitCode = exitCode;
        }

        consumer.Status.State.ShouldBe(ConsumerState.Failed);
        consumer.Status.LastErrorCode.ShouldBe(CheckpointErrorCode.PositionUnavailable);
        consumer.Status.LastError.ShouldNotBeNull().ShouldContain("AcceptSlotAhead");
        var health = await consumer.HealthAsync();
        health.Status.ShouldBe(HealthStatus.Unhealthy);
        health.Entries["cdc-consumer-orders"].Description.ShouldNotBeNull().ShouldContain("failed");
        consumer.Logs.Entries.ShouldContain(e => e.EventId.Id == HostingEventId.ConsumerFailed && e.Level == LogLevel.Critical && e.Message.Contains("PositionUnavailable"));
        consumer.Logs.Entries.ShouldNotContain(e => e.EventId.Id == HostingEventId.ConsumerRetrying);
        consumer.Applied.ShouldBeEmpty();
    }

    [Fact]
    public async Task Consumer_BacklogAtStart_HealthGoesUnhealthyDegradedHealthyAsLagShrinks()
    {
        await using var database = await HostingDatabase.CreateAsync();
        using var directory = new TempDirectory("cdc-hosting-");
        var slot = HostingDatabase.NewSlotName();
        var settings = new Dictionary<string, string?>
        {
            ["Cdc:Consumers:orders:Health:LagBytesDegraded"] = (256 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Cdc:Consumers:orders:Health:LagBytesUnhealthy"] = (1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        await FirstRunAsync(database, slot, directory.File("checkpoint"));

        // About 1.6 MB of WAL while the consumer is down (uncompressed, out-of-line values).
        await database.ExecAsync("ALTER TABLE src ALTER COLUMN payload SET STORAGE EXTERNAL");
        for (var id = 1; id <= 40; id++)
        {
            await database.ExecAsync("INSERT INTO src (id, payload) SELECT $1, string_agg(md5(random()::text), '') FROM generate_series(1, 1250)", (long)id);
        }

        using var gate = new SemaphoreSlim(0);
        await using var consumer = ConsumerHost.Create(database, slot, TestStore.File, directory.File("checkpoint"), settings, beforeApply: async (_, ct) => await gate.WaitAsync(ct));
        await consumer.Host.StartAsync(Ct);
        await Eventually.HoldsAsync(() => consumer.Status.State == ConsumerState.Streaming, "the consumer streams");

        var unhealthy = await consumer.HealthAsync();
        unhealthy.Status.ShouldBe(HealthStatus.Unhealthy, unhealthy.Entries["cdc-consumer-orders"].Description);
        ((long)unhealthy.Entries["cdc-consumer-orders"].Data["lag_bytes"]).ShouldBeGreaterThan(1024 * 1024);

        gate.Release(30);
        await Eventually.HoldsAsync(() => consumer.Applied.Count == 30, "30 transactions are applied");
        await Eventually.HoldsAsync(async () => (await consumer.HealthAsync()).Status == HealthStatus.Degraded, "the lag is between the thresholds");

        gate.Release(10);
        await Eventually.HoldsAsync(() => consumer.Applied.Count == 40, "all transactions are applied");
        await Eventually.HoldsAsync(async () => (await consumer.HealthAsync()).Status == HealthStatus.Healthy, "the consumer has caught up");
        var healthy = await consumer.HealthAsync();
        healthy.Entries["cdc-consumer-orders"].Data["slot_wal_status"].ShouldBe("reserved");
    }

    [Fact]
    public async Task Consumers_TwoSideBySide_TableStoreExactlyOnceWithMetricsAndSpans()
    {
        await using var database = await HostingDatabase.CreateAsync();
        using var directory = new TempDirectory("cdc-hosting-");
        var slot = HostingDatabase.NewSlotName();
        var secondSlot = HostingDatabase.NewSlotName();
        var secondApplied = new ConcurrentQueue<uint>();
        var measurements = new ConcurrentQueue<(string Instrument, object Value, string? Store)>();
        var advice = new ConcurrentQueue<IReadOnlyList<double>?>();
        using var meters = new MeterListener();
        meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == CheckpointMetrics.MeterName)
            {
                if (instrument is Histogram<double> { Name: "cdc.checkpoint.save.duration" } histogram)
                {
                    advice.Enqueue(histogram.Advice?.HistogramBucketBoundaries);
                }

                listener.EnableMeasurementEvents(instrument);
            }
        };
        meters.SetMeasurementEventCallback<double>((instrument, value, tags, _) => measurements.Enqueue((instrument.Name, value, StoreTag(tags))));
        meters.SetMeasurementEventCallback<long>((instrument, value, tags, _) => measurements.Enqueue((instrument.Name, value, StoreTag(tags))));
        meters.Start();
        var spans = new ConcurrentQueue<Activity>();
        using var activities = new ActivityListener
        {
            ShouldListenTo = source => source.Name == CheckpointMetrics.MeterName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(activities);

        await using var consumer = ConsumerHost.Create(database, slot, TestStore.Table, null, more: (services, configuration) =>
        {
            services.AddCdcFileCheckpointStore("audit", o => o.Directory = directory.File("checkpoint"));
            services.AddPostgresReplicationConsumer(
                "audit",
                o =>
                {
                    o.ConnectionString = database.ConnectionString;
                    o.SlotName = secondSlot;
                    o.Publications.Add("pub");
                },
                (transaction, _) =>
                {
                    secondApplied.Enqueue(transaction.TransactionXid);
                    return default;
                });
            services.AddHealthChecks().AddCdcConsumer("audit");
        });
        await consumer.Host.StartAsync(Ct);
        await Eventually.HoldsAsync(() => consumer.Registry.Names.All(n => consumer.Registry.Get(n)!.State == ConsumerState.Streaming), "both consumers stream");
        consumer.Registry.Names.ShouldBe(["audit", "orders"]);

        await database.InsertAsync(1, 20);
        await Eventually.HoldsAsync(async () => (await database.SinkIdsAsync()).Count == 20, "20 rows reach the sink table");
        await Eventually.HoldsAsync(() => secondApplied.Count == 20, "the second consumer sees the 20 transactions");
        var report = await consumer.HealthAsync();
        report.Entries.Keys.Order().ShouldBe(["cdc-consumer-audit", "cdc-consumer-orders"]);

        // The table store committed the offset with the rows: its record counts exactly the 20 events after the start.
        var store = consumer.Host.Services.GetRequiredKeyedService<PostgresCheckpointStore>(ConsumerHost.Name);
        var record = (await store.LoadAsync(PostgresOffset.StreamingSourceType, Ct)).ShouldNotBeNull();
        (await database.SinkIdsAsync()).ShouldBe(Enumerable.Range(1, 20).Select(i => (long)i));
        record.CommittedEventCount.ShouldBe(20UL);
        consumer.Status.CommittedEventCount.ShouldBe(20UL);

        meters.RecordObservableInstruments();
        measurements.ShouldContain(m => m.Instrument == "cdc.checkpoint.save.duration" && m.Store == "postgres_table");
        measurements.ShouldContain(m => m.Instrument == "cdc.checkpoint.saves" && m.Store == "file");
        measurements.ShouldContain(m => m.Instrument == "cdc.checkpoint.lag");
        advice.ShouldContain(a => a != null && a.SequenceEqual(CheckpointMetrics.SaveDurationBuckets));
        spans.ShouldContain(s => s.OperationName == "cdc.checkpoint.save" && (string?)s.GetTagItem("cdc.store") == "postgres_table" && s.Duration > TimeSpan.Zero);
        spans.ShouldContain(s => s.OperationName == "cdc.checkpoint.validate" && (string?)s.GetTagItem("cdc.slot") == slot);
    }

    // A first run creates the slot and the first checkpoint, then stops.
    private static async Task FirstRunAsync(HostingDatabase database, string slot, string directory)
    {
        await using var first = ConsumerHost.Create(database, slot, TestStore.File, directory);
        await first.Host.StartAsync(Ct);
        await Eventually.HoldsAsync(() => first.Status.State == ConsumerState.Streaming, "the first run streams (slot created)");
    }

    private static string? StoreTag(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == "cdc.store")
            {
                return tag.Value as string;
            }
        }

        return null;
    }
}
