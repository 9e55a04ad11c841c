using System.Data.Common;
using Cdc.Checkpoint.Conformance.TableStores;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres.Store;
using Cdc.Checkpoint.Tables;
using Cdc.Checkpoint.TestServers;
using Npgsql;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Store;

/// <summary>The shared table-store suites' view of <see cref="PostgresCheckpointStore"/> on the real server of <see cref="StoreDatabase"/>.</summary>
internal sealed class PostgresStoreHarness : TableStoreHarness
{
    public static PostgresStoreHarness Instance { get; } = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public override CheckpointOffset Offset(ulong position) => StoreDatabase.Offset(position);

    public override async Task<TableCheckpointStore> NewStoreAsync(string? name = null, string owner = "test", TimeProvider? timeProvider = null) =>
        StoreDatabase.NewStore(await StoreDatabase.GetAsync(), name, timeProvider, owner);

    public override async Task<TableCheckpointStore> NewStoreWithoutTablesAsync() => StoreDatabase.NewStore(await StoreDatabase.GetWithoutTablesAsync());

    public override async Task<DbConnection> OpenConnectionAsync() => await (await StoreDatabase.GetAsync()).OpenConnectionAsync(Ct);

    public override ValueTask SaveAsync(TableCheckpointStore store, DbTransaction transaction, CheckpointOffset offset, ulong committedEventCount) =>
        ((PostgresCheckpointStore)store).SaveAsync((NpgsqlTransaction)transaction, offset, committedEventCount, Ct);

    public override string UnreadableOffsetJson => "{\"lsn\":\"zz\"}";

    public override async Task SetRowColumnAsync(TableCheckpointStore store, string sourceType, string column, object value)
    {
        var cast = column switch { "offset" => "::jsonb", "committed_event_count" => "::numeric", _ => string.Empty };
        await using var command = (await StoreDatabase.GetAsync()).CreateCommand(
            $"UPDATE cdc_checkpoint SET \"{column}\" = $1{cast} WHERE name = $2 AND source_type = $3");
        command.Parameters.Add(new NpgsqlParameter { Value = value is ulong count ? (decimal)count : value });
        command.Parameters.Add(new NpgsqlParameter { Value = store.Name });
        command.Parameters.Add(new NpgsqlParameter { Value = sourceType });
        (await command.ExecuteNonQueryAsync(Ct)).ShouldBe(1);
    }

    public override async Task<DbTransaction> BeginFenceIncrementAsync(TableCheckpointStore store)
    {
        var connection = await (await StoreDatabase.GetAsync()).OpenConnectionAsync(Ct);
        var transaction = await connection.BeginTransactionAsync(Ct);
        await using var bump = new NpgsqlCommand("UPDATE cdc_checkpoint_fence SET epoch = epoch + 1 WHERE name = $1", connection, transaction);
        bump.Parameters.Add(new NpgsqlParameter { Value = store.Name });
        (await bump.ExecuteNonQueryAsync(Ct)).ShouldBe(1);
        return transaction;
    }

    // The wait is proven by pg_blocking_pids naming the holder. A save sends its statements as one Npgsql batch, and
    // pg_stat_activity may show the batch's row read rather than its fenced write, so only the table is checked.
    public override async Task ProveWaitsAsync(DbTransaction holder, Task waiting, string table) =>
        (await LockWaits.PostgresAsync(await StoreDatabase.GetAsync(), ((NpgsqlConnection)holder.Connection!).ProcessID, table, Ct)).ShouldContain(table);
}

/// <summary>The shared read-only inspection suite, run against <see cref="PostgresCheckpointStore"/> on a real server.</summary>
public sealed class PostgresStoreReadTests : TableStoreReadTests
{
    protected override TableStoreHarness Harness => PostgresStoreHarness.Instance;
}

/// <summary>The shared one-statement save suite, run against <see cref="PostgresCheckpointStore"/> on a real server.</summary>
public sealed class PostgresStoreOneStatementSaveTests : TableStoreOneStatementSaveTests
{
    protected override TableStoreHarness Harness => PostgresStoreHarness.Instance;
}

/// <summary>The shared fencing suite, run against <see cref="PostgresCheckpointStore"/> on a real server.</summary>
public sealed class PostgresStoreFenceTests : TableStoreFenceTests
{
    protected override TableStoreHarness Harness => PostgresStoreHarness.Instance;
}

/// <summary>The shared typed-error suite, run against <see cref="PostgresCheckpointStore"/> on a real server.</summary>
public sealed class PostgresStoreErrorTests : TableStoreErrorTests
{
    protected override TableStoreHarness Harness => PostgresStoreHarness.Instance;
}
