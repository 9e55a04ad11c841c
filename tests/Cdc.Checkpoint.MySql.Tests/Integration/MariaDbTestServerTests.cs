using System.Data.Common;
using Cdc.Checkpoint.TestServers.MariaDb;
using MySqlConnector;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Integration;

/// <summary>The throwaway MariaDB fixture: it starts, is configured for CDC, and extra servers are independent.</summary>
public sealed class MariaDbTestServerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task GetAsync_SharedServer_ReportsVersionServerIdGtidPositionAndLogBin()
    {
        var server = await MariaDbTestServer.GetAsync(Ct);
        await using var connection = await server.OpenConnectionAsync(cancellationToken: Ct);
        await using var command = MariaDbSql.Create(connection, "SELECT @@version, @@server_id, @@gtid_binlog_pos, @@log_bin");
        await using var reader = await command.ExecuteReaderAsync(Ct);

        Assert.True(await reader.ReadAsync(Ct));
        Assert.Contains("MariaDB", reader.GetString(0), StringComparison.Ordinal);
        Assert.Equal(server.ServerId, reader.GetFieldValue<uint>(1));
        Assert.Equal(typeof(string), reader.GetFieldType(2));
        Assert.False(reader.IsDBNull(2));
        Assert.Equal(1L, reader.GetInt64(3));
        Assert.False(await reader.ReadAsync(Ct));
        if (!server.IsExternal)
        {
            Assert.StartsWith("10.11.", server.Version, StringComparison.Ordinal);
            Assert.Equal(1u, server.ServerId);
        }
    }

    [Fact]
    public async Task GetAsync_CalledTwice_ReturnsTheSameServer()
    {
        var first = await MariaDbTestServer.GetAsync(Ct);
        var second = await MariaDbTestServer.GetAsync(Ct);

        Assert.Same(first, second);
        await first.DisposeAsync();
        await using var connection = await second.OpenConnectionAsync(cancellationToken: Ct);
        Assert.Equal(1L, await MariaDbSql.ScalarAsync<long>(connection, "SELECT 1"));
    }

    [Fact]
    public async Task StartNewAsync_Server_IsConfiguredForRowBinlogStrictGtidAndUtf8mb4()
    {
        await using var server = await MariaDbTestServer.StartNewAsync(cancellationToken: Ct);
        await using var connection = await server.OpenConnectionAsync(cancellationToken: Ct);
        await using var command = MariaDbSql.Create(
            connection,
            "SELECT @@binlog_format, @@binlog_row_image, @@gtid_strict_mode, @@gtid_domain_id, @@character_set_server, " +
            "@@bind_address, @@port, DATABASE(), CURRENT_USER(), @@log_bin");
        await using var reader = await command.ExecuteReaderAsync(Ct);

        Assert.True(await reader.ReadAsync(Ct));
        Assert.Equal("ROW", reader.GetString(0));
        Assert.Equal("FULL", reader.GetString(1));
        Assert.Equal(1L, reader.GetInt64(2));
        Assert.Equal(0L, reader.GetInt64(3));
        Assert.Equal("utf8mb4", reader.GetString(4));
        Assert.Equal("127.0.0.1", reader.GetString(5));
        Assert.Equal(server.Port, reader.GetInt32(6));
        Assert.Equal(MariaDbTestServer.DefaultDatabase, reader.GetString(7));
        Assert.Equal("cdc@127.0.0.1", reader.GetString(8));
        Assert.Equal(1L, reader.GetInt64(9));
        Assert.True(File.Exists(Path.Combine(server.DataDirectory!, "binlog.index")));
        Assert.StartsWith("10.11.", server.Version, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartNewAsync_SecondServer_HasItsOwnServerIdGtidsAndFilesUntilDisposed()
    {
        var shared = await MariaDbTestServer.GetAsync(Ct);
        string dataDirectory;
        string connectionString;
        await using (var second = await MariaDbTestServer.StartNewAsync(cancellationToken: Ct))
        {
            Assert.NotEqual(shared.ServerId, second.ServerId);
            Assert.NotEqual(shared.Port, second.Port);
            dataDirectory = second.DataDirectory!;
            connectionString = second.ConnectionString;
            await using var connection = await second.OpenConnectionAsync(cancellationToken: Ct);
            Assert.Equal((ulong)second.ServerId, await MariaDbSql.ScalarAsync<ulong>(connection, "SELECT @@server_id"));

            // The fixture's own setup ran with sql_log_bin=0: the first test transaction is GTID 0-<server_id>-1.
            Assert.Equal(string.Empty, await MariaDbSql.ScalarAsync<string>(connection, "SELECT @@gtid_binlog_pos"));
            await MariaDbSql.ExecuteAsync(connection, "CREATE TABLE t (id INT PRIMARY KEY)");
            Assert.Equal($"0-{second.ServerId}-1", await MariaDbSql.ScalarAsync<string>(connection, "SELECT @@gtid_binlog_pos"));
            Assert.True(Directory.Exists(dataDirectory));
        }

        Assert.False(Directory.Exists(Path.GetDirectoryName(dataDirectory)));
        await using var stale = new MySqlConnection(connectionString + ";Connect Timeout=2");
        var error = await Assert.ThrowsAsync<MySqlException>(() => stale.OpenAsync(Ct));
        Assert.Equal(MySqlErrorCode.UnableToConnectToHost, error.ErrorCode);
    }

    [Fact]
    public async Task StartNewAsync_WithOptions_UsesServerIdDomainAndExtraSettings()
    {
        var options = new MariaDbTestServerOptions
        {
            ServerId = 4242,
            GtidDomainId = 7,
            ExtraSettings = ["max_binlog_size=4096"],
        };
        await using var server = await MariaDbTestServer.StartNewAsync(options, Ct);
        await using var connection = await server.OpenConnectionAsync(cancellationToken: Ct);

        Assert.Equal(4242u, server.ServerId);
        Assert.Equal(7u, server.GtidDomainId);
        Assert.Equal(4096L, await MariaDbSql.ScalarAsync<long>(connection, "SELECT @@max_binlog_size"));
        await MariaDbSql.ExecuteAsync(connection, "CREATE TABLE t (id INT PRIMARY KEY)");
        Assert.Equal("7-4242-1", await MariaDbSql.ScalarAsync<string>(connection, "SELECT @@gtid_binlog_pos"));
    }

    [Fact]
    public async Task RestartAsync_PrivateServer_KeepsDataAndGtidsAndStartsANewBinlogFile()
    {
        await using var server = await MariaDbTestServer.StartNewAsync(cancellationToken: Ct);
        string fileBefore;
        await using (var connection = await server.OpenConnectionAsync(cancellationToken: Ct))
        {
            await MariaDbSql.ExecuteAsync(connection, "CREATE TABLE t (id INT PRIMARY KEY)");
            await MariaDbSql.ExecuteAsync(connection, "INSERT INTO t VALUES (1)");
            fileBefore = await CurrentBinlogFileAsync(connection);
        }

        await server.RestartAsync(Ct);

        await using var after = await server.OpenConnectionAsync(cancellationToken: Ct);
        Assert.Equal(1L, await MariaDbSql.ScalarAsync<long>(after, "SELECT COUNT(*) FROM t"));
        Assert.Equal($"0-{server.ServerId}-2", await MariaDbSql.ScalarAsync<string>(after, "SELECT @@gtid_binlog_pos"));
        Assert.True(string.CompareOrdinal(await CurrentBinlogFileAsync(after), fileBefore) > 0);
    }

    [Fact]
    public async Task StartNewAsync_ServerThatCannotStart_ThrowsWithErrorLogTailAndCleansUp()
    {
        var before = Directory.GetDirectories("/tmp", "cdc-mariadb-*").ToHashSet();
        // install-db bootstraps without networking, so only mariadbd itself trips over the foreign address: it either
        // fails to bind or listens where 127.0.0.1 cannot reach it; both must end in a start failure with the log.
        var options = new MariaDbTestServerOptions { ServerId = 9, ExtraSettings = ["bind-address=192.0.2.1"] };

        var error = await Assert.ThrowsAsync<ServerUnavailableException>(() => MariaDbTestServer.StartNewAsync(options, Ct));

        Assert.Contains("could not be started", error.Message, StringComparison.Ordinal);
        Assert.Contains("error.log (tail)", error.Message, StringComparison.Ordinal);
        Assert.Contains("Starting MariaDB", error.Message, StringComparison.Ordinal);
        var leftOver = Directory.GetDirectories("/tmp", "cdc-mariadb-*").Where(d => !before.Contains(d))
            .Where(d => File.Exists(Path.Combine(d, "my.cnf")) && File.ReadAllText(Path.Combine(d, "my.cnf")).Contains("192.0.2.1", StringComparison.Ordinal));
        Assert.Empty(leftOver);
    }

    [Fact]
    public void Options_ZeroServerIdOrNonPositiveTimeout_Throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new MariaDbTestServerOptions { ServerId = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new MariaDbTestServerOptions { StartTimeout = TimeSpan.Zero });
    }

    private static async Task<string> CurrentBinlogFileAsync(DbConnection connection)
    {
        await using var command = MariaDbSql.Create(connection, "SHOW MASTER STATUS");
        await using var reader = await command.ExecuteReaderAsync(Ct);
        Assert.True(await reader.ReadAsync(Ct));
        return reader.GetString(reader.GetOrdinal("File"));
    }
}
