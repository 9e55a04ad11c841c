using Cdc.Checkpoint.Postgres.Validation;
using Cdc.Checkpoint.TestServers;
using Npgsql;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Postgres.Tests.Support;

/// <summary>
/// A database of its own on a real server, with a published table <c>src</c>, an unpublished table <c>quiet</c>, the
/// publication <c>pub</c> and a unique slot name. Disposing ends sessions on its slots, drops them and the database.
/// </summary>
internal sealed class PgScenario : IAsyncDisposable
{
    private readonly List<string> _slots = [];

    private PgScenario(PostgresTestServer server, string connectionString)
    {
        Server = server;

        // The test clusters run with synchronous_commit=off; the scenario's own writes commit synchronously so that
        // pg_current_wal_lsn() (the write position) includes them and logical decoding sees them at once.
        ConnectionString = new NpgsqlConnectionStringBuilder(connectionString) { Options = "-c synchronous_commit=on" }.ConnectionString;
        DataSource = NpgsqlDataSource.Create(ConnectionString);
        SlotName = NewSlotName();
    }

    public PostgresTestServer Server { get; }

    public string ConnectionString { get; }

    public string ReplicationConnectionString => new NpgsqlConnectionStringBuilder(ConnectionString) { Pooling = false }.ConnectionString;

    public string DatabaseName => new NpgsqlConnectionStringBuilder(ConnectionString).Database!;

    public NpgsqlDataSource DataSource { get; }

    public string SlotName { get; }

    public static CancellationToken Token => Xunit.TestContext.Current.CancellationToken;

    public static async Task<PgScenario> CreateAsync(PostgresTestServer? server = null, string prefix = "pglive")
    {
        server ??= await PostgresTestServer.GetAsync(Token);
        var scenario = new PgScenario(server, await server.CreateDatabaseAsync(prefix, Token));
        await scenario.ExecAsync(
            """
            CREATE TABLE src (id bigint PRIMARY KEY, payload text NOT NULL);
            CREATE TABLE quiet (id bigserial PRIMARY KEY, note text NOT NULL);
            CREATE PUBLICATION pub FOR TABLE src;
            """);
        scenario._slots.Add(scenario.SlotName);
        return scenario;
    }

    public string NewSlotName()
    {
        var name = "t_" + Guid.NewGuid().ToString("N")[..20];
        _slots.Add(name);
        return name;
    }

    public async Task ExecAsync(string sql, params object?[] parameters)
    {
        await using var command = DataSource.CreateCommand(sql);
        foreach (var p in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = p ?? DBNull.Value });
        }

        await command.ExecuteNonQueryAsync(Token);
    }

    public async Task<T> ScalarAsync<T>(string sql, params object?[] parameters)
    {
        await using var command = DataSource.CreateCommand(sql);
        foreach (var p in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = p ?? DBNull.Value });
        }

        return (T)(await command.ExecuteScalarAsync(Token))!;
    }

    /// <summary>The WAL flush position: what logical decoding can have delivered (IDENTIFY_SYSTEM reports the same).</summary>
    public async Task<NpgsqlLogSequenceNumber> CurrentWalAsync() =>
        PostgresOffset.ParseLsn(await ScalarAsync<string>("SELECT pg_current_wal_flush_lsn()::text"));

    public async Task<ReplicationSlotFacts?> SlotAsync(string? slotName = null)
    {
        var validator = new PostgresResumeValidator(DataSource);
        return await validator.ReadSlotAsync(slotName ?? SlotName, Token);
    }

    /// <summary>Inserts rows <paramref name="from"/>..<paramref name="from"/>+<paramref name="count"/>-1, one transaction each.</summary>
    public async Task InsertAsync(long from, int count)
    {
        for (var i = 0; i < count; i++)
        {
            await ExecAsync("INSERT INTO src (id, payload) VALUES ($1, $2)", from + i, $"row {from + i}");
        }
    }

    public async Task CreateSlotAsync(string? slotName = null, string plugin = "pgoutput") =>
        await ExecAsync("SELECT pg_create_logical_replication_slot($1, $2)", slotName ?? SlotName, plugin);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await using var admin = new NpgsqlConnection(Server.ConnectionString);
            await admin.OpenAsync();
            await using (var ours = new NpgsqlCommand("SELECT slot_name::text FROM pg_replication_slots WHERE database = $1", admin))
            {
                ours.Parameters.Add(new NpgsqlParameter { Value = DatabaseName });
                await using var reader = await ours.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                {
                    _slots.Add(reader.GetString(0));
                }
            }

            foreach (var slot in _slots.Distinct().ToList())
            {
                await using (var terminate = new NpgsqlCommand("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL", admin))
                {
                    terminate.Parameters.Add(new NpgsqlParameter { Value = slot });
                    await terminate.ExecuteNonQueryAsync();
                }

                for (var attempt = 0; attempt < 50; attempt++)
                {
                    try
                    {
                        await using var drop = new NpgsqlCommand("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", admin);
                        drop.Parameters.Add(new NpgsqlParameter { Value = slot });
                        await drop.ExecuteNonQueryAsync();
                        break;
                    }
                    catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.ObjectInUse)
                    {
                        await Task.Delay(100);
                    }
                }
            }

            await DataSource.DisposeAsync();
            NpgsqlConnection.ClearAllPools();
            await using var dropDb = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{DatabaseName}\" WITH (FORCE)", admin);
            await dropDb.ExecuteNonQueryAsync();
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
        {
            // A cluster that is already gone (disposed by the test) needs no cleanup.
        }
    }
}
