using Cdc.Checkpoint.Conformance.TableStores;
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
/// The shared one-statement save suite, run against <see cref="MySqlCheckpointStore"/> on a real MariaDB, and what only
/// MariaDB needs: the wait under READ COMMITTED, and the proof that a known row's save is one UPDATE.
/// </summary>
public sealed class MySqlStoreOneStatementSaveTests(StoreDatabase database) : TableStoreOneStatementSaveTests, IClassFixture<StoreDatabase>
{
    private static MariaDbOffset Gtid(ulong sequence) => MySqlStoreHarness.Gtid(sequence);

    protected override TableStoreHarness Harness { get; } = new MySqlStoreHarness(database);

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

        await using (var session = await dataSource.OpenConnectionAsync(Ct))
        {
            (await MariaDbSql.ScalarAsync<string>(session, "SELECT @@tx_isolation")).ShouldBe("READ-COMMITTED");
        }

        var acquisition = await MySqlStoreHarness.BeginFenceIncrementAsync(dataSource, "read-committed");
        await using var intruder = acquisition.Connection!;
        await using var disposeAcquisition = acquisition;
        var saving = Task.Run(async () => await store.SaveAsync(Gtid(200), 20, Ct), Ct);
        await Harness.ProveWaitsAsync(acquisition, saving, "cdc_checkpoint");
        saving.IsCompleted.ShouldBeFalse("the save must wait for the acquisition that locks the fence row");
        await acquisition.CommitAsync(Ct);

        (await Should.ThrowAsync<CheckpointException>(() => saving)).ErrorCode.ShouldBe(CheckpointErrorCode.StaleEpoch);
        (await store.LoadAsync(MariaDbOffset.DefaultSourceType, Ct))!.Offset.ShouldBe(Gtid(100));
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
