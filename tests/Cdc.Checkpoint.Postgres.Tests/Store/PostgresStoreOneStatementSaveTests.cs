using Cdc.Checkpoint.TestServers;
using Npgsql;
using NpgsqlTypes;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Store;

/// <summary>
/// The one-statement save a store makes when it knows what its row holds: it must decide exactly as the full save
/// would, however the row or the fence changed behind its back.
/// </summary>
public sealed class PostgresStoreOneStatementSaveTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static PostgresOffset Offset(ulong lsn) => new(new NpgsqlLogSequenceNumber(lsn), "store_slot", 7_000_000_000_000_000_001UL, 1, "app");

    private static async Task ExecAsync(NpgsqlDataSource dataSource, string sql, params object[] parameters)
    {
        await using var command = dataSource.CreateCommand(sql);
        foreach (var parameter in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = parameter });
        }

        await command.ExecuteNonQueryAsync(Ct);
    }

    [Fact]
    public async Task SaveAsync_RowChangedBehindTheStoresBack_IsJudgedAgainstTheStoredRowNotTheRememberedOne()
    {
        var dataSource = await StoreDatabase.GetAsync();
        var store = StoreDatabase.NewStore(dataSource);
        await store.SaveAsync(Offset(100), 10, Ct);

        // Someone moves the row forward directly (an operator, another tool): the store still remembers count 10.
        await ExecAsync(dataSource, "UPDATE cdc_checkpoint SET \"offset\" = $1::jsonb, committed_event_count = 20 WHERE name = $2", Offset(200).ToJsonString(), store.Name);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Offset(150), 15, Ct));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        var stored = (await store.LoadAsync("postgres", Ct)).ShouldNotBeNull();
        stored.CommittedEventCount.ShouldBe(20UL);
        stored.Offset.ShouldBe(Offset(200));

        // Once the store has read the row again, saves go on from it.
        await store.SaveAsync(Offset(300), 30, Ct);
        (await store.LoadAsync("postgres", Ct))!.CommittedEventCount.ShouldBe(30UL);
    }

    [Fact]
    public async Task SaveAsync_AcquisitionInFlightWhileSaving_WaitsForItAndFailsWithStaleEpochWithoutWriting()
    {
        var dataSource = await StoreDatabase.GetAsync();
        var store = StoreDatabase.NewStore(dataSource);
        await store.SaveAsync(Offset(100), 10, Ct);

        // A new owner's acquisition, held open: the fence row is updated but not committed yet.
        await using var intruder = await dataSource.OpenConnectionAsync(Ct);
        await using var acquisition = await intruder.BeginTransactionAsync(Ct);
        await using (var bump = new NpgsqlCommand("UPDATE cdc_checkpoint_fence SET epoch = epoch + 1 WHERE name = $1", intruder, acquisition))
        {
            bump.Parameters.Add(new NpgsqlParameter { Value = store.Name });
            (await bump.ExecuteNonQueryAsync(Ct)).ShouldBe(1);
        }

        var saving = Task.Run(async () => await store.SaveAsync(Offset(200), 20, Ct), Ct);
        // The wait is proven by pg_blocking_pids naming the intruder; the save sends its statements as one Npgsql batch,
        // and pg_stat_activity may show the batch's row read rather than its fenced write, so only the table is checked.
        (await LockWaits.PostgresAsync(dataSource, intruder.ProcessID, Ct)).ShouldContain("cdc_checkpoint");
        saving.IsCompleted.ShouldBeFalse("the save must wait for the acquisition that locks the fence row");
        await acquisition.CommitAsync(Ct);

        var ex = await Should.ThrowAsync<CheckpointException>(() => saving);
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.StaleEpoch);
        var stored = (await store.LoadAsync("postgres", Ct)).ShouldNotBeNull();
        stored.CommittedEventCount.ShouldBe(10UL);
        stored.Offset.ShouldBe(Offset(100));
    }

    [Fact]
    public async Task SaveAsync_ManySavesInARow_EachIsStoredWithAGrowingSequence()
    {
        var dataSource = await StoreDatabase.GetAsync();
        var store = StoreDatabase.NewStore(dataSource);
        ulong previous = 0;
        for (ulong i = 1; i <= 20; i++)
        {
            await store.SaveAsync(Offset(100 * i), i, Ct);
            var stored = (await store.LoadAsync("postgres", Ct)).ShouldNotBeNull();
            stored.CommittedEventCount.ShouldBe(i);
            stored.Offset.ShouldBe(Offset(100 * i));
            stored.Epoch.ShouldBe(store.Epoch);
            stored.Sequence.ShouldBeGreaterThan(previous);
            previous = stored.Sequence;
        }

        // A repeat writes nothing and still succeeds; a step back is refused.
        await store.SaveAsync(Offset(2000), 20, Ct);
        (await store.LoadAsync("postgres", Ct))!.Sequence.ShouldBe(previous);
        (await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Offset(1900), 19, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
    }
}
