using Cdc.Checkpoint.TestServers;
using Npgsql;

namespace HostedConsumer;

/// <summary>
/// The source database of the demo: the one in <c>ConnectionStrings:Source</c>, or a throwaway local PostgreSQL 15 when
/// none is configured. Creates the demo's tables and publication when they are missing.
/// </summary>
internal sealed class SourceDatabase : IAsyncDisposable
{
    private readonly PostgresTestServer? _local;
    private readonly NpgsqlDataSource _dataSource;

    private SourceDatabase(string connectionString, PostgresTestServer? local)
    {
        ConnectionString = connectionString;
        _local = local;
        _dataSource = NpgsqlDataSource.Create(connectionString);
    }

    public string ConnectionString { get; }

    public static async Task<SourceDatabase> PrepareAsync(IConfiguration configuration, TextWriter log)
    {
        var connectionString = configuration.GetConnectionString("Source");
        PostgresTestServer? local = null;
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            log.WriteLine("No ConnectionStrings:Source given: starting a throwaway local PostgreSQL 15 (initdb in /tmp, removed at a clean exit)…");
            local = await PostgresTestServer.StartNewClusterAsync();
            connectionString = local.ConnectionString;
        }

        var database = new SourceDatabase(connectionString, local);
        await database.ExecuteAsync(
            """
            CREATE TABLE IF NOT EXISTS orders (id bigint PRIMARY KEY, item text NOT NULL);
            CREATE TABLE IF NOT EXISTS orders_sink (id bigint PRIMARY KEY, item text, commit_lsn pg_lsn NOT NULL);
            DO $$ BEGIN
                IF NOT EXISTS (SELECT FROM pg_catalog.pg_publication WHERE pubname = 'orders_pub') THEN
                    CREATE PUBLICATION orders_pub FOR TABLE orders;
                END IF;
            END $$;
            """,
            CancellationToken.None);
        return database;
    }

    /// <summary>Inserts <paramref name="count"/> orders, one transaction each, after the highest id so far.</summary>
    public async Task<int> InsertOrdersAsync(int count, CancellationToken cancellationToken)
    {
        for (var i = 0; i < count; i++)
        {
            await ExecuteAsync("INSERT INTO orders (id, item) SELECT coalesce(max(id), 0) + 1, 'item ' || (coalesce(max(id), 0) + 1) FROM orders", cancellationToken);
        }

        return count;
    }

    public async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync();
        if (_local is not null)
        {
            await _local.DisposeAsync();
        }
    }

    private async Task ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
