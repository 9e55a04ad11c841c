using System.Diagnostics;
using System.Globalization;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Store;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.TestServers.MariaDb;
using MySqlConnector;

namespace Cdc.Checkpoint.Torture;

/// <summary>Row (e) of eng/bench.sh: the MySQL table store against a raw upsert, through MySqlConnector.</summary>
public static partial class BenchModes
{
    /// <summary>The environment variable naming an existing MySQL or MariaDB server for <see cref="MySqlStoreAsync"/>.</summary>
    public const string MySqlOverrideVariable = "BENCH_MYSQL";

    /// <summary>
    /// Row (e): <see cref="MySqlCheckpointStore.SaveAsync(CheckpointOffset, ulong, CancellationToken)"/> against a raw
    /// single-row upsert of the same row (<c>INSERT … ON DUPLICATE KEY UPDATE</c>, autocommitted: the least a table
    /// checkpoint can send) through MySqlConnector, interleaved in blocks of ten on one server and one
    /// <see cref="MySqlDataSource"/>. The raw side writes the same columns (offset JSON, count, epoch, sequence, format
    /// version, time) into a table of the same shape, with no fence, no guard and no read.
    /// </summary>
    /// <param name="operations">Timed operations of each kind.</param>
    /// <returns>The exit code.</returns>
    /// <remarks>
    /// The server: <c>BENCH_MYSQL</c> (a connection string), else <c>CDC_TEST_MYSQL</c>, else a throwaway MariaDB
    /// (<see cref="MariaDbTestServer"/>, <c>innodb_flush_log_at_trx_commit=2</c>, <c>sync_binlog=0</c>), removed at
    /// exit. Lines: <c>mysql_store …</c>, <c>mysql_raw_upsert …</c>, <c>mysql_store_sql …</c> (the store's
    /// one-statement save sent bare for another name: what the server does for it, apart from what the library adds),
    /// and <c>mysql_server …</c> (version and the durability settings).
    /// </remarks>
    public static async Task<int> MySqlStoreAsync(int operations)
    {
        const int Block = 10;
        ArgumentOutOfRangeException.ThrowIfLessThan(operations, 1);
        var external = Environment.GetEnvironmentVariable(MySqlOverrideVariable);
        string connectionString;
        if (!string.IsNullOrWhiteSpace(external))
        {
            connectionString = external;
        }
        else
        {
            var server = await MariaDbTestServer.GetAsync();
            connectionString = server.IsExternal ? server.ConnectionString : server.GetConnectionString(await server.CreateDatabaseAsync("bench"));
        }

        var table = "cdc_bench_" + Guid.NewGuid().ToString("N")[..8];
        var raw = table + "_raw";
        await using var dataSource = new MySqlDataSource(connectionString);
        var store = new MySqlCheckpointStore(
            dataSource,
            "bench",
            new MySqlCheckpointStoreOptions { TableName = table, Codecs = OffsetCodecRegistry.Empty.WithMySql(), Owner = "bench" });
        try
        {
            await store.CreateSchemaAsync();
            await ExecuteAsync(dataSource, $"CREATE TABLE `{raw}` LIKE `{table}`");
            var epoch = await store.AcquireAsync();
            var upsert = $"""
                INSERT INTO `{raw}` (`name`, `source_type`, `offset`, `committed_event_count`, `epoch`, `sequence`, `format_version`, `updated_at`)
                VALUES (@name, @source_type, @offset, @count, @epoch, @sequence, @format_version, @now)
                ON DUPLICATE KEY UPDATE `offset` = VALUES(`offset`), `committed_event_count` = VALUES(`committed_event_count`),
                    `epoch` = VALUES(`epoch`), `sequence` = VALUES(`sequence`), `format_version` = VALUES(`format_version`),
                    `updated_at` = VALUES(`updated_at`)
                """;

            ulong storeCount = 0;
            ulong rawCount = 0;
            async Task<double> StoreSaveAsync()
            {
                storeCount++;
                var offset = MariaDbAt(storeCount);
                var started = Stopwatch.GetTimestamp();
                await store.SaveAsync(offset, storeCount);
                return Stopwatch.GetElapsedTime(started).TotalMicroseconds;
            }

            async Task<double> RawUpsertAsync()
            {
                rawCount++;
                var offset = MariaDbAt(rawCount);
                var started = Stopwatch.GetTimestamp();
                await using (var connection = await dataSource.OpenConnectionAsync())
                {
                    await using var command = new MySqlCommand(upsert, connection);
                    command.Parameters.AddWithValue("@name", "bench");
                    command.Parameters.AddWithValue("@source_type", offset.SourceType);
                    command.Parameters.AddWithValue("@offset", offset.ToJsonString());
                    command.Parameters.AddWithValue("@count", rawCount);
                    command.Parameters.AddWithValue("@epoch", epoch);
                    command.Parameters.AddWithValue("@sequence", rawCount);
                    command.Parameters.AddWithValue("@format_version", MySqlCheckpointStore.CurrentFormatVersion);
                    command.Parameters.AddWithValue("@now", DateTime.UtcNow);
                    await command.ExecuteNonQueryAsync();
                }

                return Stopwatch.GetElapsedTime(started).TotalMicroseconds;
            }

            // The store's one-statement UPDATE, sent bare for another name (no guard, no JSON parsing, no metrics).
            await ExecuteAsync(dataSource, $"INSERT INTO `{table}_fence` VALUES ('bare', 1, 0, 'bench', UTC_TIMESTAMP(6))");
            await ExecuteAsync(dataSource, $"INSERT INTO `{table}` VALUES ('bare', 'mariadb', '{{}}', 0, 1, 0, {MySqlCheckpointStore.CurrentFormatVersion}, UTC_TIMESTAMP(6))");
            var bareSql = $"""
                UPDATE `{table}`
                SET `offset` = @offset, `committed_event_count` = @count, `epoch` = 1, `sequence` = @count, `updated_at` = @now
                WHERE `name` = 'bare' AND `source_type` = 'mariadb'
                    AND `offset` = @known_offset AND `committed_event_count` = @known_count AND `format_version` = {MySqlCheckpointStore.CurrentFormatVersion}
                    AND (SELECT f.`epoch` FROM `{table}_fence` AS f WHERE f.`name` = 'bare' LOCK IN SHARE MODE) = 1
                """;
            var bareJson = "{}";
            ulong bareCount = 0;
            async Task<double> BareStatementAsync()
            {
                var offset = MariaDbAt(bareCount + 1);
                var json = offset.ToJsonString();
                var started = Stopwatch.GetTimestamp();
                await using (var connection = await dataSource.OpenConnectionAsync())
                {
                    await using var command = new MySqlCommand(bareSql, connection);
                    command.Parameters.AddWithValue("@offset", json);
                    command.Parameters.AddWithValue("@count", bareCount + 1);
                    command.Parameters.AddWithValue("@now", DateTime.UtcNow);
                    command.Parameters.AddWithValue("@known_offset", bareJson);
                    command.Parameters.AddWithValue("@known_count", bareCount);
                    if (await command.ExecuteNonQueryAsync() != 1)
                    {
                        throw new InvalidOperationException("The bare one-statement save matched no row.");
                    }
                }

                (bareJson, bareCount) = (json, bareCount + 1);
                return Stopwatch.GetElapsedTime(started).TotalMicroseconds;
            }

            var warmup = Math.Max(50, operations / 10);
            for (var i = 0; i < warmup; i++)
            {
                _ = await StoreSaveAsync();
                _ = await RawUpsertAsync();
                _ = await BareStatementAsync();
            }

            var storeMicros = new List<double>();
            var rawMicros = new List<double>();
            var bareMicros = new List<double>();
            for (var block = 0; storeMicros.Count < operations; block++)
            {
                var n = Math.Min(Block, operations - storeMicros.Count);
                for (var order = 0; order < 2; order++)
                {
                    // Alternate which side goes first, so neither always follows the other's commit.
                    var storeTurn = (block + order) % 2 == 0;
                    for (var i = 0; i < n; i++)
                    {
                        (storeTurn ? storeMicros : rawMicros).Add(await (storeTurn ? StoreSaveAsync() : RawUpsertAsync()));
                    }
                }

                for (var i = 0; i < n; i++)
                {
                    bareMicros.Add(await BareStatementAsync());
                }
            }

            ChildModes.Out(Summary("mysql_store", [.. storeMicros], storeMicros.Count));
            ChildModes.Out(Summary("mysql_raw_upsert", [.. rawMicros], rawMicros.Count));
            ChildModes.Out(Summary("mysql_store_sql", [.. bareMicros], bareMicros.Count));
            await using (var command = dataSource.CreateCommand("SELECT CONCAT('version ', @@version, ' innodb_flush_log_at_trx_commit ', @@innodb_flush_log_at_trx_commit, ' sync_binlog ', @@sync_binlog)"))
            {
                ChildModes.Out("mysql_server " + Convert.ToString(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture));
            }

            return 0;
        }
        finally
        {
            await ExecuteAsync(dataSource, $"DROP TABLE IF EXISTS `{raw}`, `{table}`, `{table}_fence`, `{table}_audit`");
        }
    }

    // A MariaDB offset that moves forward with n: GTID 0-1-n at a growing position in one binlog file.
    private static MariaDbOffset MariaDbAt(ulong n) =>
        new(MariaDbGtidPosition.Parse(string.Create(CultureInfo.InvariantCulture, $"0-1-{n}")), new BinlogPosition("binlog.000001", 4 + (n * 100)), 1);

    private static async Task ExecuteAsync(MySqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }
}
