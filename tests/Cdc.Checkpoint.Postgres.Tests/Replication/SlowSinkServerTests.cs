using System.Diagnostics;
using Cdc.Checkpoint.Postgres.Replication;
using Cdc.Checkpoint.Postgres.Tests.Support;
using Cdc.Checkpoint.TestServers;
using Npgsql;
using Npgsql.Replication.PgOutput.Messages;
using Shouldly;
using Xunit;
using static Cdc.Checkpoint.Postgres.Tests.Replication.ReplicationSessionServerTests;

namespace Cdc.Checkpoint.Postgres.Tests.Replication;

/// <summary>
/// Issue 17 item 13 on a real PostgreSQL 15: a sink slower than <c>wal_sender_timeout</c> keeps its stream (standby
/// status goes out on a timer derived from the server's timeout, whatever the sink does), and a stream the server ends
/// surfaces as a typed, transient <see cref="CheckpointException"/>.
/// </summary>
public sealed class SlowSinkServerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Impatient(PgScenario scenario) =>
        new NpgsqlConnectionStringBuilder(scenario.ConnectionString) { Options = "-c synchronous_commit=on -c wal_sender_timeout=2000" }.ConnectionString;

    [Fact]
    public async Task ReadAsync_SinkTakesLongerThanWalSenderTimeoutPerTransaction_StreamStaysUpAndFeedbackNeverAheadOfDurable()
    {
        await using var scenario = await PgScenario.CreateAsync();
        var store = await StoreAsync(scenario);
        await using var session = await PostgresReplicationSession.OpenAsync(Impatient(scenario), store, Options(scenario), cancellationToken: Ct);
        session.StatusInterval.ShouldBe(TimeSpan.FromMilliseconds(2000) / 3);
        session.Connection.WalReceiverStatusInterval.ShouldBe(Timeout.InfiniteTimeSpan); // the updates below are the session's
        var walSender = session.Connection.ProcessID;
        await scenario.InsertAsync(1, 5);

        var sinkDelays = new[] { 1.5, 3.0, 2.5, 3.0, 2.0 }; // seconds, each longer than half of wal_sender_timeout, most longer than all of it
        var violations = new List<string>();
        var replies = new HashSet<DateTime>();
        var commits = 0;
        var clock = Stopwatch.StartNew();
        await foreach (var message in session.ReadAsync(Ct))
        {
            if (message is not CommitMessage commit)
            {
                continue;
            }

            // The slow sink: while it works nobody reads the stream.
            var sinkDone = Task.Delay(TimeSpan.FromSeconds(sinkDelays[commits]), Ct);
            while (!sinkDone.IsCompleted)
            {
                await using (var command = scenario.DataSource.CreateCommand("SELECT flush_lsn::text, reply_time FROM pg_stat_replication WHERE pid = $1"))
                {
                    command.Parameters.Add(new NpgsqlParameter { Value = walSender });
                    await using var reader = await command.ExecuteReaderAsync(Ct);
                    if (!await reader.ReadAsync(Ct))
                    {
                        violations.Add($"walsender {walSender} gone after {clock.Elapsed.TotalSeconds:0.0} s");
                        break;
                    }

                    // Both are null until the first reply right after START_REPLICATION.
                    if (!reader.IsDBNull(0) && !reader.IsDBNull(1))
                    {
                        var flushed = PostgresOffset.ParseLsn(reader.GetString(0));
                        replies.Add(reader.GetDateTime(1));
                        if (flushed > session.GetStatus().Durable.Lsn)
                        {
                            violations.Add($"flush_lsn {flushed} ahead of the durable checkpoint {session.GetStatus().Durable.Lsn}");
                        }
                    }
                }

                await Task.WhenAny(sinkDone, Task.Delay(200, Ct));
            }

            session.Acknowledger.MarkProcessed(commit, 1);
            (await session.Acknowledger.CheckpointAsync(Ct)).ShouldBeTrue();
            if (++commits == sinkDelays.Length)
            {
                break;
            }
        }

        clock.Elapsed.ShouldBeGreaterThan(TimeSpan.FromSeconds(10));
        violations.ShouldBeEmpty();
        commits.ShouldBe(5);
        replies.Count.ShouldBeGreaterThanOrEqualTo(10); // status updates kept coming while the sink worked (≈ every 0.67 s)
        (await scenario.ScalarAsync<long>($"SELECT count(*) FROM pg_stat_replication WHERE pid = {walSender}")).ShouldBe(1);
        scenario.Server.ReadLogTail(5000).ShouldNotContain($"[{walSender}] LOG:  terminating walsender process due to replication timeout");
        (await store.LoadAsync("postgres", Ct))!.CommittedEventCount.ShouldBe(5UL);
    }

    [Fact]
    public async Task ReadAsync_StatusIntervalLongerThanWalSenderTimeout_ServerEndsTheStreamOfABusySink()
    {
        // The counter-test: the session's status timer is what keeps a busy sink's stream; nothing else sends while
        // nobody reads (Npgsql's own timer is off, and it answers keepalives only while it reads).
        await using var scenario = await PgScenario.CreateAsync();
        var store = await StoreAsync(scenario);
        var options = Options(scenario);
        options = new PostgresReplicationSessionOptions
        {
            SlotName = options.SlotName,
            PublicationNames = options.PublicationNames,
            Acknowledgement = options.Acknowledgement,
            StatusInterval = TimeSpan.FromSeconds(10),
        };
        await using var session = await PostgresReplicationSession.OpenAsync(Impatient(scenario), store, options, cancellationToken: Ct);
        await scenario.InsertAsync(1, 1); // one transaction: nothing buffered behind it
        var commits = 0;
        var clock = Stopwatch.StartNew();

        var ex = await Should.ThrowAsync<CheckpointException>(async () =>
        {
            await foreach (var message in session.ReadAsync(Ct))
            {
                if (message is CommitMessage commit)
                {
                    commits++;
                    await Task.Delay(TimeSpan.FromSeconds(5), Ct); // the busy sink, longer than wal_sender_timeout
                    session.Acknowledger.MarkProcessed(commit, 1);
                }
            }
        });

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.ConnectionLost);
        commits.ShouldBe(1);
        clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(10)); // ended before the first periodic update was due
    }

    [Fact]
    public async Task ReadAsync_WalSenderTerminatedByServer_ThrowsTransientConnectionLost()
    {
        await using var scenario = await PgScenario.CreateAsync();
        var store = await StoreAsync(scenario);
        await using var session = await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, store, Options(scenario), cancellationToken: Ct);
        var walSender = session.Connection.ProcessID;
        await scenario.InsertAsync(1, 1);
        var commits = 0;

        var ex = await Should.ThrowAsync<CheckpointException>(async () =>
        {
            await foreach (var message in session.ReadAsync(Ct))
            {
                if (message is CommitMessage commit)
                {
                    session.Acknowledger.MarkProcessed(commit, 1);
                    await session.Acknowledger.CheckpointAsync(Ct);
                    commits++;
                    (await scenario.ScalarAsync<bool>("SELECT pg_terminate_backend($1)", walSender)).ShouldBeTrue();
                }
            }
        });

        commits.ShouldBe(1);
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.ConnectionLost);
        ex.IsTransient.ShouldBeTrue();
        ex.Message.ShouldContain(scenario.SlotName);
        ex.Message.ShouldContain("open a new session");
        ex.InnerException.ShouldNotBeNull();
        session.GetStatus().Streaming.ShouldBeFalse();

        // The retry the error invites works: a new session resumes after the durable checkpoint.
        await scenario.InsertAsync(2, 1);
        await WaitUntilAsync(async () => (await scenario.SlotAsync())!.ActivePid is null, "the terminated walsender to release the slot");
        await using var retry = await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, store, Options(scenario), cancellationToken: Ct);
        await foreach (var message in retry.ReadAsync(Ct))
        {
            if (message is InsertMessage insert)
            {
                (await ReadIdAsync(insert, Ct)).ShouldBe(2);
                break;
            }
        }
    }

    [Fact]
    public async Task ReadAsync_ServerCrashesWhileStreaming_ThrowsTransientConnectionLost()
    {
        await using var cluster = await PostgresTestServer.StartNewClusterAsync(Ct);
        await using var scenario = await PgScenario.CreateAsync(cluster);
        var store = await StoreAsync(scenario);
        await using var session = await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, store, Options(scenario), cancellationToken: Ct);
        await scenario.InsertAsync(1, 1);
        Task? restart = null;

        var ex = await Should.ThrowAsync<CheckpointException>(async () =>
        {
            await foreach (var message in session.ReadAsync(Ct))
            {
                if (message is CommitMessage commit)
                {
                    session.Acknowledger.MarkProcessed(commit, 1);
                    await session.Acknowledger.CheckpointAsync(Ct);
                    // An immediate stop (a crash) ends the walsender at once. A fast shutdown would wait for the consumer to
                    // acknowledge the end of WAL, which only a durable checkpoint there may do (docs/postgres.md).
                    restart ??= cluster.RestartAsync(immediate: true, cancellationToken: Ct);
                }
            }
        });

        await restart!;
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.ConnectionLost);
        ex.IsTransient.ShouldBeTrue();
    }
}
