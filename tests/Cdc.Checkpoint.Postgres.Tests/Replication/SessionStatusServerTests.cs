using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Cdc.Checkpoint.Postgres.Replication;
using Cdc.Checkpoint.Postgres.Tests.Support;
using Cdc.Checkpoint.Postgres.Validation;
using Npgsql.Replication.PgOutput.Messages;
using Shouldly;
using Xunit;
using static Cdc.Checkpoint.Postgres.Tests.Replication.ReplicationSessionServerTests;

namespace Cdc.Checkpoint.Postgres.Tests.Replication;

/// <summary>
/// The public status of a session (positions, lag, age, verdict, time behind the source), the slot's WAL retention,
/// and the spans and the source-lag histogram, on a real PostgreSQL 15.
/// </summary>
public sealed class SessionStatusServerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task GetStatus_AfterThreeCheckpointedTransactions_ShowsVerdictDurablePositionAndSourceLag()
    {
        await using var scenario = await PgScenario.CreateAsync();
        var store = await StoreAsync(scenario);
        var spans = new ConcurrentQueue<Activity>();
        using var activities = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Cdc.Checkpoint",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (Equals(activity.GetTagItem("cdc.slot"), scenario.SlotName))
                {
                    spans.Enqueue(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(activities);
        var sourceLags = new ConcurrentQueue<double>();
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "Cdc.Checkpoint" && instrument.Name == "cdc.checkpoint.source.lag")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        meters.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "cdc.slot" && Equals(tag.Value, scenario.SlotName))
                {
                    sourceLags.Enqueue(value);
                }
            }
        });
        meters.Start();

        await using var session = await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, store, Options(scenario), cancellationToken: Ct);
        var before = session.GetStatus();
        before.Verdict.ShouldBe(PostgresResumeVerdict.FreshStart);
        before.Streaming.ShouldBeFalse();
        before.LastCommitTimestamp.ShouldBeNull();
        before.SourceLag.ShouldBeNull();
        before.Durable.ShouldBe(session.StartPosition);

        var insertedAt = DateTimeOffset.UtcNow;
        await scenario.InsertAsync(1, 3);
        var commits = 0;
        PostgresReplicationStatus? streaming = null;
        await foreach (var message in session.ReadAsync(Ct))
        {
            if (message is CommitMessage commit)
            {
                session.Acknowledger.MarkProcessed(commit, 1);
                (await session.Acknowledger.CheckpointAsync(Ct)).ShouldBeTrue();
                if (++commits == 3)
                {
                    streaming = session.GetStatus();
                    break;
                }
            }
        }

        streaming.ShouldNotBeNull();
        var stored = (await store.LoadAsync("postgres", Ct)).ShouldNotBeNull();
        streaming.Verdict.ShouldBe(PostgresResumeVerdict.FreshStart);
        streaming.Streaming.ShouldBeTrue();
        streaming.Durable.Offset.ShouldBe(stored.Offset);
        streaming.Durable.CommittedEventCount.ShouldBe(3UL);
        streaming.Processed.ShouldBe(streaming.Durable);
        streaming.Acknowledged.ShouldBeLessThanOrEqualTo(streaming.Durable.Lsn);
        streaming.ServerWalEnd.ShouldBeGreaterThanOrEqualTo(streaming.Durable.Lsn);
        streaming.LagBytes.ShouldBe((long)((ulong)streaming.ServerWalEnd - (ulong)streaming.Durable.Lsn));
        streaming.CheckpointAge.ShouldBeLessThan(TimeSpan.FromSeconds(30));
        var committed = streaming.LastCommitTimestamp.ShouldNotBeNull();
        committed.ShouldBeGreaterThan(insertedAt.AddSeconds(-5)); // same host: the clocks agree
        committed.ShouldBeLessThan(DateTimeOffset.UtcNow.AddSeconds(5));
        streaming.SourceLag.ShouldNotBeNull().ShouldBeGreaterThanOrEqualTo(TimeSpan.Zero);
        streaming.SourceLag!.Value.ShouldBeLessThan(TimeSpan.FromSeconds(30));
        streaming.ToString().ShouldContain("verdict=FreshStart");

        sourceLags.Count.ShouldBe(3);
        sourceLags.ShouldAllBe(lag => lag >= 0 && lag < 30);
        var validate = spans.Where(s => s.OperationName == "cdc.checkpoint.validate").ToList();
        validate.Count.ShouldBe(1);
        validate[0].GetTagItem("cdc.verdict").ShouldBe("FreshStart");
        validate[0].Status.ShouldBe(ActivityStatusCode.Unset);
        var acknowledge = spans.Where(s => s.OperationName == "cdc.checkpoint.acknowledge").ToList();
        acknowledge.Count.ShouldBeGreaterThanOrEqualTo(3);
        var storedLsn = PostgresOffset.FormatLsn(((PostgresOffset)stored.Offset).Lsn);
        acknowledge.ShouldContain(s => Equals(s.GetTagItem("cdc.lsn"), storedLsn));
    }

    [Fact]
    public async Task ReadSlotHealthAsync_WhileStreamingAndAfterDrop_ReportsHolderRetentionAndThenNothing()
    {
        await using var scenario = await PgScenario.CreateAsync();
        var store = await StoreAsync(scenario);
        await using (var session = await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, store, Options(scenario), cancellationToken: Ct))
        {
            await scenario.InsertAsync(1, 2);
            var commits = 0;
            PostgresSlotHealth? health = null;
            await foreach (var message in session.ReadAsync(Ct))
            {
                if (message is CommitMessage commit)
                {
                    session.Acknowledger.MarkProcessed(commit, 1);
                    await session.Acknowledger.CheckpointAsync(Ct);
                    if (++commits == 2)
                    {
                        health = await session.ReadSlotHealthAsync(Ct);
                        break;
                    }
                }
            }

            health.ShouldNotBeNull();
            health.SlotName.ShouldBe(scenario.SlotName);
            health.Active.ShouldBeTrue();
            health.ActivePid.ShouldBe(session.Connection.ProcessID);
            health.WalStatus.ShouldBe(ReplicationSlotWalStatus.Reserved);
            health.SafeWalSize.ShouldBeNull(); // max_slot_wal_keep_size = -1: no limit
            var restart = health.RestartLsn.ShouldNotBeNull();
            health.ServerWalPosition.ShouldBeGreaterThanOrEqualTo(restart);
            health.RetainedWalBytes.ShouldBe((long)((ulong)health.ServerWalPosition - (ulong)restart));
            health.ConfirmedFlushLsn.ShouldNotBeNull().ShouldBeLessThanOrEqualTo(session.GetStatus().Durable.Lsn);
        }

        var idle = (await PostgresSlotHealth.ReadAsync(scenario.DataSource, scenario.SlotName, Ct)).ShouldNotBeNull();
        await WaitUntilAsync(async () => !(await PostgresSlotHealth.ReadAsync(scenario.DataSource, scenario.SlotName, Ct))!.Active, "the slot to be released");
        idle.WalStatus.ShouldBe(ReplicationSlotWalStatus.Reserved);
        await scenario.ExecAsync("SELECT pg_drop_replication_slot($1)", scenario.SlotName);
        (await PostgresSlotHealth.ReadAsync(scenario.DataSource, scenario.SlotName, Ct)).ShouldBeNull();
        await Should.ThrowAsync<ArgumentException>(() => PostgresSlotHealth.ReadAsync(scenario.DataSource, "Not-A-Slot", Ct));
    }
}
