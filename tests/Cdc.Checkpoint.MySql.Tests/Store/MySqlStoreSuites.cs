using System.Data.Common;
using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.Conformance.TableStores;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Store;
using Cdc.Checkpoint.MySql.Tests.Integration;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Tables;
using MySqlConnector;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Store;

/// <summary>The shared table-store suites' view of <see cref="MySqlCheckpointStore"/> on the real MariaDB of a <see cref="StoreDatabase"/>.</summary>
internal sealed class MySqlStoreHarness(StoreDatabase database) : TableStoreHarness
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static MariaDbOffset Gtid(ulong sequence) => new(MariaDbGtidPosition.Parse($"0-1-{sequence}"), null, 1);

    public override CheckpointOffset Offset(ulong position) => Gtid(position);

    public override Task<TableCheckpointStore> NewStoreAsync(string? name = null, string owner = "test", TimeProvider? timeProvider = null) =>
        Task.FromResult<TableCheckpointStore>(database.NewStore(name, new MySqlCheckpointStoreOptions { Codecs = database.Options.Codecs, Owner = owner }, timeProvider));

    public override Task<TableCheckpointStore> NewStoreWithoutTablesAsync() =>
        Task.FromResult<TableCheckpointStore>(database.NewStore(options: new MySqlCheckpointStoreOptions { Codecs = database.Options.Codecs, TableName = "no_such_checkpoint" }));

    public override async Task<DbConnection> OpenConnectionAsync() => await database.DataSource.OpenConnectionAsync(Ct);

    public override ValueTask SaveAsync(TableCheckpointStore store, DbTransaction transaction, CheckpointOffset offset, ulong committedEventCount) =>
        ((MySqlCheckpointStore)store).SaveAsync((MySqlTransaction)transaction, offset, committedEventCount, Ct);

    public override string UnreadableOffsetJson => "{\"gtid_position\":\"0-1-x\"}";

    public override async Task SetRowColumnAsync(TableCheckpointStore store, string sourceType, string column, object value)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(Ct);
        (await MariaDbSql.ExecuteAsync(
            connection,
            $"UPDATE cdc_checkpoint SET `{column}` = @value WHERE name = @name AND source_type = @source_type",
            ("@value", value),
            ("@name", store.Name),
            ("@source_type", sourceType))).ShouldBe(1);
    }

    public override async Task<DbTransaction> BeginFenceIncrementAsync(TableCheckpointStore store) =>
        await BeginFenceIncrementAsync(database.DataSource, store.Name);

    /// <summary>On <paramref name="dataSource"/>: a new owner's acquisition of <paramref name="name"/> in flight (see the base).</summary>
    public static async Task<MySqlTransaction> BeginFenceIncrementAsync(MySqlDataSource dataSource, string name)
    {
        var connection = await dataSource.OpenConnectionAsync(Ct);
        var transaction = await connection.BeginTransactionAsync(Ct);
        await using var bump = new MySqlCommand("UPDATE cdc_checkpoint_fence SET epoch = epoch + 1 WHERE name = @name", connection, transaction);
        bump.Parameters.AddWithValue("@name", name);
        (await bump.ExecuteNonQueryAsync(Ct)).ShouldBe(1);
        return transaction;
    }

    // MariaDB 10.11 does not show these waits in information_schema (an UPDATE sits in state "Statistics" while the
    // optimizer evaluates its LOCK IN SHARE MODE subquery, with no InnoDB lock wait listed), so the proof is that the
    // statement is still pending well after it was sent; each test then shows it completes only once the holder commits.
    public override Task ProveWaitsAsync(DbTransaction holder, Task waiting, string table) => Task.Delay(500, Ct);
}

/// <summary>The shared read-only inspection suite, run against <see cref="MySqlCheckpointStore"/> on a real MariaDB.</summary>
public sealed class MySqlStoreReadTests(StoreDatabase database) : TableStoreReadTests, IClassFixture<StoreDatabase>
{
    protected override TableStoreHarness Harness { get; } = new MySqlStoreHarness(database);
}

/// <summary>The shared fencing suite, run against <see cref="MySqlCheckpointStore"/> on a real MariaDB.</summary>
public sealed class MySqlStoreFenceTests(StoreDatabase database) : TableStoreFenceTests, IClassFixture<StoreDatabase>
{
    protected override TableStoreHarness Harness { get; } = new MySqlStoreHarness(database);
}

/// <summary>The shared store conformance suite, on the real MariaDB.</summary>
public sealed class MySqlCheckpointStoreConformanceTests(StoreDatabase database) : CheckpointStoreConformanceTests, IClassFixture<StoreDatabase>
{
    protected override Task<ICheckpointStore> CreateStoreAsync() => Task.FromResult<ICheckpointStore>(database.NewStore());

    protected override Task<ICheckpointStore> ReopenAsync(ICheckpointStore store) =>
        Task.FromResult<ICheckpointStore>(database.NewStore(((MySqlCheckpointStore)store).Name));
}
