using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using MySqlConnector;

namespace Cdc.Checkpoint.TestServers.MariaDb;

/// <summary>
/// A MariaDB 10.11 server for integration tests: binlog on, <c>binlog_format=ROW</c>, <c>gtid_strict_mode=ON</c>,
/// utf8mb4, a TCP user <c>cdc</c> with all privileges and a database <c>cdctest</c>.
/// <see cref="GetAsync"/> returns one server shared by the whole test process, started on first use;
/// <see cref="StartNewAsync"/> starts an independent one (its own datadir, port and <c>server_id</c>).
/// </summary>
/// <remarks>
/// When <c>CDC_TEST_MYSQL</c> holds a connection string (e.g. <c>Server=127.0.0.1;Port=3306;User=cdc;Password=…;Database=cdctest</c>),
/// <see cref="GetAsync"/> uses that server instead of starting one; <see cref="StartNewAsync"/> always starts a private
/// server, because tests that ask for a second server need one they own. A server that cannot be started or reached is
/// an exception whose message carries the reason and the error-log tail: tests fail, they never skip.
/// Tests sharing the server should use their own tables or <see cref="CreateDatabaseAsync"/>, and must not assume the
/// binlog or GTID position is theirs alone.
/// </remarks>
public sealed class MariaDbTestServer : IAsyncDisposable
{
    /// <summary>The environment variable that points the tests at an existing server.</summary>
    public const string OverrideVariable = "CDC_TEST_MYSQL";

    /// <summary>The user created on a throwaway server (host <c>127.0.0.1</c>).</summary>
    public const string DefaultUser = "cdc";

    /// <summary>The database created on a throwaway server.</summary>
    public const string DefaultDatabase = "cdctest";

    private static readonly Lazy<Task<MariaDbTestServer>> Shared = new(() => TestEnvironment.RequireServerAsync("MariaDB 10.11", StartSharedAsync), LazyThreadSafetyMode.ExecutionAndPublication);
    private static int s_nextServerId = 100;

    private readonly MariaDbLocalServer? _local;
    private readonly string _baseConnectionString;
    private readonly bool _isShared;

    private MariaDbTestServer(MariaDbLocalServer? local, string baseConnectionString, bool isShared)
    {
        _local = local;
        _baseConnectionString = baseConnectionString;
        _isShared = isShared;
        var settings = new MySqlConnectionStringBuilder(baseConnectionString);
        Database = string.IsNullOrEmpty(settings.Database) ? DefaultDatabase : settings.Database;
        ConnectionString = GetConnectionString(Database);
    }

    /// <summary>TCP connection string for <see cref="Database"/>, e.g. <c>Server=127.0.0.1;Port=…;User=cdc;Password=…;Database=cdctest</c>.</summary>
    public string ConnectionString { get; }

    /// <summary>The default database (<c>cdctest</c> on a throwaway server).</summary>
    public string Database { get; }

    /// <summary>The server's <c>server_id</c>.</summary>
    public uint ServerId { get; private set; }

    /// <summary>The server's <c>gtid_domain_id</c>.</summary>
    public uint GtidDomainId { get; private set; }

    /// <summary>The server's version, e.g. <c>10.11.19-MariaDB-0+deb12u1-log</c>.</summary>
    public string Version { get; private set; } = string.Empty;

    /// <summary><see langword="true"/> when the server came from <c>CDC_TEST_MYSQL</c>.</summary>
    public bool IsExternal => _local is null;

    /// <summary>The TCP port of a throwaway server (<see langword="null"/> for an external one).</summary>
    public int? Port => _local?.Port;

    /// <summary>The datadir of a throwaway server, where the binlog files (<c>binlog.000001</c>, …) live.</summary>
    public string? DataDirectory => _local?.DataDirectory;

    /// <summary>The unix socket of a throwaway server (root can connect there without a password).</summary>
    public string? SocketPath => _local?.SocketPath;

    /// <summary>
    /// The process-wide shared server, started on first use (about 1–2 s) and stopped when the test process exits.
    /// Disposing it does nothing.
    /// </summary>
    /// <exception cref="InvalidOperationException">The server could not be started (message includes the error log).</exception>
    public static Task<MariaDbTestServer> GetAsync(CancellationToken cancellationToken = default) =>
        // The start itself is not cancellable by one caller: the shared task must not be cached as cancelled.
        Shared.Value.WaitAsync(cancellationToken);

    /// <summary>
    /// Starts a new private server; dispose it to stop it and delete its files (also done at process exit).
    /// Without <paramref name="options"/> it gets a <c>server_id</c> of its own (100, 101, …), so its GTIDs differ from
    /// the shared server's (<c>server_id=1</c>).
    /// </summary>
    /// <exception cref="InvalidOperationException">The server could not be started (message includes the error log).</exception>
    public static async Task<MariaDbTestServer> StartNewAsync(MariaDbTestServerOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new MariaDbTestServerOptions { ServerId = (uint)Interlocked.Increment(ref s_nextServerId) };
        return await TestEnvironment.RequireServerAsync("A private throwaway MariaDB 10.11", () => StartLocalAsync(options, isShared: false, cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>The TCP connection string for another database on this server.</summary>
    public string GetConnectionString(string database)
    {
        ArgumentException.ThrowIfNullOrEmpty(database);
        return new MySqlConnectionStringBuilder(_baseConnectionString) { Database = database }.ConnectionString;
    }

    /// <summary>
    /// A MySqlConnector data source (pooled) for <see cref="Database"/> (or <paramref name="database"/>), as production
    /// code builds one. The caller disposes it.
    /// </summary>
    public MySqlDataSource CreateDataSource(string? database = null) =>
        new(database is null ? ConnectionString : GetConnectionString(database));

    /// <summary>Opens a MySqlConnector connection to <see cref="Database"/> (or <paramref name="database"/>).</summary>
    public async Task<MySqlConnection> OpenConnectionAsync(string? database = null, CancellationToken cancellationToken = default)
    {
        var connection = new MySqlConnection(database is null ? ConnectionString : GetConnectionString(database));
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Creates an empty database with a unique name (<paramref name="prefix"/> plus random hex) and returns its name.
    /// Created with <c>sql_log_bin=0</c>, so it adds no GTID to the binlog.
    /// </summary>
    public async Task<string> CreateDatabaseAsync(string prefix = "test", CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        var name = prefix + "_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();
        await using var connection = await OpenConnectionAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SET SESSION sql_log_bin=0; CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci; SET SESSION sql_log_bin=1";
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        return name;
    }

    /// <summary>
    /// Stops the server cleanly (SIGTERM) and starts it again on the same datadir and port: the binlog moves to a new
    /// file. Only for a throwaway server; restarting the shared one disturbs concurrent tests, so prefer
    /// <see cref="StartNewAsync"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The server is external, or did not come back.</exception>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        var local = _local ?? throw new InvalidOperationException($"The server from {OverrideVariable} is not ours to restart.");
        await local.RestartAsync(cancellationToken).ConfigureAwait(false);

        // Pooled connections to the old process are dead; drop them so the next open does not meet one.
        MySqlConnection.ClearAllPools();
    }

    /// <summary>
    /// Makes this throwaway server a replica of <paramref name="primary"/> (another throwaway server) over GTID:
    /// <c>CHANGE MASTER TO … MASTER_USE_GTID=slave_pos</c> and <c>START SLAVE</c>, then waits until both replication
    /// threads run. With <c>log_slave_updates=ON</c> (the default here) the replica binlogs what it applies, so its
    /// <c>gtid_binlog_state</c> carries the primary's server id.
    /// </summary>
    /// <exception cref="InvalidOperationException">Either server is external, or replication did not start (the message has the replica's status).</exception>
    public async Task StartReplicationAsync(MariaDbTestServer primary, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(primary);
        var source = primary._local ?? throw new InvalidOperationException($"The primary from {OverrideVariable} is not a throwaway server.");
        _ = _local ?? throw new InvalidOperationException($"The server from {OverrideVariable} is not ours to make a replica.");
        await using var connection = await OpenConnectionAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        await using (var change = connection.CreateCommand())
        {
            // Kept out of the binlog so that the replica's own GTID history starts with what a test writes.
            change.CommandText =
                "SET SESSION sql_log_bin=0; " +
                $"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={source.Port.ToString(CultureInfo.InvariantCulture)}, " +
                $"MASTER_USER='{DefaultUser}', MASTER_PASSWORD='{source.Password}', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; " +
                "START SLAVE";
            await change.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var status = await ReplicaStatusAsync(connection, cancellationToken).ConfigureAwait(false);
            if (status.TryGetValue("Slave_IO_Running", out var io) && io == "Yes" && status.TryGetValue("Slave_SQL_Running", out var sql) && sql == "Yes")
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException(
                    $"Replication from {primary} to {this} did not start within 60 s: " + string.Join(", ", status.Where(p => p.Key.Contains("Running", StringComparison.Ordinal) || p.Key.Contains("Error", StringComparison.Ordinal)).Select(p => $"{p.Key}={p.Value}")));
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Waits (<c>MASTER_GTID_WAIT</c>, up to 60 s) until this replica has applied everything <paramref name="primary"/> has binlogged so far.</summary>
    /// <exception cref="InvalidOperationException">The replica did not catch up in time.</exception>
    public async Task WaitForReplicationAsync(MariaDbTestServer primary, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(primary);
        string position;
        await using (var source = await primary.OpenConnectionAsync(cancellationToken: cancellationToken).ConfigureAwait(false))
        await using (var read = new MySqlCommand("SELECT @@GLOBAL.gtid_binlog_pos", source))
        {
            position = Convert.ToString(await read.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture) ?? string.Empty;
        }

        await using var connection = await OpenConnectionAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        await using var wait = new MySqlCommand("SELECT MASTER_GTID_WAIT(@position, 60)", connection);
        wait.Parameters.AddWithValue("@position", position);
        var result = Convert.ToInt64(await wait.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
        if (result != 0)
        {
            throw new InvalidOperationException($"{this} did not reach the primary's GTID position '{position}' within 60 s (MASTER_GTID_WAIT returned {result}).");
        }
    }

    /// <summary>
    /// <c>STOP SLAVE</c> and <c>RESET SLAVE ALL</c>: this server stops replicating and keeps what it applied — a network
    /// split, after which the former replica can be written to as a promoted primary.
    /// </summary>
    public async Task StopReplicationAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        await using var stop = new MySqlCommand("STOP SLAVE; RESET SLAVE ALL", connection);
        await stop.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The last lines of a throwaway server's error log (empty for an external server).</summary>
    public string ReadLogTail(int maxLines = 40) => _local?.ReadLogTail(maxLines) ?? string.Empty;

    /// <summary>Stops a server from <see cref="StartNewAsync"/> and deletes its files; does nothing for the shared one.</summary>
    public ValueTask DisposeAsync()
    {
        if (!_isShared && _local is not null)
        {
            return new ValueTask(Task.Run(_local.Destroy));
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public override string ToString() =>
        _local is null
            ? $"external MariaDB/MySQL {Version} (server_id {ServerId.ToString(CultureInfo.InvariantCulture)}) from {OverrideVariable}"
            : $"throwaway MariaDB {Version} on 127.0.0.1:{_local.Port.ToString(CultureInfo.InvariantCulture)} (server_id {ServerId.ToString(CultureInfo.InvariantCulture)}, {_local.Root})";

    private static async Task<MariaDbTestServer> StartSharedAsync()
    {
        var external = Environment.GetEnvironmentVariable(OverrideVariable);
        if (!string.IsNullOrWhiteSpace(external))
        {
            return await ConnectExternalAsync(external).ConfigureAwait(false);
        }

        return await StartLocalAsync(new MariaDbTestServerOptions(), isShared: true, CancellationToken.None).ConfigureAwait(false);
    }

    private static async Task<MariaDbTestServer> StartLocalAsync(MariaDbTestServerOptions options, bool isShared, CancellationToken cancellationToken)
    {
        var local = await MariaDbLocalServer.StartAsync(options, cancellationToken).ConfigureAwait(false);
        try
        {
            var server = new MariaDbTestServer(local, local.TcpConnectionString(DefaultDatabase), isShared);
            await server.ReadServerFactsAsync(cancellationToken).ConfigureAwait(false);
            return server;
        }
        catch (Exception e) when (e is MySqlException or InvalidOperationException)
        {
            var log = local.ReadLogTail(40);
            var root = local.Root;
            local.Destroy();
            throw new InvalidOperationException(
                $"The throwaway MariaDB server in {root} could not be started: it answers on its unix socket, but the " +
                $"{DefaultUser} user cannot use it over TCP 127.0.0.1:{local.Port.ToString(CultureInfo.InvariantCulture)}: {e.Message}\n{log}",
                e);
        }
    }

    private static async Task<MariaDbTestServer> ConnectExternalAsync(string connectionString)
    {
        MariaDbTestServer server;
        try
        {
            server = new MariaDbTestServer(local: null, connectionString, isShared: true);
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException($"{OverrideVariable} is not a usable connection string: {e.Message}", e);
        }

        try
        {
            await server.ReadServerFactsAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (MySqlException e)
        {
            throw new InvalidOperationException(
                $"Cannot use the server named by {OverrideVariable}: {e.Number.ToString(CultureInfo.InvariantCulture)} {e.Message}. " +
                $"Fix the connection string (Server, Port, User, Password, Database) or unset {OverrideVariable} to start a throwaway server.", e);
        }

        return server;
    }

    private static async Task<Dictionary<string, string>> ReplicaStatusAsync(MySqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new MySqlCommand("SHOW SLAVE STATUS", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var status = new Dictionary<string, string>(StringComparer.Ordinal);
        if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            for (var i = 0; i < reader.FieldCount; i++)
            {
                status[reader.GetName(i)] = reader.IsDBNull(i) ? string.Empty : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture) ?? string.Empty;
            }
        }

        return status;
    }

    private async Task ReadServerFactsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT @@server_id, @@gtid_domain_id, @@version";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new InvalidOperationException("SELECT @@server_id returned no row.");
        }

        ServerId = Convert.ToUInt32(reader.GetValue(0), CultureInfo.InvariantCulture);
        GtidDomainId = Convert.ToUInt32(reader.GetValue(1), CultureInfo.InvariantCulture);
        Version = reader.GetString(2);
    }
}
