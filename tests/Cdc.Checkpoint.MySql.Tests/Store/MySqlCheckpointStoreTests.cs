using System.Data.Common;
using System.Diagnostics.Metrics;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Store;
using Cdc.Checkpoint.MySql.Tests.Integration;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Store;

/// <summary>
/// What the MySQL/MariaDB table store does beyond the shared suites (<see cref="MySqlStoreFenceTests"/> and the others in
/// MySqlStoreSuites.cs): saving in the caller's transaction with sink rows, typed guards under the row lock, errors, metrics.
/// </summary>
public sealed class MySqlCheckpointStoreTests(StoreDatabase database) : IClassFixture<StoreDatabase>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static MariaDbOffset Gtid(string position, string? binlog = null) =>
        new(MariaDbGtidPosition.Parse(position), binlog is null ? null : BinlogPosition.Parse(binlog), 1);

    [Fact]
    public async Task SaveAsync_InTheCallersTransaction_CommitsOrRollsBackWithTheSinkRows()
    {
        var store = database.NewStore();
        await using var connection = await database.DataSource.OpenConnectionAsync(Ct);
        await MariaDbSql.ExecuteAsync(connection, $"CREATE TABLE IF NOT EXISTS sink_rows (id INT PRIMARY KEY, store VARCHAR(100)) ENGINE=InnoDB");

        await using (var transaction = await connection.BeginTransactionAsync(Ct))
        {
            await InsertSinkRowAsync(connection, transaction, 1, store.Name);
            await store.SaveAsync(transaction, Gtid("0-1-5"), 5, Ct);

            // Not visible to anyone else before the commit.
            (await database.NewStore(store.Name).LoadAsync(MariaDbOffset.DefaultSourceType, Ct)).ShouldBeNull();
            await transaction.CommitAsync(Ct);
        }

        (await store.LoadAsync(MariaDbOffset.DefaultSourceType, Ct)).ShouldNotBeNull().CommittedEventCount.ShouldBe(5UL);
        (await SinkRowsAsync(store.Name)).ShouldBe(1L);

        await using (var transaction = await connection.BeginTransactionAsync(Ct))
        {
            await InsertSinkRowAsync(connection, transaction, 2, store.Name);
            await store.SaveAsync(transaction, Gtid("0-1-9"), 9, Ct);
            await transaction.RollbackAsync(Ct);
        }

        (await store.LoadAsync(MariaDbOffset.DefaultSourceType, Ct)).ShouldNotBeNull().CommittedEventCount.ShouldBe(5UL);
        (await SinkRowsAsync(store.Name)).ShouldBe(1L);
    }

    [Fact]
    public async Task SaveAsync_TypedGuards_RefuseGtidAndBinlogRegressionsAndDivergence()
    {
        var store = database.NewStore();
        await store.SaveAsync(Gtid("0-1-100,1-2-5"), 100, Ct);

        // A GTID position behind in one domain, although the count grows.
        var behind = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Gtid("0-1-99,1-2-5"), 101, Ct));
        behind.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);

        // Ahead in one domain, behind in another: diverged.
        var diverged = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Gtid("0-1-101,1-2-4"), 102, Ct));
        diverged.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetDiverged);

        // MySQL GTID sets: a set that is not a superset.
        var mysql = database.NewStore();
        var a = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        await mysql.SaveAsync(new MySqlOffset(GtidSet.Parse($"{a}:1-10"), null), 10, Ct);
        (await Should.ThrowAsync<CheckpointException>(async () => await mysql.SaveAsync(new MySqlOffset(GtidSet.Parse($"{a}:1-9:11"), null), 11, Ct)))
            .ErrorCode.ShouldBe(CheckpointErrorCode.OffsetDiverged);
        await mysql.SaveAsync(new MySqlOffset(GtidSet.Parse($"{a}:1-11"), null), 11, Ct);

        // Binlog positions: an earlier position of the same server.
        var binlog = database.NewStore();
        await binlog.SaveAsync(new MariaDbOffset(null, BinlogPosition.Parse("binlog.000003:900"), 1), 3, Ct);
        (await Should.ThrowAsync<CheckpointException>(async () => await binlog.SaveAsync(new MariaDbOffset(null, BinlogPosition.Parse("binlog.000002:4000"), 1), 4, Ct)))
            .ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);

        (await store.LoadAsync(MariaDbOffset.DefaultSourceType, Ct)).ShouldNotBeNull().Offset.ShouldBe(Gtid("0-1-100,1-2-5"));
    }

    [Fact]
    public async Task SaveAsync_ConcurrentSavesOfOneName_SerialisedByTheRowLock()
    {
        var store = database.NewStore();
        await store.AcquireAsync(Ct);
        const int Saves = 12;
        var outcomes = await Task.WhenAll(Enumerable.Range(1, Saves).Select(async i =>
        {
            try
            {
                await store.SaveAsync(Gtid($"0-1-{i}"), (ulong)i, Ct);
                return true;
            }
            catch (CheckpointException ex) when (ex.ErrorCode == CheckpointErrorCode.OffsetRegression)
            {
                return false;
            }
        }));

        // The highest save can never be refused. Every accepted save took a sequence number of its own, above the one
        // before it; a save that lost the race on the one-statement path and was then refused on the full path may have
        // consumed a number too (sequences only grow, they are not dense), so the last one lies between the number of
        // accepted saves and the number of attempts (one or two each).
        var record = (await store.LoadAsync(MariaDbOffset.DefaultSourceType, Ct)).ShouldNotBeNull();
        record.CommittedEventCount.ShouldBe((ulong)Saves);
        record.Offset.ShouldBe(Gtid($"0-1-{Saves}"));
        record.Sequence.ShouldBeInRange((ulong)outcomes.Count(accepted => accepted), 2UL * Saves);
    }

    [Fact]
    public async Task RewindAsync_WithReason_WritesAnAuditRowInTheSameTransaction()
    {
        var store = database.NewStore();
        await store.SaveAsync(Gtid("0-1-50"), 50, Ct);
        await store.RewindAsync(Gtid("0-1-20"), 20, "replay after a sink bug", Ct);

        (await store.LoadAsync(MariaDbOffset.DefaultSourceType, Ct)).ShouldNotBeNull().CommittedEventCount.ShouldBe(20UL);
        await using var connection = await database.DataSource.OpenConnectionAsync(Ct);
        await using var command = MariaDbSql.Create(connection, "SELECT old_count, new_count, reason, old_offset FROM cdc_checkpoint_audit WHERE name = @name", ("@name", store.Name));
        await using var reader = await command.ExecuteReaderAsync(Ct);
        (await reader.ReadAsync(Ct)).ShouldBeTrue();
        reader.GetFieldValue<ulong>(0).ShouldBe(50UL);
        reader.GetFieldValue<ulong>(1).ShouldBe(20UL);
        reader.GetString(2).ShouldBe("replay after a sink bug");
        reader.GetString(3).ShouldBe(Gtid("0-1-50").ToJsonString());
    }

    [Fact]
    public async Task CreateSchemaAsync_InAnotherDatabaseCalledTwice_IsIdempotent()
    {
        var other = await database.Server.CreateDatabaseAsync("schema", Ct);
        var options = new MySqlCheckpointStoreOptions { Database = other, TableName = "cp" };
        var store = new MySqlCheckpointStore(database.DataSource, "x", options);
        await store.CreateSchemaAsync(Ct);
        await store.CreateSchemaAsync(Ct);
        await store.SaveAsync(Gtid("0-1-3"), 3, Ct);

        store.TableName.ShouldBe($"{other}.cp");
        (await new MySqlCheckpointStore(database.DataSource, "x", options).LoadAsync(MariaDbOffset.DefaultSourceType, Ct)).ShouldNotBeNull().CommittedEventCount.ShouldBe(3UL);
    }

    [Fact]
    public async Task SaveAsync_Measured_AsMySqlTableStoreSaves()
    {
        var saves = new List<(string? Store, string? Error)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Cdc.Checkpoint" && instrument.Name == "cdc.checkpoint.saves")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            var list = tags.ToArray();
            lock (saves)
            {
                saves.Add((list.FirstOrDefault(t => t.Key == "cdc.store").Value as string, list.FirstOrDefault(t => t.Key == "error.type").Value as string));
            }
        });
        listener.Start();

        var store = database.NewStore();
        await store.SaveAsync(Gtid("0-1-5"), 5, Ct);
        await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Gtid("0-1-4"), 4, Ct));

        lock (saves)
        {
            saves.ShouldContain(("mysql_table", null));
            saves.ShouldContain(("mysql_table", nameof(CheckpointErrorCode.OffsetRegression)));
        }
    }

    [Fact]
    public void Constructor_InvalidNameOrOptions_ArgumentExceptions()
    {
        Should.Throw<ArgumentException>(() => database.NewStore(string.Empty));
        Should.Throw<ArgumentException>(() => database.NewStore("bad\nname"));
        Should.Throw<ArgumentException>(() => database.NewStore("padded "));
        Should.Throw<ArgumentException>(() => database.NewStore(" padded"));
        Should.Throw<ArgumentException>(() => database.NewStore(new string('x', MySqlCheckpointStore.MaxNameLength + 1)));
        Should.Throw<ArgumentException>(() => new MySqlCheckpointStoreOptions { TableName = "Bad-Name" });
        Should.Throw<ArgumentException>(() => new MySqlCheckpointStoreOptions { TableName = new string('t', MySqlCheckpointStoreOptions.MaxTableNameLength + 1) });
        Should.Throw<ArgumentException>(() => new MySqlCheckpointStoreOptions { Database = "db`; DROP" });
    }

    private static async Task InsertSinkRowAsync(DbConnection connection, DbTransaction transaction, int id, string store)
    {
        await using var insert = MariaDbSql.Create(connection, "INSERT INTO sink_rows (id, store) VALUES (@id, @store)", ("@id", id + Random.Shared.Next(1, 1_000_000) * 10), ("@store", store));
        insert.Transaction = transaction;
        await insert.ExecuteNonQueryAsync(Ct);
    }

    private async Task<long> SinkRowsAsync(string store)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(Ct);
        return await MariaDbSql.ScalarAsync<long>(connection, "SELECT COUNT(*) FROM sink_rows WHERE store = @store", ("@store", store));
    }
}
