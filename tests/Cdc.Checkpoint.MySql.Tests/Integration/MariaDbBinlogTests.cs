using System.Data.Common;
using Cdc.Checkpoint.TestServers.MariaDb;
using MySqlConnector;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Integration;

/// <summary>A private server per test class, so binlog files and GTIDs are this class's alone.</summary>
public sealed class PrivateMariaDbServer : IAsyncLifetime
{
    private MariaDbTestServer? _server;

    public MariaDbTestServer Server => _server ?? throw new InvalidOperationException("The fixture has not started.");

    public async ValueTask InitializeAsync() =>
        _server = await MariaDbTestServer.StartNewAsync(new MariaDbTestServerOptions { ServerId = 77, GtidDomainId = 3 });

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

/// <summary>The binlog facts the MySQL provider relies on, read through the test provider.</summary>
public sealed class MariaDbBinlogTests(PrivateMariaDbServer fixture) : IClassFixture<PrivateMariaDbServer>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ShowBinaryLogsAndBinlogEvents_AreReadableWithTypedColumns()
    {
        await using var connection = await fixture.Server.OpenConnectionAsync(cancellationToken: Ct);
        await MariaDbSql.ExecuteAsync(connection, "CREATE TABLE IF NOT EXISTS events_probe (id INT PRIMARY KEY)");

        var files = new List<(string Name, ulong Size)>();
        await using (var command = MariaDbSql.Create(connection, "SHOW BINARY LOGS"))
        await using (var reader = await command.ExecuteReaderAsync(Ct))
        {
            Assert.Equal("Log_name", reader.GetName(0));
            Assert.Equal("File_size", reader.GetName(1));
            while (await reader.ReadAsync(Ct))
            {
                files.Add((reader.GetString(0), reader.GetFieldValue<ulong>(1)));
            }
        }

        Assert.NotEmpty(files);
        Assert.All(files, f => Assert.Matches(@"^binlog\.\d{6}$", f.Name));
        Assert.All(files, f => Assert.True(f.Size >= 4, $"{f.Name} is {f.Size} bytes"));

        await using var events = MariaDbSql.Create(connection, $"SHOW BINLOG EVENTS IN '{files[0].Name}'");
        await using var eventReader = await events.ExecuteReaderAsync(Ct);
        var names = Enumerable.Range(0, eventReader.FieldCount).Select(eventReader.GetName).ToArray();
        Assert.Equal(["Log_name", "Pos", "Event_type", "Server_id", "End_log_pos", "Info"], names);
        Assert.True(await eventReader.ReadAsync(Ct));
        Assert.Equal(4UL, eventReader.GetFieldValue<ulong>(1));
        Assert.Equal("Format_desc", eventReader.GetString(2));
        Assert.Equal(77UL, eventReader.GetFieldValue<ulong>(3));
        var types = new List<string> { eventReader.GetString(2) };
        while (await eventReader.ReadAsync(Ct))
        {
            types.Add(eventReader.GetString(2));
        }

        Assert.Contains("Gtid", types);
    }

    [Fact]
    public async Task BinlogGtidPos_AtTheCurrentEnd_EqualsGtidBinlogPos()
    {
        await using var connection = await fixture.Server.OpenConnectionAsync(cancellationToken: Ct);
        await MariaDbSql.ExecuteAsync(connection, "CREATE TABLE IF NOT EXISTS gtid_probe (id INT PRIMARY KEY)");
        await MariaDbSql.ExecuteAsync(connection, "INSERT INTO gtid_probe VALUES (@id)", ("id", Random.Shared.Next()));

        var (file, position) = await MasterStatusAsync(connection);
        var gtidBinlogPos = await MariaDbSql.ScalarAsync<string>(connection, "SELECT @@gtid_binlog_pos");
        var mapped = await MariaDbSql.ScalarAsync<string>(connection, "SELECT BINLOG_GTID_POS(@file, @pos)", ("file", file), ("pos", position));

        Assert.Matches(@"^3-77-\d+$", gtidBinlogPos);
        Assert.Equal(gtidBinlogPos, mapped);
    }

    [Fact]
    public async Task BinlogGtidPos_BeforeALaterTransaction_ReturnsTheEarlierPosition()
    {
        await using var connection = await fixture.Server.OpenConnectionAsync(cancellationToken: Ct);
        await MariaDbSql.ExecuteAsync(connection, "CREATE TABLE IF NOT EXISTS order_probe (id INT AUTO_INCREMENT PRIMARY KEY)");
        var (file, position) = await MasterStatusAsync(connection);
        var before = await MariaDbSql.ScalarAsync<string>(connection, "SELECT @@gtid_binlog_pos");
        await MariaDbSql.ExecuteAsync(connection, "FLUSH BINARY LOGS");
        await MariaDbSql.ExecuteAsync(connection, "INSERT INTO order_probe VALUES ()");

        var after = await MariaDbSql.ScalarAsync<string>(connection, "SELECT @@gtid_binlog_pos");
        var mapped = await MariaDbSql.ScalarAsync<string>(connection, "SELECT BINLOG_GTID_POS(@file, @pos)", ("file", file), ("pos", position));

        Assert.Equal(before, mapped);
        Assert.NotEqual(before, after);
        Assert.Equal(SequenceOf(before) + 1, SequenceOf(after));
    }

    [Fact]
    public async Task StrictMode_OutOfOrderGtid_IsRejectedWithError1950()
    {
        await using var connection = await fixture.Server.OpenConnectionAsync(cancellationToken: Ct);
        await MariaDbSql.ExecuteAsync(connection, "CREATE TABLE IF NOT EXISTS strict_probe (id INT AUTO_INCREMENT PRIMARY KEY)");
        await MariaDbSql.ExecuteAsync(connection, "INSERT INTO strict_probe VALUES ()");

        var error = await Assert.ThrowsAsync<MySqlException>(
            () => MariaDbSql.ExecuteAsync(connection, "SET SESSION gtid_seq_no = 1; INSERT INTO strict_probe VALUES ()"));

        Assert.Equal(1950, error.Number);
    }

    private static async Task<(string File, ulong Position)> MasterStatusAsync(DbConnection connection)
    {
        await using var command = MariaDbSql.Create(connection, "SHOW MASTER STATUS");
        await using var reader = await command.ExecuteReaderAsync(Ct);
        Assert.True(await reader.ReadAsync(Ct));
        return (reader.GetString(reader.GetOrdinal("File")), reader.GetFieldValue<ulong>(reader.GetOrdinal("Position")));
    }

    private static long SequenceOf(string gtidPosition) =>
        long.Parse(gtidPosition.Split('-')[2], System.Globalization.CultureInfo.InvariantCulture);
}
