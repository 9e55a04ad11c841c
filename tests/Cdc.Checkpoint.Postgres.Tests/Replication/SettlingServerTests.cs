using System.Collections.Concurrent;
using Cdc.Checkpoint.Postgres.Replication;
using Cdc.Checkpoint.Postgres.Tests.Support;
using Cdc.Checkpoint.TestServers;
using Shouldly;
using Xunit;
using static Cdc.Checkpoint.Postgres.Tests.Replication.ReplicationSessionServerTests;

namespace Cdc.Checkpoint.Postgres.Tests.Replication;

/// <summary>
/// Issue 12 item 6 on a real PostgreSQL 15: with the table store in the source database and no traffic, the idle
/// advance must not chase the WAL of its own saves; the consumer comes to rest.
/// </summary>
public sealed class SettlingServerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Streams 3 rows into a sink in the same database, lets it settle, then samples the stored checkpoint over 15 idle intervals.</summary>
    private static async Task<List<ulong>> CountsWhileIdleAsync(long idleAdvanceMinimumBytes)
    {
        // A cluster of its own: WAL is cluster-wide, and other tests' writes would be (legitimate) traffic to advance over.
        await using var cluster = await PostgresTestServer.StartNewClusterAsync(Ct);
        await using var scenario = await PgScenario.CreateAsync(cluster);
        await scenario.ExecAsync("CREATE TABLE sink (id bigint PRIMARY KEY)");
        var store = await StoreAsync(scenario);
        var options = new PostgresReplicationSessionOptions
        {
            SlotName = scenario.SlotName,
            PublicationNames = ["pub"],
            Acknowledgement = new ReplicationAcknowledgerOptions { IdleAdvanceInterval = TimeSpan.FromMilliseconds(200), IdleAdvanceMinimumBytes = idleAdvanceMinimumBytes },
        };
        await using var session = await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, store, options, cancellationToken: Ct);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var seen = new ConcurrentQueue<long>();
        var consumer = ConsumeTransactionallyAsync(session, store, scenario, seen, stop.Token);
        await scenario.InsertAsync(1, 3);
        await WaitUntilAsync(() => Task.FromResult(seen.Count == 3 || consumer.IsCompleted), "the rows in the sink");
        consumer.IsCompleted.ShouldBeFalse(consumer.Exception?.ToString());
        await Task.Delay(TimeSpan.FromSeconds(1), Ct); // a keepalive or two, and whatever advance follows the sink's own WAL

        var counts = new List<ulong>();
        for (var i = 0; i < 15; i++)
        {
            counts.Add((await store.LoadAsync("postgres", Ct))!.CommittedEventCount);
            await Task.Delay(200, Ct);
        }

        await stop.CancelAsync();
        await consumer;
        seen.Order().ShouldBe([1L, 2L, 3L]);
        TestContext.Current.TestOutputHelper?.WriteLine($"IdleAdvanceMinimumBytes={idleAdvanceMinimumBytes}: counts over 15 intervals of 200 ms: {string.Join(", ", counts)}");
        return counts;
    }

    [Fact]
    public async Task IdleAdvance_TableStoreInSourceDatabaseAndNoTraffic_CountStaysConstant()
    {
        var counts = await CountsWhileIdleAsync(ReplicationAcknowledgerOptions.DefaultIdleAdvanceMinimumBytes);

        counts.Distinct().Count().ShouldBe(1, $"counts over 15 idle intervals: {string.Join(", ", counts)}");
        counts[0].ShouldBeLessThanOrEqualTo(5UL); // 3 committed events, and at most a heartbeat or two while settling
    }

    [Fact]
    public async Task IdleAdvance_NoMinimum_ChasesItsOwnWrites()
    {
        // Why the minimum exists: without it, every advance finds the WAL of the previous one.
        var counts = await CountsWhileIdleAsync(0);

        (counts[^1] - counts[0]).ShouldBeGreaterThanOrEqualTo(3UL, $"counts: {string.Join(", ", counts)}");
    }
}
