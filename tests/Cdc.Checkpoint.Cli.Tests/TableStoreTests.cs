using Cdc.Checkpoint.Cli.Tests.Support;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Store;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using Cdc.Checkpoint.Postgres.Store;
using Cdc.Checkpoint.TestServers;
using Cdc.Checkpoint.TestServers.MariaDb;
using Npgsql;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Cli.Tests;

/// <summary>
/// The table-store verbs against the throwaway PostgreSQL 15 and MariaDB 10.11 (a server that cannot be started fails
/// these tests): each verb on each provider, and refusals that leave the row and the fence exactly as they were.
/// </summary>
public sealed class TableStoreTests
{
    private const string Uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Providers => ["postgres", "mysql"];

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task SeedInspectRewindLease_OnATableRow_GoThroughTheStoreAndAreAudited(string provider)
    {
        await using var db = await TableDb.CreateAsync(provider);
        var first = db.Offset(100);
        var later = db.Offset(200);
        var earlier = db.Offset(50);

        (await Tool.RunAsync([.. db.Args("seed"), .. db.OffsetArgs(first), "--count", "10"])).ShouldExit(0).StdOut.ShouldContain("Seeded checkpoint 'orders'");
        (await Tool.RunAsync([.. db.Args("seed"), .. db.OffsetArgs(later), "--count", "20"])).ShouldExit(0);
        (await db.Store.LoadAsync(later.SourceType, Ct)).ShouldNotBeNull().Offset.ShouldBe(later);

        (await Tool.RunAsync([.. db.Args("rewind"), .. db.OffsetArgs(earlier), "--count", "5", "--reason", "replay after sink bug"])).ShouldExit(0)
            .StdOut.ShouldContain("the new offset is behind the old one");
        var record = (await db.Store.LoadAsync(earlier.SourceType, Ct)).ShouldNotBeNull();
        record.Offset.ShouldBe(earlier);
        record.CommittedEventCount.ShouldBe(5UL);

        var inspect = (await Tool.RunAsync([.. db.Args("inspect"), "--json"])).ShouldExit(0).Json();
        inspect.GetProperty("name").GetString().ShouldBe("orders");
        inspect.GetProperty("records").GetArrayLength().ShouldBe(1);
        inspect.GetProperty("records")[0].GetProperty("committed_event_count").GetUInt64().ShouldBe(5UL);
        inspect.GetProperty("records")[0].GetProperty("offset").GetString().ShouldBe(earlier.ToString());
        var audit = inspect.GetProperty("audit");
        audit.GetArrayLength().ShouldBe(1);
        audit[0].GetProperty("reason").GetString().ShouldBe("replay after sink bug");
        audit[0].GetProperty("new_count").GetUInt64().ShouldBe(5UL);
        audit[0].GetProperty("old_count").GetUInt64().ShouldBe(20UL);

        var lease = (await Tool.RunAsync([.. db.Args("lease"), "--json"])).ShouldExit(0).Json();
        lease.GetProperty("fence").GetProperty("epoch").GetInt64().ShouldBe(3L); // seed, seed, rewind: one epoch each
        lease.GetProperty("fence").GetProperty("owner").GetString()!.ShouldStartWith("cdc-checkpoint@");

        (await Tool.RunAsync(db.Args("verify"))).ShouldExit(0).StdOut.ShouldContain("OK: checkpoint 'orders'");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Seed_BehindTheStoredRow_IsRefusedAndLeavesTheRowAndTheFenceUnchanged(string provider)
    {
        await using var db = await TableDb.CreateAsync(provider);
        await db.Store.SaveAsync(db.Offset(200), 20, Ct);
        var before = await db.SnapshotAsync();

        (await Tool.RunAsync([.. db.Args("seed"), .. db.OffsetArgs(db.Offset(100)), "--count", "30"])).ShouldExit(1).ShouldReportBriefly(1, "rewind");
        (await Tool.RunAsync([.. db.Args("seed"), .. db.OffsetArgs(db.Offset(300)), "--count", "19"])).ShouldExit(1).ShouldReportBriefly(1);
        (await Tool.RunAsync([.. db.Args("rewind"), .. db.OffsetArgs(db.Offset(100)), "--count", "1", "--reason", " "])).ShouldExit(2);

        (await db.SnapshotAsync()).ShouldBe(before);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Rewind_WithoutARow_IsRefusedAndWritesNothing(string provider)
    {
        await using var db = await TableDb.CreateAsync(provider);
        var before = await db.SnapshotAsync();

        (await Tool.RunAsync([.. db.Args("rewind"), .. db.OffsetArgs(db.Offset(100)), "--count", "1", "--reason", "test"])).ShouldExit(1).ShouldReportBriefly(1, "seed");

        (await db.SnapshotAsync()).ShouldBe(before);
        before.ShouldBe("fence=none rows=");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Inspect_MissingTables_ExitsOneWithOneLineNamingTheTable(string provider)
    {
        await using var db = await TableDb.CreateAsync(provider, createSchema: false);

        (await Tool.RunAsync(db.Args("inspect"))).ShouldExit(1).ShouldReportBriefly(1, "cdc_checkpoint");
    }

    [Fact]
    public async Task Inspect_BothDirectoryAndTable_IsAUsageError()
    {
        (await Tool.RunAsync("inspect", "/tmp", "--postgres", "Host=x", "--name", "n")).ShouldExit(2).ShouldReportBriefly(2, "not both");
        (await Tool.RunAsync("inspect", "--postgres", "Host=x")).ShouldExit(2).ShouldReportBriefly(2, "--name");
        (await Tool.RunAsync("lease", "--mysql", "--connection-env", "CDC_CLI_TEST_UNSET_VARIABLE", "--name", "n")).ShouldExit(2).ShouldReportBriefly(2, "CDC_CLI_TEST_UNSET_VARIABLE");
    }

    /// <summary>A fresh database with the store's tables, and the store as the library opens it.</summary>
    private sealed class TableDb : IAsyncDisposable
    {
        private readonly IAsyncDisposable _dataSource;
        private readonly PostgresCheckpointStore? _pg;
        private readonly MySqlCheckpointStore? _my;

        private TableDb(string provider, string connectionString, IAsyncDisposable dataSource, ICheckpointStore store)
        {
            Provider = provider;
            ConnectionString = connectionString;
            _dataSource = dataSource;
            Store = store;
            _pg = store as PostgresCheckpointStore;
            _my = store as MySqlCheckpointStore;
        }

        public string Provider { get; }

        public string ConnectionString { get; }

        public ICheckpointStore Store { get; }

        public static async Task<TableDb> CreateAsync(string provider, bool createSchema = true)
        {
            if (provider == "postgres")
            {
                var server = await PostgresTestServer.GetAsync(Ct);
                var connectionString = await server.CreateDatabaseAsync("clitable", Ct);
                var dataSource = NpgsqlDataSource.Create(connectionString);
                var store = new PostgresCheckpointStore(dataSource, "orders");
                if (createSchema)
                {
                    await store.CreateSchemaAsync(Ct);
                }

                return new TableDb(provider, connectionString, dataSource, store);
            }
            else
            {
                var server = await MariaDbTestServer.GetAsync(Ct);
                var database = await server.CreateDatabaseAsync("clitable", Ct);
                var dataSource = server.CreateDataSource(database);
                var store = new MySqlCheckpointStore(dataSource, "orders");
                if (createSchema)
                {
                    await store.CreateSchemaAsync(Ct);
                }

                return new TableDb(provider, server.GetConnectionString(database), dataSource, store);
            }
        }

        public string[] Args(string verb) => [verb, Provider == "postgres" ? "--postgres" : "--mysql", ConnectionString, "--name", "orders"];

        public CheckpointOffset Offset(ulong n) => Provider == "postgres"
            ? new PostgresOffset(new NpgsqlTypes.NpgsqlLogSequenceNumber(n * 0x1000), "orders_slot")
            : new MySqlOffset(GtidSet.Parse($"{Uuid}:1-{n}"), null);

        public string[] OffsetArgs(CheckpointOffset offset) => offset switch
        {
            PostgresOffset pg => ["--source", "postgres", "--lsn", PostgresOffset.FormatLsn(pg.Lsn), "--slot", pg.SlotName],
            MySqlOffset my => ["--source", "mysql", "--gtid-set", my.GtidSet!.ToString()],
            _ => throw new ArgumentException("unexpected offset"),
        };

        /// <summary>The fence and every row, in a form that compares equal only when nothing changed.</summary>
        public async Task<string> SnapshotAsync()
        {
            var fence = _pg is not null ? await _pg.ReadFenceAsync(Ct) : await _my!.ReadFenceAsync(Ct);
            var rows = _pg is not null ? await _pg.ListAsync(Ct) : await _my!.ListAsync(Ct);
            var audit = _pg is not null ? await _pg.ReadAuditAsync(100, Ct) : await _my!.ReadAuditAsync(100, Ct);
            return $"fence={(fence is null ? "none" : $"{fence.Epoch}/{fence.Owner}/{fence.AcquiredAt:O}")} rows="
                + string.Join(";", rows.Select(r => $"{r.SourceType}:{r.Offset.ToJsonString()}:{r.CommittedEventCount}:{r.Sequence}:{r.Epoch}:{r.SavedAt:O}"))
                + (audit.Count == 0 ? string.Empty : $" audit={audit.Count}");
        }

        public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
    }
}
