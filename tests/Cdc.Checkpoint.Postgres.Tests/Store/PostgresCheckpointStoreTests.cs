using System.Text.Json;
using Cdc.Checkpoint.Postgres.Store;
using Cdc.Checkpoint.Postgres.Tests.Support;
using Cdc.Checkpoint.TestServers;
using Npgsql;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Store;

/// <summary>
/// What the PostgreSQL table store does beyond the shared suites (<see cref="PostgresStoreFenceTests"/> and the others in
/// PostgresStoreSuites.cs), against a real server: transactions, atomic guards under lock waits, the row format.
/// </summary>
public sealed class PostgresCheckpointStoreTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static PostgresOffset Offset(ulong lsn) => StoreDatabase.Offset(lsn);

    [Fact]
    public async Task SaveAsync_InCallerTransactionRolledBack_LeavesNeitherSinkRowNorCheckpoint()
    {
        var dataSource = await StoreDatabase.GetAsync();
        var store = StoreDatabase.NewStore(dataSource);
        var sink = "sink_" + Guid.NewGuid().ToString("N")[..8];
        await using (var create = dataSource.CreateCommand($"CREATE TABLE {sink} (id int PRIMARY KEY)"))
        {
            await create.ExecuteNonQueryAsync(Ct);
        }

        await using (var connection = await dataSource.OpenConnectionAsync(Ct))
        await using (var transaction = await connection.BeginTransactionAsync(Ct))
        {
            await using (var insert = new NpgsqlCommand($"INSERT INTO {sink} VALUES (1)", connection, transaction))
            {
                await insert.ExecuteNonQueryAsync(Ct);
            }

            await store.SaveAsync(transaction, Offset(100), 1, Ct);
            await transaction.RollbackAsync(Ct);
        }

        (await store.LoadAsync("postgres", Ct)).ShouldBeNull();
        await using var count = dataSource.CreateCommand($"SELECT count(*) FROM {sink}");
        ((long)(await count.ExecuteScalarAsync(Ct))!).ShouldBe(0);
    }

    [Fact]
    public async Task SaveAsync_InCallerTransactionCommitted_SinkRowAndCheckpointAppearTogether()
    {
        var dataSource = await StoreDatabase.GetAsync();
        var store = StoreDatabase.NewStore(dataSource);
        var sink = "sink_" + Guid.NewGuid().ToString("N")[..8];
        await using (var create = dataSource.CreateCommand($"CREATE TABLE {sink} (id int PRIMARY KEY)"))
        {
            await create.ExecuteNonQueryAsync(Ct);
        }

        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await using (var transaction = await connection.BeginTransactionAsync(Ct))
        {
            await using (var insert = new NpgsqlCommand($"INSERT INTO {sink} VALUES (1)", connection, transaction))
            {
                await insert.ExecuteNonQueryAsync(Ct);
            }

            await store.SaveAsync(transaction, Offset(100), 1, Ct);

            // Another connection sees neither before the commit.
            (await StoreDatabase.NewStore(dataSource, store.Name).LoadAsync("postgres", Ct)).ShouldBeNull();
            await transaction.CommitAsync(Ct);
        }

        var record = (await store.LoadAsync("postgres", Ct)).ShouldNotBeNull();
        record.Offset.ShouldBe(Offset(100));
        record.CommittedEventCount.ShouldBe(1UL);
        record.Epoch.ShouldBe(store.Epoch);
        await using var count = dataSource.CreateCommand($"SELECT count(*) FROM {sink}");
        ((long)(await count.ExecuteScalarAsync(Ct))!).ShouldBe(1);
    }

    [Fact]
    public async Task SaveAsync_TwoConcurrentTransactionsWithTheSameCount_GuardIsAtomicAndOneIsRefused()
    {
        var dataSource = await StoreDatabase.GetAsync();
        var store = StoreDatabase.NewStore(dataSource);
        await store.SaveAsync(Offset(100), 1, Ct);

        await using var connectionA = await dataSource.OpenConnectionAsync(Ct);
        await using var connectionB = await dataSource.OpenConnectionAsync(Ct);
        await using var a = await connectionA.BeginTransactionAsync(Ct);
        await using var b = await connectionB.BeginTransactionAsync(Ct);

        await store.SaveAsync(a, Offset(200), 2, Ct);
        var second = store.SaveAsync(b, Offset(250), 2, Ct).AsTask(); // blocks on the fence row held by a
        (await LockWaits.PostgresAsync(dataSource, connectionA.ProcessID, "_fence", Ct)).ShouldContain("_fence");
        second.IsCompleted.ShouldBeFalse();
        await a.CommitAsync(Ct);

        var ex = await Should.ThrowAsync<CheckpointException>(() => second.WaitAsync(TimeSpan.FromSeconds(30), Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.ConflictingOffset);
        await b.RollbackAsync(Ct);
        (await store.LoadAsync("postgres", Ct)).ShouldNotBeNull().Offset.ShouldBe(Offset(200));
    }

    // A save in its own transaction sends its fence lock, row read and upsert in one batch, ahead of the guards. Here it
    // queues behind a transaction that inserts the name's first row: the row read must still see that row (it is
    // taken after the fence lock is granted), so the guard refuses and the write sent ahead is rolled back.
    [Theory]
    [InlineData(250UL, 2UL, CheckpointErrorCode.ConflictingOffset)]
    [InlineData(150UL, 1UL, CheckpointErrorCode.OffsetRegression)]
    public async Task SaveAsync_OwnTransactionQueuedBehindTheFirstRowInsert_SeesThatRowAndIsRefused(ulong lsn, ulong count, CheckpointErrorCode expected)
    {
        var dataSource = await StoreDatabase.GetAsync();
        var store = StoreDatabase.NewStore(dataSource);
        await store.AcquireAsync(Ct);

        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await using var first = await connection.BeginTransactionAsync(Ct);
        await store.SaveAsync(first, Offset(200), 2, Ct);
        var second = store.SaveAsync(Offset(lsn), count, Ct).AsTask();
        (await LockWaits.PostgresAsync(dataSource, connection.ProcessID, "_fence", Ct)).ShouldContain("_fence");
        second.IsCompleted.ShouldBeFalse();
        await first.CommitAsync(Ct);

        var ex = await Should.ThrowAsync<CheckpointException>(() => second.WaitAsync(TimeSpan.FromSeconds(30), Ct));
        ex.ErrorCode.ShouldBe(expected);
        var record = (await store.LoadAsync("postgres", Ct)).ShouldNotBeNull();
        record.Offset.ShouldBe(Offset(200));
        record.CommittedEventCount.ShouldBe(2UL);
    }

    [Fact]
    public async Task SaveAsync_RepeatAndRefusedSaves_LeaveSequenceAndUpdateTimeUntouched()
    {
        var dataSource = await StoreDatabase.GetAsync();
        var clock = new FakeTimeProvider();
        var store = StoreDatabase.NewStore(dataSource, timeProvider: clock);
        await store.SaveAsync(Offset(500), 10, Ct);
        var saved = (await store.LoadAsync("postgres", Ct)).ShouldNotBeNull();
        clock.Advance(TimeSpan.FromMinutes(1));

        await store.SaveAsync(Offset(500), 10, Ct);
        (await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Offset(400), 9, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        (await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Offset(400), 11, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        (await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Offset(501), 10, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.ConflictingOffset);

        var after = (await store.LoadAsync("postgres", Ct)).ShouldNotBeNull();
        after.Sequence.ShouldBe(saved.Sequence);
        after.SavedAt.ShouldBe(saved.SavedAt);
        after.Offset.ShouldBe(Offset(500));
        await store.SaveAsync(Offset(600), 11, Ct);
        var advanced = (await store.LoadAsync("postgres", Ct)).ShouldNotBeNull();
        advanced.Sequence.ShouldBeGreaterThan(saved.Sequence);
        advanced.SavedAt.ShouldBe(clock.GetUtcNow());
    }

    [Fact]
    public async Task SaveAsync_StoresTheDocumentedRowShape()
    {
        var dataSource = await StoreDatabase.GetAsync();
        var clock = new FakeTimeProvider();
        var store = StoreDatabase.NewStore(dataSource, timeProvider: clock);
        var offset = Offset(0x16B3748);
        await store.SaveAsync(offset, ulong.MaxValue - 1, Ct);

        await using var command = dataSource.CreateCommand(
            "SELECT source_type, \"offset\", committed_event_count::text, epoch, format_version, updated_at FROM cdc_checkpoint WHERE name = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = store.Name });
        await using var reader = await command.ExecuteReaderAsync(Ct);
        (await reader.ReadAsync(Ct)).ShouldBeTrue();

        reader.GetString(0).ShouldBe("postgres");
        using (var json = JsonDocument.Parse(reader.GetString(1)))
        {
            json.RootElement.GetProperty("lsn").GetString().ShouldBe("0/16B3748");
            json.RootElement.GetProperty("slot_name").GetString().ShouldBe("store_slot");
            json.RootElement.GetProperty("system_identifier").GetString().ShouldBe("7000000000000000001");
            json.RootElement.GetProperty("timeline").GetUInt32().ShouldBe(1u);
            json.RootElement.GetProperty("database").GetString().ShouldBe("app");
        }

        reader.GetString(2).ShouldBe((ulong.MaxValue - 1).ToString());
        reader.GetInt64(3).ShouldBe(store.Epoch);
        reader.GetInt32(4).ShouldBe(PostgresCheckpointStore.CurrentFormatVersion);
        reader.GetFieldValue<DateTimeOffset>(5).ShouldBe(clock.GetUtcNow());
        (await store.LoadAsync("postgres", Ct)).ShouldNotBeNull().CommittedEventCount.ShouldBe(ulong.MaxValue - 1);
    }

    [Fact]
    public async Task RewindAsync_WritesAnAuditRowWithBothPositionsAndTheReason()
    {
        var dataSource = await StoreDatabase.GetAsync();
        var store = StoreDatabase.NewStore(dataSource);
        await store.SaveAsync(Offset(500), 10, Ct);

        await store.RewindAsync(Offset(100), 2, "replay after a sink bug", Ct);

        await using var command = dataSource.CreateCommand(
            "SELECT old_offset->>'lsn', old_count::text, new_offset->>'lsn', new_count::text, reason, epoch FROM cdc_checkpoint_audit WHERE name = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = store.Name });
        await using var reader = await command.ExecuteReaderAsync(Ct);
        (await reader.ReadAsync(Ct)).ShouldBeTrue();
        reader.GetString(0).ShouldBe("0/1F4");
        reader.GetString(1).ShouldBe("10");
        reader.GetString(2).ShouldBe("0/64");
        reader.GetString(3).ShouldBe("2");
        reader.GetString(4).ShouldBe("replay after a sink bug");
        reader.GetInt64(5).ShouldBe(store.Epoch);
        (await reader.ReadAsync(Ct)).ShouldBeFalse();
    }

    [Fact]
    public async Task CreateSchemaAsync_CalledConcurrentlyAndRepeatedly_Succeeds()
    {
        var server = await PostgresTestServer.GetAsync(Ct);
        await using var dataSource = NpgsqlDataSource.Create(await server.CreateDatabaseAsync("schema", Ct));
        var options = new PostgresCheckpointStoreOptions { Schema = "public", TableName = "offsets" };

        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => new PostgresCheckpointStore(dataSource, "x", options).CreateSchemaAsync(Ct)));
        await new PostgresCheckpointStore(dataSource, "x", options).CreateSchemaAsync(Ct);

        var store = new PostgresCheckpointStore(dataSource, "x", options);
        await store.SaveAsync(Offset(1), 1, Ct);
        (await store.LoadAsync("postgres", Ct)).ShouldNotBeNull().Epoch.ShouldBe(store.Epoch);
        store.TableName.ShouldBe("public.offsets");
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("a\nb")]
    public void Constructor_InvalidName_ThrowsArgumentExceptionQuotingIt(string name)
    {
        var ex = Should.Throw<ArgumentException>(() => new PostgresCheckpointStore(NpgsqlDataSource.Create("Host=localhost"), name));
        ex.Message.ShouldContain($"'{name}'");
    }

    [Theory]
    [InlineData("Upper")]
    [InlineData("1table")]
    [InlineData("drop table;")]
    [InlineData("a_very_long_table_name_that_is_longer_than_fifty_seven_chars")]
    public void Options_InvalidTableName_ThrowsArgumentException(string table)
    {
        Should.Throw<ArgumentException>(() => new PostgresCheckpointStoreOptions { TableName = table }).Message.ShouldContain(table);
    }
}
