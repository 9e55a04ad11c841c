using Cdc.Checkpoint.Cli.Tests.Support;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.Postgres;
using Cdc.Checkpoint.Postgres.Store;
using Cdc.Checkpoint.TestServers;
using Cdc.Checkpoint.TestServers.MariaDb;
using Npgsql;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Cli.Tests;

/// <summary>
/// <c>validate</c> and <c>import-debezium</c> against the throwaway PostgreSQL 15 and MariaDB 10.11 servers (a server
/// that cannot be started fails these tests). Validation is read-only: the slot's positions are compared before and after.
/// </summary>
public sealed class ValidateServerTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Validate_PostgresCheckpointAtTheSlot_IsSafeAndLeavesTheSlotAsItWas()
    {
        var server = await PostgresTestServer.GetAsync(Ct);
        var connectionString = await server.CreateDatabaseAsync("cliv", Ct);
        var slot = "cli_" + Guid.NewGuid().ToString("N")[..12];
        await ExecuteAsync(connectionString, $"SELECT pg_create_logical_replication_slot('{slot}', 'pgoutput')");
        try
        {
            var before = await ReadSlotAsync(connectionString, slot);
            await Fixtures.SaveAsync(_dir.Path, new PostgresOffset(PostgresOffset.ParseLsn(before!.Value.Confirmed), slot), 3);

            var result = (await Tool.RunAsync("validate", _dir.Path, "--server-postgres", connectionString)).ShouldExit(0);

            result.StdOut.ShouldContain("Verdict:    Resume - resuming is safe");
            result.StdOut.ShouldContain("Action:     none");
            (await ReadSlotAsync(connectionString, slot)).ShouldBe(before);
        }
        finally
        {
            await ExecuteAsync(connectionString, $"SELECT pg_drop_replication_slot('{slot}')");
        }
    }

    [Fact]
    public async Task Validate_PostgresSlotMissing_ExitsOneWithTheVerdictAndActionAndCreatesNoSlot()
    {
        var server = await PostgresTestServer.GetAsync(Ct);
        var connectionString = await server.CreateDatabaseAsync("cliv", Ct);
        var slot = "cli_" + Guid.NewGuid().ToString("N")[..12];
        await Fixtures.SaveAsync(_dir.Path, new PostgresOffset(PostgresOffset.ParseLsn("0/1000000"), slot), 3);

        var json = (await Tool.RunAsync("validate", _dir.Path, "--server-postgres", connectionString, "--json")).ShouldExit(1).Json();

        json.GetProperty("verdict").GetString().ShouldBe("SlotMissing");
        json.GetProperty("safe").GetBoolean().ShouldBeFalse();
        json.GetProperty("error_code").GetString().ShouldBe("PositionUnavailable");
        json.GetProperty("action").GetString()!.ShouldContain("re-snapshot");
        (await ReadSlotAsync(connectionString, slot)).ShouldBeNull();
    }

    [Fact]
    public async Task Validate_TableRowThroughConnectionEnv_ReadsTheRowAndValidatesIt()
    {
        var server = await PostgresTestServer.GetAsync(Ct);
        var connectionString = await server.CreateDatabaseAsync("cliv", Ct);
        var slot = "cli_" + Guid.NewGuid().ToString("N")[..12];
        await using (var dataSource = NpgsqlDataSource.Create(connectionString))
        {
            var store = new PostgresCheckpointStore(dataSource, "orders");
            await store.CreateSchemaAsync(Ct);
            await store.SaveAsync(new PostgresOffset(PostgresOffset.ParseLsn("0/1000000"), slot), 5, Ct);
        }

        var environment = new Dictionary<string, string> { ["CDC_STORE"] = connectionString };
        var json = (await Tool.RunAsync(environment, "validate", "--postgres", "--connection-env", "CDC_STORE", "--name", "orders", "--server-postgres", "--server-env", "CDC_STORE", "--json"))
            .ShouldExit(1).Json();

        json.GetProperty("where").GetString()!.ShouldContain("checkpoint 'orders' in public.cdc_checkpoint");
        json.GetProperty("committed_event_count").GetUInt64().ShouldBe(5UL);
        json.GetProperty("verdict").GetString().ShouldBe("SlotMissing");
    }

    [Fact]
    public async Task Validate_MariaDbCheckpointAtTheCurrentPosition_IsSafe()
    {
        var server = await MariaDbTestServer.GetAsync(Ct);
        var database = await server.CreateDatabaseAsync("cliv", Ct);
        await using (var connection = await server.OpenConnectionAsync(database, Ct))
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)";
            await command.ExecuteNonQueryAsync(Ct);
            command.CommandText = "SELECT @@gtid_binlog_pos";
            var position = MariaDbGtidPosition.Parse((string)(await command.ExecuteScalarAsync(Ct))!);
            await Fixtures.SaveAsync(_dir.Path, new MariaDbOffset(position, null), 1);
        }

        var result = (await Tool.RunAsync("validate", _dir.Path, "--server-mysql", server.ConnectionString)).ShouldExit(0);

        result.StdOut.ShouldContain("Verdict:    Resume - resuming is safe");
    }

    [Fact]
    public async Task Validate_UnreachableServer_ExitsOneWithOneLine()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/1000000"), 1);

        (await Tool.RunAsync("validate", _dir.Path, "--server-postgres", "Host=127.0.0.1;Port=1;Username=u;Password=secret-pw;Database=d;Timeout=3"))
            .ShouldExit(1).ShouldReportBriefly(1, "The database server said");
    }

    [Fact]
    public async Task Validate_MalformedConnectionString_IsAUsageError()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/1000000"), 1);

        (await Tool.RunAsync("validate", _dir.Path, "--server-postgres", "Hots=nowhere")).ShouldExit(2).ShouldReportBriefly(2, "--server-postgres is not a valid PostgreSQL connection string");
    }

    [Fact]
    public async Task ImportDebezium_IntoAPostgresTableRow_SeedsTheRowAndRefusesWhenTheTablesAreMissing()
    {
        var server = await PostgresTestServer.GetAsync(Ct);
        var connectionString = await server.CreateDatabaseAsync("clii", Ct);
        var file = _dir.Write("offset.json", """{"lsn_proc":24000000,"lsn_commit":24000000,"lsn":24000000,"txId":700,"ts_usec":1700000000000000}""");

        (await Tool.RunAsync("import-debezium", "--postgres", connectionString, "--name", "orders", "--offset", file, "--slot", "debezium"))
            .ShouldExit(1).ShouldReportBriefly(1, "cdc_checkpoint");

        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var store = new PostgresCheckpointStore(dataSource, "orders");
        await store.CreateSchemaAsync(Ct);
        (await Tool.RunAsync("import-debezium", "--postgres", connectionString, "--name", "orders", "--offset", file, "--slot", "debezium", "--count", "9")).ShouldExit(0);

        var record = (await store.LoadAsync("postgres", Ct)).ShouldNotBeNull();
        record.Offset.ShouldBe(new PostgresOffset(new NpgsqlTypes.NpgsqlLogSequenceNumber(24000000), "debezium"));
        record.CommittedEventCount.ShouldBe(9UL);
        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await using var audit = new NpgsqlCommand("SELECT reason FROM public.cdc_checkpoint_audit WHERE name = 'orders'", connection);
        ((string)(await audit.ExecuteScalarAsync(Ct))!).ShouldStartWith("import-debezium from ");
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(Ct);
    }

    private static async Task<(string Confirmed, string Restart)?> ReadSlotAsync(string connectionString, string slot)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand("SELECT confirmed_flush_lsn::text, restart_lsn::text FROM pg_replication_slots WHERE slot_name = $1", connection)
        {
            Parameters = { new NpgsqlParameter { Value = slot } },
        };
        await using var reader = await command.ExecuteReaderAsync(Ct);
        return await reader.ReadAsync(Ct) ? (reader.GetString(0), reader.GetString(1)) : null;
    }
}
