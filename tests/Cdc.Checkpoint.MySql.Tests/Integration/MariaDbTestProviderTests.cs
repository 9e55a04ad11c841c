using System.Data;
using System.Data.Common;
using System.Diagnostics;
using Cdc.Checkpoint.TestServers.MariaDb;
using Cdc.Checkpoint.TestServers.MariaDb.Ado;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Integration;

/// <summary>
/// The test-only ADO.NET provider over Connector/C, against the shared throwaway server, used through the
/// provider-neutral types production code sees (<see cref="DbDataSource"/>, <see cref="DbConnection"/>, ...).
/// Each test works in a database of its own.
/// </summary>
public sealed class MariaDbTestProviderTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Transaction_Committed_RowIsVisibleToAnotherConnection()
    {
        var (dataSource, _) = await NewDatabaseAsync();
        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await MariaDbSql.ExecuteAsync(connection, "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(50)) ENGINE=InnoDB");

        await using (var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, Ct))
        {
            await using var insert = MariaDbSql.Create(connection, "INSERT INTO t VALUES (@id, @name)", ("@id", 1), ("@name", "one"));
            insert.Transaction = transaction;
            Assert.Equal(1, await insert.ExecuteNonQueryAsync(Ct));
            Assert.Equal(IsolationLevel.ReadCommitted, transaction.IsolationLevel);
            await using var other = await dataSource.OpenConnectionAsync(Ct);
            Assert.Equal(0L, await MariaDbSql.ScalarAsync<long>(other, "SELECT COUNT(*) FROM t"));
            await transaction.CommitAsync(Ct);
        }

        await using var reader = await dataSource.OpenConnectionAsync(Ct);
        Assert.Equal("one", await MariaDbSql.ScalarAsync<string>(reader, "SELECT name FROM t WHERE id = @id", ("id", 1)));
    }

    [Fact]
    public async Task Transaction_RolledBackOrDisposed_LeavesNoRow()
    {
        var (dataSource, _) = await NewDatabaseAsync();
        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await MariaDbSql.ExecuteAsync(connection, "CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB");

        await using (var transaction = await connection.BeginTransactionAsync(Ct))
        {
            await using var insert = MariaDbSql.Create(connection, "INSERT INTO t VALUES (1)");
            insert.Transaction = transaction;
            await insert.ExecuteNonQueryAsync(Ct);
            await transaction.RollbackAsync(Ct);
        }

        await using (var transaction = await connection.BeginTransactionAsync(Ct))
        {
            await using var insert = MariaDbSql.Create(connection, "INSERT INTO t VALUES (2)");
            insert.Transaction = transaction;
            await insert.ExecuteNonQueryAsync(Ct);
        }

        Assert.Equal(0L, await MariaDbSql.ScalarAsync<long>(connection, "SELECT COUNT(*) FROM t"));
    }

    [Fact]
    public async Task Command_WithoutTheActiveTransaction_ThrowsLikeMySqlConnector()
    {
        var (dataSource, _) = await NewDatabaseAsync();
        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await using var transaction = await connection.BeginTransactionAsync(Ct);
        await using var command = MariaDbSql.Create(connection, "SELECT 1");

        await Assert.ThrowsAsync<InvalidOperationException>(() => command.ExecuteScalarAsync(Ct));
        await Assert.ThrowsAsync<InvalidOperationException>(() => connection.BeginTransactionAsync(Ct).AsTask());
        command.Transaction = transaction;
        Assert.Equal(1L, Convert.ToInt64(await command.ExecuteScalarAsync(Ct), System.Globalization.CultureInfo.InvariantCulture));
        await transaction.CommitAsync(Ct);
        await Assert.ThrowsAsync<InvalidOperationException>(() => command.ExecuteScalarAsync(Ct));
        await Assert.ThrowsAsync<InvalidOperationException>(() => transaction.CommitAsync(Ct));
    }

    public static TheoryData<string> AwkwardStrings() =>
    [
        "it's",
        "\"double\" and `backtick`",
        @"back\slash \' \\ \n literally",
        "nul\0in\0the\0middle\0",
        "\0",
        "line\nbreak\r\n\ttab \u001a ctrl-z",
        "' OR '1'='1' -- ",
        "@notAParameter ? /* not a comment */ # nor this",
        "ünïcödé 中文 ‮ 😀 𝄞",
        string.Empty,
        new string('x', 70_000),
    ];

    [Theory]
    [MemberData(nameof(AwkwardStrings))]
    public async Task Parameter_AwkwardString_RoundTripsThroughSelectAndTable(string value)
    {
        var (dataSource, _) = await NewDatabaseAsync();
        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await MariaDbSql.ExecuteAsync(connection, "CREATE TABLE t (id INT PRIMARY KEY, v MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin)");

        Assert.Equal(value, await MariaDbSql.ScalarAsync<string>(connection, "SELECT @v", ("@v", value)));
        Assert.Equal(1, await MariaDbSql.ExecuteAsync(connection, "INSERT INTO t (id, v) VALUES (1, @v)", ("v", value)));
        Assert.Equal(value, await MariaDbSql.ScalarAsync<string>(connection, "SELECT v FROM t WHERE id = 1"));
        Assert.Equal(1L, await MariaDbSql.ScalarAsync<long>(connection, "SELECT COUNT(*) FROM t WHERE v = @v", ("@V", value)));
    }

    [Fact]
    public async Task Parameter_UnderNoBackslashEscapes_StillRoundTrips()
    {
        var (dataSource, _) = await NewDatabaseAsync();
        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await MariaDbSql.ExecuteAsync(connection, "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')");
        const string value = @"it's a \ back\slash and a \' quote";

        // mysql_real_escape_string sees the session's mode and doubles quotes instead of using backslashes.
        Assert.Equal(value, await MariaDbSql.ScalarAsync<string>(connection, "SELECT @v", ("v", value)));
        Assert.Equal(value.Length, await MariaDbSql.ScalarAsync<long>(connection, "SELECT CHAR_LENGTH(@v)", ("v", value)));
    }

    [Fact]
    public async Task Parameter_TypedValues_RoundTripWithMySqlConnectorTypes()
    {
        var (dataSource, _) = await NewDatabaseAsync();
        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await MariaDbSql.ExecuteAsync(
            connection,
            "CREATE TABLE t (b BLOB, l BIGINT, u BIGINT UNSIGNED, d DECIMAL(30,10), f DOUBLE, flag TINYINT(1), dt DATETIME(6), " +
            "g CHAR(36), n INT NULL, ts TIME(6))");
        var bytes = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        var when = new DateTime(2024, 2, 29, 23, 59, 58, DateTimeKind.Unspecified).AddTicks(1234560);
        var guid = Guid.NewGuid();
        await MariaDbSql.ExecuteAsync(
            connection,
            "INSERT INTO t VALUES (@b, @l, @u, @d, @f, @flag, @dt, @g, @n, @ts)",
            ("b", bytes), ("l", long.MinValue), ("u", ulong.MaxValue), ("d", -12345678901234567890.0123456789m), ("f", 0.1 + 0.2),
            ("flag", true), ("dt", when), ("g", guid), ("n", null), ("ts", new TimeSpan(-1, -2, -3, -4, -500)));

        await using var command = MariaDbSql.Create(connection, "SELECT b, l, u, d, f, flag, dt, g, n, ts FROM t");
        await using var reader = await command.ExecuteReaderAsync(Ct);
        Assert.True(await reader.ReadAsync(Ct));
        Assert.Equal(bytes, reader.GetFieldValue<byte[]>(0));
        Assert.Equal(long.MinValue, reader.GetInt64(1));
        Assert.Equal(ulong.MaxValue, reader.GetFieldValue<ulong>(2));
        Assert.Throws<OverflowException>(() => reader.GetInt64(2));
        Assert.Equal(-12345678901234567890.0123456789m, reader.GetDecimal(3));
        Assert.Equal(0.1 + 0.2, reader.GetDouble(4));
        Assert.True(reader.GetBoolean(5));
        Assert.Equal(typeof(bool), reader.GetFieldType(5));
        Assert.Equal(when, reader.GetDateTime(6));
        Assert.Equal(guid, reader.GetGuid(7));
        Assert.True(reader.IsDBNull(8));
        Assert.Equal(DBNull.Value, reader.GetValue(8));
        Assert.Null(reader.GetFieldValue<int?>(8));
        Assert.Throws<InvalidCastException>(() => reader.GetInt32(8));
        Assert.Equal(new TimeSpan(-1, -2, -3, -4, -500), reader.GetFieldValue<TimeSpan>(9));
        Assert.Throws<InvalidCastException>(() => reader.GetString(0));
        Assert.Throws<InvalidCastException>(() => reader.GetInt64(7));
    }

    [Fact]
    public async Task Parameter_InsideLiteralsCommentsAndSystemVariables_IsNotSubstituted()
    {
        var (dataSource, _) = await NewDatabaseAsync();
        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await using var command = MariaDbSql.Create(
            connection,
            "SELECT '@p ?', \"@p\", @p, @@server_id > 0 /* @p ? */ -- @p ?\n, `@p` FROM (SELECT 5 AS `@p`) x # @p",
            ("@p", "value"));
        await using var reader = await command.ExecuteReaderAsync(Ct);

        Assert.True(await reader.ReadAsync(Ct));
        Assert.Equal("@p ?", reader.GetString(0));
        Assert.Equal("@p", reader.GetString(1));
        Assert.Equal("value", reader.GetString(2));
        Assert.Equal(1L, reader.GetInt64(3));
        Assert.Equal(5, reader.GetInt32(4));
    }

    [Fact]
    public async Task UserVariable_NotAParameter_NeedsAllowUserVariables()
    {
        var (_, connectionString) = await NewDatabaseAsync();
        await using (var strict = new MariaDbTestConnection(connectionString))
        {
            await strict.OpenAsync(Ct);
            var error = await Assert.ThrowsAsync<MariaDbTestException>(() => MariaDbSql.ExecuteAsync(strict, "SET @x := 5"));
            Assert.Contains("Allow User Variables=true", error.Message, StringComparison.Ordinal);
        }

        await using var lenient = new MariaDbTestConnection(connectionString + ";Allow User Variables=true");
        await lenient.OpenAsync(Ct);
        await MariaDbSql.ExecuteAsync(lenient, "SET @x := @v", ("v", 5));
        Assert.Equal(5L, await MariaDbSql.ScalarAsync<long>(lenient, "SELECT @x"));
    }

    [Fact]
    public async Task FailingStatement_ThrowsDbExceptionWithServerErrorNumberAndSqlState()
    {
        var (dataSource, _) = await NewDatabaseAsync();
        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await MariaDbSql.ExecuteAsync(connection, "CREATE TABLE t (id INT PRIMARY KEY)");
        await MariaDbSql.ExecuteAsync(connection, "INSERT INTO t VALUES (1)");

        var missing = await Assert.ThrowsAsync<MariaDbTestException>(() => MariaDbSql.ExecuteAsync(connection, "SELECT * FROM no_such_table"));
        Assert.Equal(1146, missing.Number);
        Assert.Equal("42S02", missing.SqlState);
        Assert.Contains("no_such_table", missing.Message, StringComparison.Ordinal);
        DbException neutral = missing;
        Assert.Equal(1146, neutral.Data["Server Error Code"]);
        Assert.False(neutral.IsTransient);

        var duplicate = await Assert.ThrowsAsync<MariaDbTestException>(() => MariaDbSql.ExecuteAsync(connection, "INSERT INTO t VALUES (@id)", ("id", 1)));
        Assert.Equal(1062, duplicate.Number);
        Assert.Equal("23000", duplicate.SqlState);

        var syntax = await Assert.ThrowsAsync<MariaDbTestException>(() => MariaDbSql.ExecuteAsync(connection, "SELEKT 1"));
        Assert.Equal(1064, syntax.Number);

        // An error in a later statement of a batch surfaces too, and the connection stays usable.
        var later = await Assert.ThrowsAsync<MariaDbTestException>(() => MariaDbSql.ExecuteAsync(connection, "SELECT 1; SELECT * FROM nope"));
        Assert.Equal(1146, later.Number);
        Assert.Equal(1L, await MariaDbSql.ScalarAsync<long>(connection, "SELECT COUNT(*) FROM t"));
    }

    [Fact]
    public async Task Connect_WrongPassword_ThrowsAccessDenied()
    {
        var server = await MariaDbTestServer.GetAsync(Ct);
        var builder = new DbConnectionStringBuilder { ConnectionString = server.ConnectionString };
        builder["Password"] = "wrong";
        await using var connection = new MariaDbTestConnection(builder.ConnectionString);

        var error = await Assert.ThrowsAsync<MariaDbTestException>(() => connection.OpenAsync(Ct));
        Assert.Equal(1045, error.Number);
        Assert.Equal(ConnectionState.Closed, connection.State);
    }

    [Fact]
    public async Task Batch_MultipleResultSets_AreReadInOrderAndRowCountsSummed()
    {
        var (dataSource, _) = await NewDatabaseAsync();
        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await MariaDbSql.ExecuteAsync(connection, "CREATE TABLE t (id INT PRIMARY KEY)");
        await using var command = MariaDbSql.Create(
            connection, "INSERT INTO t VALUES (1), (2); SELECT id FROM t ORDER BY id; INSERT INTO t VALUES (3); SELECT 'last' AS word");
        await using var reader = await command.ExecuteReaderAsync(Ct);

        Assert.Equal("id", reader.GetName(0));
        Assert.True(await reader.ReadAsync(Ct));
        Assert.Equal(1, reader.GetInt32(0));
        Assert.True(await reader.ReadAsync(Ct));
        Assert.Equal(2, reader.GetInt32(0));
        Assert.False(await reader.ReadAsync(Ct));
        Assert.True(await reader.NextResultAsync(Ct));
        Assert.True(await reader.ReadAsync(Ct));
        Assert.Equal("last", reader.GetString(reader.GetOrdinal("WORD")));
        Assert.False(await reader.NextResultAsync(Ct));
        await reader.CloseAsync();
        Assert.Equal(3, reader.RecordsAffected);
    }

    [Fact]
    public async Task Update_ToTheSameValue_CountsFoundRowsUnlessUseAffectedRows()
    {
        var (dataSource, connectionString) = await NewDatabaseAsync();
        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await MariaDbSql.ExecuteAsync(connection, "CREATE TABLE t (id INT PRIMARY KEY, v INT)");
        await MariaDbSql.ExecuteAsync(connection, "INSERT INTO t VALUES (1, 10)");

        // MySqlConnector's default (UseAffectedRows=false): matched rows, so an idempotent UPDATE still reports 1.
        Assert.Equal(1, await MariaDbSql.ExecuteAsync(connection, "UPDATE t SET v = 10 WHERE id = 1"));

        await using var affected = new MariaDbTestConnection(connectionString + ";Use Affected Rows=true");
        await affected.OpenAsync(Ct);
        Assert.Equal(0, await MariaDbSql.ExecuteAsync(affected, "UPDATE t SET v = 10 WHERE id = 1"));
        Assert.Equal(1, await MariaDbSql.ExecuteAsync(affected, "UPDATE t SET v = 11 WHERE id = 1"));
    }

    [Fact]
    public async Task ExecuteAsync_Cancelled_KillsTheStatementAndKeepsTheConnectionUsable()
    {
        var (dataSource, _) = await NewDatabaseAsync();
        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT SLEEP(30)";
        var stopwatch = Stopwatch.StartNew();
        var running = command.ExecuteScalarAsync(cancellation.Token);
        await Task.Delay(300, Ct);
        cancellation.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(20), $"took {stopwatch.Elapsed}");
        Assert.Equal(2L, await MariaDbSql.ScalarAsync<long>(connection, "SELECT 1 + 1"));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => command.ExecuteScalarAsync(cancellation.Token));
    }

    [Fact]
    public async Task LockWait_Cancelled_SurfacesAsOperationCanceled()
    {
        var (dataSource, _) = await NewDatabaseAsync();
        await using var holder = await dataSource.OpenConnectionAsync(Ct);
        await MariaDbSql.ExecuteAsync(holder, "CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB");
        await MariaDbSql.ExecuteAsync(holder, "INSERT INTO t VALUES (1)");
        await using var holding = await holder.BeginTransactionAsync(Ct);
        await using (var lockRow = MariaDbSql.Create(holder, "SELECT id FROM t WHERE id = 1 FOR UPDATE"))
        {
            lockRow.Transaction = holding;
            await lockRow.ExecuteScalarAsync(Ct);
        }

        await using var waiter = await dataSource.OpenConnectionAsync(Ct);
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cancellation.CancelAfter(TimeSpan.FromMilliseconds(300));
        await using var blocked = MariaDbSql.Create(waiter, "UPDATE t SET id = 2 WHERE id = 1");

        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => blocked.ExecuteNonQueryAsync(cancellation.Token));
        Assert.Equal(1317, Assert.IsType<MariaDbTestException>(error.InnerException).Number);
        await holding.RollbackAsync(Ct);
        Assert.Equal(1, await MariaDbSql.ExecuteAsync(waiter, "UPDATE t SET id = 2 WHERE id = 1"));
    }

    [Fact]
    public async Task DataSource_ThroughProviderNeutralApi_OpensConnectionsAndRunsCommands()
    {
        var (typed, _) = await NewDatabaseAsync();
        DbDataSource dataSource = typed;

        await using var command = dataSource.CreateCommand("SELECT DATABASE()");
        var database = (string?)await command.ExecuteScalarAsync(Ct);
        await using var connection = await dataSource.OpenConnectionAsync(Ct);

        Assert.Equal(connection.Database, database);
        Assert.Equal(ConnectionState.Open, connection.State);
        Assert.NotEqual(0UL, ((MariaDbTestConnection)connection).ServerThreadId);
        Assert.Throws<ArgumentException>(() => new MariaDbTestDataSource("Server=127.0.0.1;Frobnicate=1"));
    }

    [Fact]
    public async Task Connection_OverUnixSocketAsRoot_Works()
    {
        await using var server = await MariaDbTestServer.StartNewAsync(cancellationToken: Ct);
        await using var connection = new MariaDbTestConnection($"Socket={server.SocketPath};User=root");
        await connection.OpenAsync(Ct);

        Assert.Equal("root@localhost", await MariaDbSql.ScalarAsync<string>(connection, "SELECT CURRENT_USER()"));
    }

    private static async Task<(MariaDbTestDataSource DataSource, string ConnectionString)> NewDatabaseAsync()
    {
        var server = await MariaDbTestServer.GetAsync(Ct);
        var database = await server.CreateDatabaseAsync("provider", Ct);
        var connectionString = server.GetConnectionString(database);
        return (new MariaDbTestDataSource(connectionString), connectionString);
    }
}
