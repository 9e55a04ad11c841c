using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Store;
using Cdc.Checkpoint.MySql.Tests.Integration;
using Cdc.Checkpoint.TestServers;
using Cdc.Checkpoint.TestServers.MariaDb;
using MySqlConnector;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Store;

/// <summary>
/// The one-statement save a store makes when it knows what its row holds: it must decide exactly as the full save
/// would, however the row or the fence changed behind its back.
/// </summary>
public sealed class MySqlStoreOneStatementSaveTests(StoreDatabase database) : IClassFixture<StoreDatabase>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static MariaDbOffset Gtid(ulong sequence) => new(MariaDbGtidPosition.Parse($"0-1-{sequence}"), null, 1);

    [Fact]
    public async Task SaveAsync_RowChangedBehindTheStoresBack_IsJudgedAgainstTheStoredRowNotTheRememberedOne()
    {
        var store = database.NewStore();
        await store.SaveAsync(Gtid(100), 10, Ct);

        // Someone moves the row forward directly (an operator, another tool): the store still remembers count 10.
        await using (var connection = await database.DataSource.OpenConnectionAsync(Ct))
        {
            (await MariaDbSql.ExecuteAsync(
                connection,
                "UPDATE cdc_checkpoint SET `offset` = @offset, committed_event_count = 20 WHERE name = @name",
                ("@offset", Gtid(200).ToJsonString()),
                ("@name", store.Name))).ShouldBe(1);
        }

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Gtid(150), 15, Ct));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        var stored = (await store.LoadAsync(MariaDbOffset.DefaultSourceType, Ct)).ShouldNotBeNull();
        stored.CommittedEventCount.ShouldBe(20UL);
        stored.Offset.ShouldBe(Gtid(200));

        // Once the store has read the row again (in the full path), saves go on from it.
        await store.SaveAsync(Gtid(300), 30, Ct);
        (await store.LoadAsync(MariaDbOffset.DefaultSourceType, Ct))!.CommittedEventCount.ShouldBe(30UL);
    }

    [Fact]
    public async Task SaveAsync_AcquisitionInFlightWhileSaving_WaitsForItAndFailsWithStaleEpochWithoutWriting()
    {
        var store = database.NewStore();
        await store.SaveAsync(Gtid(100), 10, Ct);

        // A new owner's acquisition, held open: the fence row is updated but not committed yet; the checkpoint row is
        // untouched, so only the epoch condition can stop the one-statement save.
        await using var intruder = await database.DataSource.OpenConnectionAsync(Ct);
        await using var acquisition = await intruder.BeginTransactionAsync(Ct);
        await using (var bump = new MySqlCommand("UPDATE cdc_checkpoint_fence SET epoch = epoch + 1 WHERE name = @name", intruder, acquisition))
        {
            bump.Parameters.AddWithValue("@name", store.Name);
            (await bump.ExecuteNonQueryAsync(Ct)).ShouldBe(1);
        }

        var saving = Task.Run(async () => await store.SaveAsync(Gtid(200), 20, Ct), Ct);
        // MariaDB 10.11 does not show this wait in information_schema (the UPDATE sits in state "Statistics" while the
        // optimizer evaluates its LOCK IN SHARE MODE subquery, with no InnoDB lock wait listed), so the proof is that
        // the save is still pending well after it was sent, and that it fails with StaleEpoch once the fence commits.
        await Task.Delay(500, Ct);
        saving.IsCompleted.ShouldBeFalse("the save must wait for the acquisition that locks the fence row");
        await acquisition.CommitAsync(Ct);

        var ex = await Should.ThrowAsync<CheckpointException>(() => saving);
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.StaleEpoch);
        var stored = (await store.LoadAsync(MariaDbOffset.DefaultSourceType, Ct)).ShouldNotBeNull();
        stored.CommittedEventCount.ShouldBe(10UL);
        stored.Offset.ShouldBe(Gtid(100));
    }

    [Fact]
    public async Task SaveAsync_AcquisitionInFlightUnderReadCommitted_StillWaitsForItAndFailsWithStaleEpoch()
    {
        // Under READ COMMITTED InnoDB reads another table's rows in an UPDATE's subquery without locking them, so only
        // the subquery's own LOCK IN SHARE MODE makes the save wait for an acquisition in flight.
        await using var server = await MariaDbTestServer.StartNewAsync(
            new MariaDbTestServerOptions { ServerId = 78, ExtraSettings = ["transaction_isolation=READ-COMMITTED"] }, Ct);
        await using var dataSource = server.CreateDataSource();
        var store = new MySqlCheckpointStore(dataSource, "read-committed");
        await store.CreateSchemaAsync(Ct);
        await store.SaveAsync(Gtid(100), 10, Ct);

        await using var intruder = await dataSource.OpenConnectionAsync(Ct);
        (await MariaDbSql.ScalarAsync<string>(intruder, "SELECT @@tx_isolation")).ShouldBe("READ-COMMITTED");
        await using var acquisition = await intruder.BeginTransactionAsync(Ct);
        await using (var bump = new MySqlCommand("UPDATE cdc_checkpoint_fence SET epoch = epoch + 1 WHERE name = 'read-committed'", intruder, acquisition))
        {
            (await bump.ExecuteNonQueryAsync(Ct)).ShouldBe(1);
        }

        var saving = Task.Run(async () => await store.SaveAsync(Gtid(200), 20, Ct), Ct);
        // MariaDB 10.11 does not show this wait in information_schema (the UPDATE sits in state "Statistics" while the
        // optimizer evaluates its LOCK IN SHARE MODE subquery, with no InnoDB lock wait listed), so the proof is that
        // the save is still pending well after it was sent, and that it fails with StaleEpoch once the fence commits.
        await Task.Delay(500, Ct);
        saving.IsCompleted.ShouldBeFalse("the save must wait for the acquisition that locks the fence row");
        await acquisition.CommitAsync(Ct);

        (await Should.ThrowAsync<CheckpointException>(() => saving)).ErrorCode.ShouldBe(CheckpointErrorCode.StaleEpoch);
        (await store.LoadAsync(MariaDbOffset.DefaultSourceType, Ct))!.Offset.ShouldBe(Gtid(100));
    }

    [Fact]
    public async Task SaveAsync_AnotherSourceTypeSavedInBetween_KeepsTheWriteSequenceGrowingAcrossSourceTypes()
    {
        var store = database.NewStore();
        var mysql = new MySqlOffset(GtidSet.Parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5"), null);
        await store.SaveAsync(Gtid(1), 1, Ct);
        await store.SaveAsync(mysql, 1, Ct);
        await store.SaveAsync(Gtid(2), 2, Ct);

        var mariadb = (await store.LoadAsync(MariaDbOffset.DefaultSourceType, Ct)).ShouldNotBeNull();
        var other = (await store.LoadAsync(MySqlOffset.DefaultSourceType, Ct)).ShouldNotBeNull();
        mariadb.Sequence.ShouldBeGreaterThan(other.Sequence);
    }

    [Fact]
    public async Task SaveAsync_ManySavesInARow_EachIsStoredWithAGrowingSequence()
    {
        var store = database.NewStore();
        ulong previous = 0;
        for (ulong i = 1; i <= 20; i++)
        {
            await store.SaveAsync(Gtid(100 * i), i, Ct);
            var stored = (await store.LoadAsync(MariaDbOffset.DefaultSourceType, Ct)).ShouldNotBeNull();
            stored.CommittedEventCount.ShouldBe(i);
            stored.Offset.ShouldBe(Gtid(100 * i));
            stored.Epoch.ShouldBe(store.Epoch);
            stored.Sequence.ShouldBeGreaterThan(previous);
            previous = stored.Sequence;
        }

        // A repeat writes nothing and still succeeds; a step back is refused.
        await store.SaveAsync(Gtid(2000), 20, Ct);
        (await store.LoadAsync(MariaDbOffset.DefaultSourceType, Ct))!.Sequence.ShouldBe(previous);
        (await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Gtid(1900), 19, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
    }

    [Fact]
    public async Task SaveAsync_RowKnown_IsOneUpdateAndNoUpsert()
    {
        // A private server, so the global statement counters count this test's statements only.
        await using var server = await MariaDbTestServer.StartNewAsync(cancellationToken: Ct);
        await using var dataSource = server.CreateDataSource();
        var store = new MySqlCheckpointStore(dataSource, "one-statement");
        await store.CreateSchemaAsync(Ct);
        await store.SaveAsync(Gtid(1), 1, Ct);

        var before = await CountersAsync(dataSource);
        for (ulong i = 2; i <= 11; i++)
        {
            await store.SaveAsync(Gtid(i), i, Ct);
        }

        var after = await CountersAsync(dataSource);
        (after.Update - before.Update).ShouldBe(10L);
        (after.Insert - before.Insert).ShouldBe(0L, "no save may have fallen back to the full path's upsert");
        (await store.LoadAsync(MariaDbOffset.DefaultSourceType, Ct))!.Offset.ShouldBe(Gtid(11));
    }

    private static async Task<(long Update, long Insert)> CountersAsync(MySqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand("SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_update', 'Com_insert')");
        await using var reader = await command.ExecuteReaderAsync(Ct);
        long update = -1, insert = -1;
        while (await reader.ReadAsync(Ct))
        {
            var value = long.Parse(reader.GetString(1), System.Globalization.CultureInfo.InvariantCulture);
            if (reader.GetString(0) == "Com_update")
            {
                update = value;
            }
            else
            {
                insert = value;
            }
        }

        return (update, insert);
    }
}
