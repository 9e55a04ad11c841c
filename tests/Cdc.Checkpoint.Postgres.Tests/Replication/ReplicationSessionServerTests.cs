using System.Collections.Concurrent;
using Cdc.Checkpoint.Postgres.Replication;
using Cdc.Checkpoint.Postgres.Store;
using Cdc.Checkpoint.Postgres.Tests.Support;
using Cdc.Checkpoint.Postgres.Validation;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Replication;

/// <summary>
/// The replication session on a real PostgreSQL 15: fresh start, resume without loss or duplicates, the slot never
/// acknowledged past the durable checkpoint, idle advance, and the check after START_REPLICATION.
/// </summary>
public sealed class ReplicationSessionServerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    internal static PostgresReplicationSessionOptions Options(PgScenario scenario, TimeSpan? idle = null, int lag = 0) => new()
    {
        SlotName = scenario.SlotName,
        PublicationNames = ["pub"],
        Acknowledgement = new ReplicationAcknowledgerOptions { IdleAdvanceInterval = idle ?? Timeout.InfiniteTimeSpan, AcknowledgeLag = lag },
    };

    internal static async Task<PostgresCheckpointStore> StoreAsync(PgScenario scenario)
    {
        var store = new PostgresCheckpointStore(scenario.DataSource, "session");
        await store.CreateSchemaAsync(Ct);
        return store;
    }

    /// <summary>
    /// A sink-in-the-same-database consumer: each transaction's rows and its checkpoint commit together, then the
    /// position is reported durable. Runs until <paramref name="stop"/> is cancelled.
    /// </summary>
    internal static async Task ConsumeTransactionallyAsync(PostgresReplicationSession session, PostgresCheckpointStore store, PgScenario scenario, ConcurrentQueue<long> seen, CancellationToken stop)
    {
        await using var connection = await scenario.DataSource.OpenConnectionAsync(stop);
        NpgsqlTransaction? transaction = null;
        ulong events = 0;
        var pending = new List<long>();
        try
        {
            await foreach (var message in session.ReadAsync(stop))
            {
                switch (message)
                {
                    case BeginMessage:
                        transaction = await connection.BeginTransactionAsync(stop);
                        events = 0;
                        pending.Clear();
                        break;
                    case InsertMessage insert:
                        var id = await ReadIdAsync(insert, stop);
                        await using (var command = new NpgsqlCommand("INSERT INTO sink (id) VALUES ($1)", connection, transaction) { Parameters = { new() { Value = id } } })
                        {
                            await command.ExecuteNonQueryAsync(stop);
                        }

                        pending.Add(id);
                        events++;
                        break;
                    case CommitMessage commit:
                        var position = session.Acknowledger.MarkProcessed(commit, events);
                        await store.SaveAsync(transaction!, position.Offset, position.CommittedEventCount, stop);
                        await transaction!.CommitAsync(stop);
                        await transaction.DisposeAsync();
                        transaction = null;
                        pending.ForEach(seen.Enqueue); // seen = committed to the sink
                        pending.Clear();
                        await session.Acknowledger.MarkDurableAsync(position, stop);
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopped by the test.
        }
        finally
        {
            if (transaction is not null)
            {
                await transaction.DisposeAsync();
            }
        }
    }

    internal static async Task<long> ReadIdAsync(InsertMessage insert, CancellationToken cancellationToken)
    {
        long id = 0;
        var column = 0;
        await foreach (var value in insert.NewRow.WithCancellation(cancellationToken))
        {
            if (column++ == 0)
            {
                // pgoutput sends text-format values (binary needs PG14+ and the binary option); Npgsql reads them as text.
                id = long.Parse(await value.Get<string>(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
            }
            else
            {
                await value.Get<string>(cancellationToken);
            }
        }

        return id;
    }

    internal static async Task<NpgsqlLogSequenceNumber> DurableCheckpointAsync(PostgresCheckpointStore store) =>
        ((PostgresOffset)(await store.LoadAsync("postgres", Ct))!.Offset).Lsn;

    internal static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after {seconds} s waiting for {what}.");
            }

            await Task.Delay(25, Ct);
        }
    }

    [Fact]
    public async Task Session_FreshStartThenWrites_SinkGetsEveryRowOnceAndSlotNeverAheadOfDurableCheckpoint()
    {
        await using var scenario = await PgScenario.CreateAsync();
        await scenario.ExecAsync("CREATE TABLE sink (id bigint PRIMARY KEY)");
        var store = await StoreAsync(scenario);

        await using var session = await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, store, Options(scenario), cancellationToken: Ct);
        session.Validation.Verdict.ShouldBe(PostgresResumeVerdict.FreshStart);
        var created = (await scenario.SlotAsync()).ShouldNotBeNull();
        session.StartPosition.Lsn.ShouldBe(created.ConfirmedFlushLsn!.Value);
        var first = (await store.LoadAsync("postgres", Ct)).ShouldNotBeNull();
        first.Offset.ShouldBe(session.StartPosition.Offset);
        first.CommittedEventCount.ShouldBe(0UL);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var seen = new ConcurrentQueue<long>();
        var consumer = ConsumeTransactionallyAsync(session, store, scenario, seen, stop.Token);
        var violations = new ConcurrentQueue<string>();
        var watcher = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                // Read the slot first: the checkpoint only grows, so a later read of it is an upper bound.
                var confirmed = (await scenario.SlotAsync())!.ConfirmedFlushLsn!.Value;
                var durable = await DurableCheckpointAsync(store);
                if (confirmed > durable)
                {
                    violations.Enqueue($"confirmed_flush_lsn {confirmed} > durable checkpoint {durable}");
                }
            }
        }, Ct);

        await scenario.InsertAsync(1, 40);
        await WaitUntilAsync(
            async () => consumer.IsCompleted || await scenario.ScalarAsync<long>("SELECT count(*) FROM sink") == 40,
            "40 rows committed to the sink");
        consumer.IsFaulted.ShouldBeFalse();
        var last = await DurableCheckpointAsync(store);
        await WaitUntilAsync(async () => (await scenario.SlotAsync())!.ConfirmedFlushLsn == last, "the slot to reach the durable checkpoint");
        await stop.CancelAsync();
        await consumer;
        await watcher.ContinueWith(_ => { }, TaskScheduler.Default);

        violations.ShouldBeEmpty();
        seen.Order().ShouldBe(Enumerable.Range(1, 40).Select(i => (long)i));
        (await scenario.ScalarAsync<long>("SELECT count(*) FROM sink")).ShouldBe(40);
        (await store.LoadAsync("postgres", Ct))!.CommittedEventCount.ShouldBe(40UL);
    }

    [Fact]
    public async Task Session_ResumeAfterUncheckpointedWork_RedeliversOnlyWhatTheCheckpointDoesNotCover()
    {
        await using var scenario = await PgScenario.CreateAsync();
        var store = await StoreAsync(scenario);
        await using (var fresh = await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, store, Options(scenario), cancellationToken: Ct))
        {
            // The slot exists from here on; consume 10 transactions, checkpoint after the 5th only.
            await scenario.InsertAsync(1, 10);
            var seen = 0;
            await foreach (var message in fresh.ReadAsync(Ct))
            {
                if (message is CommitMessage commit)
                {
                    fresh.Acknowledger.MarkProcessed(commit, 1);
                    if (++seen == 5)
                    {
                        await fresh.Acknowledger.CheckpointAsync(Ct);
                    }

                    if (seen == 10)
                    {
                        break;
                    }
                }
            }
        }

        await scenario.InsertAsync(11, 5);
        await using var resumed = await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, store, Options(scenario), cancellationToken: Ct);
        resumed.Validation.Verdict.ShouldBe(PostgresResumeVerdict.Resume);
        var ids = new List<long>();
        await foreach (var message in resumed.ReadAsync(Ct))
        {
            if (message is InsertMessage insert)
            {
                ids.Add(await ReadIdAsync(insert, Ct));
            }
            else if (message is CommitMessage commit)
            {
                resumed.Acknowledger.MarkProcessed(commit, 1);
                if (ids.Count == 10)
                {
                    break;
                }
            }
        }

        ids.ShouldBe(Enumerable.Range(6, 10).Select(i => (long)i));
        (await resumed.Acknowledger.CheckpointAsync(Ct)).ShouldBeTrue();
        (await store.LoadAsync("postgres", Ct))!.CommittedEventCount.ShouldBe(15UL);
    }

    [Fact]
    public async Task Session_WritesOnlyToUnpublishedTable_IdleAdvanceMovesSlotAndNoChangeIsLost()
    {
        await using var scenario = await PgScenario.CreateAsync();
        await scenario.ExecAsync("CREATE TABLE sink (id bigint PRIMARY KEY)");
        var store = await StoreAsync(scenario);
        await using var session = await PostgresReplicationSession.OpenAsync(
            scenario.ConnectionString, store, Options(scenario, idle: TimeSpan.FromMilliseconds(100)), cancellationToken: Ct);
        var start = session.StartPosition;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var seen = new ConcurrentQueue<long>();
        var consumer = ConsumeTransactionallyAsync(session, store, scenario, seen, stop.Token);

        for (var i = 0; i < 20; i++)
        {
            await scenario.ExecAsync("INSERT INTO quiet (note) SELECT 'filler' FROM generate_series(1, 500)"); // well past IdleAdvanceMinimumBytes
        }

        var quietEnd = await scenario.CurrentWalAsync();
        await WaitUntilAsync(async () => (await scenario.SlotAsync())!.ConfirmedFlushLsn >= quietEnd, "the slot to advance over the unpublished writes");
        // Read the slot first: idle advances go on every 100 ms and the checkpoint only grows, so the checkpoint read
        // second is an upper bound of what the slot may have been told.
        var confirmedAfterIdle = (await scenario.SlotAsync())!.ConfirmedFlushLsn!.Value;
        var idle = (await store.LoadAsync("postgres", Ct)).ShouldNotBeNull();

        await scenario.InsertAsync(1000, 3);
        await WaitUntilAsync(() => Task.FromResult(seen.Count == 3), "the published rows after the idle advance");
        var final = await DurableCheckpointAsync(store);
        await stop.CancelAsync();
        await consumer;

        seen.Order().ShouldBe([1000L, 1001L, 1002L]);
        seen.Count.ShouldBe(3);
        ((PostgresOffset)idle.Offset).Lsn.ShouldBeGreaterThanOrEqualTo(quietEnd);
        idle.CommittedEventCount.ShouldBeGreaterThan(start.CommittedEventCount); // idle advances count as heartbeats
        confirmedAfterIdle.ShouldBeLessThanOrEqualTo(((PostgresOffset)idle.Offset).Lsn);
        final.ShouldBeGreaterThan(((PostgresOffset)idle.Offset).Lsn);
        (await scenario.ScalarAsync<long>("SELECT count(*) FROM sink")).ShouldBe(3);
    }

    [Fact]
    public async Task Session_ServerRequestsRepliesEverySecond_KeepalivesAnsweredWithTheDurablePositionOnly()
    {
        await using var scenario = await PgScenario.CreateAsync();
        await scenario.ExecAsync("CREATE TABLE sink (id bigint PRIMARY KEY)");
        var store = await StoreAsync(scenario);

        // With wal_sender_timeout=2s the server asks for a reply after 1 s of silence and drops a receiver that does not
        // answer within 2 s; Npgsql's own periodic status update comes only every 10 s.
        var impatient = new NpgsqlConnectionStringBuilder(scenario.ConnectionString) { Options = "-c synchronous_commit=on -c wal_sender_timeout=2000" }.ConnectionString;
        await using var session = await PostgresReplicationSession.OpenAsync(impatient, store, Options(scenario), cancellationToken: Ct);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var seen = new ConcurrentQueue<long>();
        var consumer = ConsumeTransactionallyAsync(session, store, scenario, seen, stop.Token);
        await scenario.InsertAsync(1, 3);
        await WaitUntilAsync(() => Task.FromResult(seen.Count == 3 || consumer.IsCompleted), "the first rows");
        consumer.IsCompleted.ShouldBeFalse(consumer.Exception?.ToString());
        var walSender = session.Connection.ProcessID;

        var quiet = System.Diagnostics.Stopwatch.StartNew();
        var replies = new HashSet<DateTime>();
        while (quiet.Elapsed < TimeSpan.FromSeconds(5))
        {
            NpgsqlLogSequenceNumber flushed;
            await using (var command = scenario.DataSource.CreateCommand("SELECT flush_lsn::text, reply_time FROM pg_stat_replication WHERE pid = $1"))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = walSender });
                await using var reader = await command.ExecuteReaderAsync(Ct);
                (await reader.ReadAsync(Ct)).ShouldBeTrue("the walsender must stay connected");
                flushed = PostgresOffset.ParseLsn(reader.GetString(0));
                replies.Add(reader.GetDateTime(1));
            }

            // The reported flush position, read first, is never ahead of the durable checkpoint, read second.
            flushed.ShouldBeLessThanOrEqualTo(await DurableCheckpointAsync(store));

            await Task.Delay(100, Ct);
        }

        await scenario.InsertAsync(100, 1);
        await WaitUntilAsync(() => Task.FromResult(seen.Count == 4), "a row after the quiet period");
        await stop.CancelAsync();
        await consumer;

        replies.Count.ShouldBeGreaterThanOrEqualTo(3); // answered keepalives (plus the initial update), not just the 10 s timer
        session.Connection.ProcessID.ShouldBe(walSender);
        (await scenario.SlotAsync())!.ConfirmedFlushLsn!.Value.ShouldBeLessThanOrEqualTo(await DurableCheckpointAsync(store));
    }

    [Fact]
    public async Task ReadAsync_SlotAdvancedAfterValidation_RecheckRefusesBeforeAnyMessage()
    {
        await using var scenario = await PgScenario.CreateAsync();
        var store = await StoreAsync(scenario);
        await using (var fresh = await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, store, Options(scenario), cancellationToken: Ct))
        {
        }

        await scenario.InsertAsync(1, 3);
        var checkpoint = await store.LoadAsync("postgres", Ct);
        await using var session = await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, store, Options(scenario), cancellationToken: Ct);
        session.Validation.Verdict.ShouldBe(PostgresResumeVerdict.Resume);

        // Between the validation and START_REPLICATION another process moves the slot past the checkpoint.
        await scenario.ExecAsync("SELECT pg_replication_slot_advance($1, pg_current_wal_flush_lsn())", scenario.SlotName);
        var delivered = 0;
        var ex = await Should.ThrowAsync<CheckpointException>(async () =>
        {
            await foreach (var _ in session.ReadAsync(Ct))
            {
                delivered++;
            }
        });

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.PositionUnavailable);
        ex.Message.ShouldContain("between the resume validation and START_REPLICATION");
        delivered.ShouldBe(0);
        (await store.LoadAsync("postgres", Ct)).ShouldBe(checkpoint);
    }

    [Fact]
    public async Task ReadAsync_CancelRequestReachesWalSenderBeforeStartReplication_StreamStillEnds()
    {
        await using var scenario = await PgScenario.CreateAsync();
        var store = await StoreAsync(scenario);
        await using (await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, store, Options(scenario), cancellationToken: Ct))
        {
        }

        await scenario.InsertAsync(1, 3);
        await using var session = await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, store, Options(scenario), cancellationToken: Ct);
        await scenario.ExecAsync("SELECT pg_replication_slot_advance($1, pg_current_wal_flush_lsn())", scenario.SlotName);

        // Freeze the walsender before it reads START_REPLICATION. The recheck fails at once (the slot moved), the session
        // cancels the stream, and PostgreSQL's cancel request reaches a walsender that is still reading its command:
        // when it resumes it ignores the cancel and streams. Npgsql alone would wait on that stream forever.
        var walSender = session.Connection.ProcessID;
        await SignalAsync("STOP", walSender);
        var resumed = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(1), Ct);
            await SignalAsync("CONT", walSender);
        }, Ct);

        var reading = Task.Run(async () =>
        {
            await foreach (var _ in session.ReadAsync(Ct))
            {
            }
        }, Ct);
        var ex = await Should.ThrowAsync<CheckpointException>(() => reading.WaitAsync(TimeSpan.FromSeconds(60), Ct));
        await resumed;

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.PositionUnavailable);
        (await scenario.ScalarAsync<long>($"SELECT count(*) FROM pg_stat_activity WHERE pid = {walSender}")).ShouldBe(0, "the walsender that missed the cancel request was terminated");
        (await scenario.SlotAsync())!.ActivePid.ShouldBeNull();
    }

    internal static async Task SignalAsync(string signal, int pid)
    {
        using var kill = System.Diagnostics.Process.Start("kill", $"-{signal} {pid}");
        await kill.WaitForExitAsync(Ct);
        kill.ExitCode.ShouldBe(0, $"kill -{signal} {pid}");
    }

    [Fact]
    public async Task ReadAsync_SlotTakenByAnotherConnectionAfterValidation_FailsAsInUse()
    {
        await using var scenario = await PgScenario.CreateAsync();
        var store = await StoreAsync(scenario);
        await using var session = await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, store, Options(scenario), cancellationToken: Ct);

        await using var intruder = new LogicalReplicationConnection(scenario.ReplicationConnectionString);
        await intruder.Open(Ct);
        using var stopIntruder = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var intruding = intruder.StartReplication(new PgOutputReplicationSlot(scenario.SlotName), new PgOutputReplicationOptions("pub", PgOutputProtocolVersion.V1), stopIntruder.Token)
            .GetAsyncEnumerator(stopIntruder.Token);
        var pending = intruding.MoveNextAsync().AsTask();
        await WaitUntilAsync(async () => (await scenario.SlotAsync())!.ActivePid == intruder.ProcessID, "the intruder to hold the slot");

        var ex = await Should.ThrowAsync<CheckpointException>(async () =>
        {
            await foreach (var _ in session.ReadAsync(Ct))
            {
            }
        });

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.InUse);
        ex.IsTransient.ShouldBeTrue();
        await stopIntruder.CancelAsync();
        try
        {
            await pending;
        }
        catch (OperationCanceledException)
        {
            // Stopping the intruder.
        }

        await intruding.DisposeAsync();
    }

    [Fact]
    public async Task OpenAsync_CheckpointExistsButSlotDropped_FailsClosedAndNeverCreatesTheSlot()
    {
        await using var scenario = await PgScenario.CreateAsync();
        var store = await StoreAsync(scenario);
        await using (await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, store, Options(scenario), cancellationToken: Ct))
        {
        }

        await scenario.ExecAsync("SELECT pg_drop_replication_slot($1)", scenario.SlotName);
        var before = await store.LoadAsync("postgres", Ct);

        var ex = await Should.ThrowAsync<CheckpointException>(() => PostgresReplicationSession.OpenAsync(scenario.ConnectionString, store, Options(scenario), cancellationToken: Ct));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.PositionUnavailable);
        (await scenario.SlotAsync()).ShouldBeNull();
        (await store.LoadAsync("postgres", Ct)).ShouldBe(before);
    }

    [Fact]
    public async Task OpenAsync_SlotMissingWithRecreateLostSlot_CreatesItAndRecordsTheGapAsANewCheckpoint()
    {
        await using var scenario = await PgScenario.CreateAsync();
        var store = await StoreAsync(scenario);
        await using (await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, store, Options(scenario), cancellationToken: Ct))
        {
        }

        await scenario.ExecAsync("SELECT pg_drop_replication_slot($1)", scenario.SlotName);
        await scenario.InsertAsync(1, 2); // lost on purpose
        var options = Options(scenario);
        options = new PostgresReplicationSessionOptions
        {
            SlotName = options.SlotName,
            PublicationNames = options.PublicationNames,
            Acknowledgement = options.Acknowledgement,
            Validation = new PostgresResumeValidationOptions { RecreateLostSlot = true },
        };

        await using var session = await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, store, options, cancellationToken: Ct);

        session.Validation.GapAccepted.ShouldBeTrue();
        var slot = (await scenario.SlotAsync()).ShouldNotBeNull();
        var record = (await store.LoadAsync("postgres", Ct)).ShouldNotBeNull();
        ((PostgresOffset)record.Offset).Lsn.ShouldBe(slot.ConfirmedFlushLsn!.Value);
        record.CommittedEventCount.ShouldBe(1UL);
    }
}
