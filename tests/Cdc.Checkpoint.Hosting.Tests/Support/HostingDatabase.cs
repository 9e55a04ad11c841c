using Cdc.Checkpoint.TestServers;
using Npgsql;

namespace Cdc.Checkpoint.Hosting.Tests.Support;

/// <summary>
/// A database of its own on the throwaway PostgreSQL: a published table <c>src</c> (publication <c>pub</c>) and a sink
/// table <c>sink</c>. Disposing ends the sessions of its slots and drops them.
/// </summary>
internal sealed class HostingDatabase : IAsyncDisposable
{
    private HostingDatabase(PostgresTestServer server, string connectionString)
    {
        Server = server;

        // The test clusters run with synchronous_commit=off; our own writes commit synchronously so decoding sees them at once.
        ConnectionString = new NpgsqlConnectionStringBuilder(connectionString) { Options = "-c synchronous_commit=on" }.ConnectionString;
        DataSource = NpgsqlDataSource.Create(ConnectionString);
    }

    public PostgresTestServer Server { get; }

    public string ConnectionString { get; }

    public NpgsqlDataSource DataSource { get; }

    public string DatabaseName => new NpgsqlConnectionStringBuilder(ConnectionString).Database!;

    public static CancellationToken Token => Xunit.TestContext.Current.CancellationToken;

    public static string NewSlotName() => "h_" + Guid.NewGuid().ToString("N")[..20];

    public static async Task<HostingDatabase> CreateAsync()
    {
        var server = await PostgresTestServer.GetAsync(Token);
        var database = new HostingDatabase(server, await server.CreateDatabaseAsync("hosting", Token));
        await database.ExecAsync(
            """
            CREATE TABLE src (id bigint PRIMARY KEY, payload text NOT NULL);
            CREATE TABLE sink (id bigint PRIMARY KEY, payload text NOT NULL);
            CREATE PUBLICATION pub FOR TABLE src;
            """);
        return database;
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

    /// <summary>Inserts rows <paramref name="from"/>..<paramref name="from"/>+<paramref name="count"/>-1, one transaction each.</summary>
    public async Task InsertAsync(long from, int count, int payloadBytes = 8)
    {
        for (var i = 0; i < count; i++)
        {
            await ExecAsync("INSERT INTO src (id, payload) VALUES ($1, $2)", from + i, new string('x', payloadBytes));
        }
    }

    public async Task<List<long>> SinkIdsAsync()
    {
        var ids = new List<long>();
        await using var command = DataSource.CreateCommand("SELECT id FROM sink ORDER BY id");
        await using var reader = await command.ExecuteReaderAsync(Token);
        while (await reader.ReadAsync(Token))
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await using var admin = new NpgsqlConnection(Server.ConnectionString);
            await admin.OpenAsync();
            await using var drop = new NpgsqlCommand(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL", admin);
            drop.Parameters.Add(new NpgsqlParameter { Value = DatabaseName });
            await drop.ExecuteNonQueryAsync();
            for (var attempt = 0; attempt < 50; attempt++)
            {
                await using var dropSlots = new NpgsqlCommand(
                    "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots WHERE database = $1 AND NOT active", admin);
                dropSlots.Parameters.Add(new NpgsqlParameter { Value = DatabaseName });
                await dropSlots.ExecuteNonQueryAsync();
                await using var left = new NpgsqlCommand("SELECT count(*) FROM pg_replication_slots WHERE database = $1", admin);
                left.Parameters.Add(new NpgsqlParameter { Value = DatabaseName });
                if ((long)(await left.ExecuteScalarAsync())! == 0)
                {
                    break;
                }

                await Task.Delay(100);
            }
        }
        finally
        {
            await DataSource.DisposeAsync();
        }
    }
}
