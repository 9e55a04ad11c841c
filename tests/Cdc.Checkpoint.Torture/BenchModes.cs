using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using Cdc.Checkpoint.Postgres.Store;
using Cdc.Checkpoint.TestServers;
using Npgsql;

namespace Cdc.Checkpoint.Torture;

/// <summary>
/// The benchmark modes behind rows (c) and (d) of eng/bench.sh (docs/BENCHMARKS.md). Each compares a library path with
/// its baseline in interleaved blocks inside one process, so both see the same disk or server at the same moments, and
/// prints one <c>NAME N median_us M p90_us P mean_us A</c> line per side.
/// </summary>
public static partial class BenchModes
{
    /// <summary>The environment variable naming an existing PostgreSQL server for <see cref="PostgresStoreAsync"/>.</summary>
    public const string PostgresOverrideVariable = "BENCH_POSTGRES";

    /// <summary>
    /// Row (c): durable offsets per second of <paramref name="sources"/> concurrent sources, each making every offset
    /// durable before it moves on. Group commit: the sources report to one <see cref="CheckpointCoordinator"/> and await
    /// <see cref="CheckpointCoordinator.CommitAsync"/>. Baseline: one durable manifest save per offset through a
    /// <see cref="FileManifestStore"/> (every save carries all sources, as the coordinator's manifests do). Both stores
    /// live under <paramref name="dir"/> with the same options.
    /// </summary>
    /// <param name="dir">A directory on the disk to measure; <c>group/</c> and <c>per-save/</c> are created in it.</param>
    /// <param name="offsets">Timed durable offsets of each kind (rounded up to whole blocks).</param>
    /// <param name="sources">Concurrent sources.</param>
    /// <returns>The exit code.</returns>
    /// <remarks>
    /// A block is every source making eight offsets durable; its wall time divided by its offsets is one sample, in µs
    /// per durable offset. Blocks are that long because each starts from a barrier, where the first committer writes
    /// alone: with two offsets per source that start-up write was a large share of the block. The printed median and
    /// p90 are over blocks, the mean is total time over total offsets, so 10⁶ / mean is durable offsets per second.
    /// Lines: <c>group_commit …</c>, <c>per_save_commit …</c>, and <c>group_writes W offsets_per_write X</c> (the
    /// coordinator's manifest writes during the timed blocks).
    /// </remarks>
    public static async Task<int> GroupCommitAsync(string dir, int offsets, int sources)
    {
        const int PerSourcePerBlock = 8;
        ArgumentOutOfRangeException.ThrowIfLessThan(offsets, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(sources, 1);
        Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var names = Enumerable.Range(0, sources).Select(i => string.Create(CultureInfo.InvariantCulture, $"source_{i:D2}")).ToArray();
        var options = new FileManifestStoreOptions { Codecs = OffsetCodecRegistry.Empty.WithPostgres() };

        // Baseline: each source publishes its position and saves a manifest of all positions, under a fresh id.
        var perSaveStore = new FileManifestStore(Path.Combine(dir, "per-save"), options);
        var positions = new SourcePosition[sources];
        var positionsGate = new Lock();
        var perSaveCounts = new ulong[sources];
        long nextId = 0;
        for (var i = 0; i < sources; i++)
        {
            positions[i] = new SourcePosition(TortureOffsets.At(0));
        }

        async Task PerSaveAsync(int source)
        {
            var count = ++perSaveCounts[source];
            ImmutableSortedDictionary<string, SourcePosition> snapshot;
            lock (positionsGate)
            {
                positions[source] = new SourcePosition(TortureOffsets.At(count), count);
                snapshot = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, names.Select((name, i) => KeyValuePair.Create(name, positions[i])));
            }

            var id = (ulong)Interlocked.Increment(ref nextId);
            await perSaveStore.SaveAsync(new CheckpointManifest { CheckpointId = id, Epoch = id, CreatedAt = DateTimeOffset.UtcNow, SourceOffsets = snapshot });
        }

        await using var coordinator = await CheckpointCoordinator.StartAsync(new FileManifestStore(Path.Combine(dir, "group"), options));
        var groupCounts = new ulong[sources];

        async Task GroupAsync(int source)
        {
            var count = ++groupCounts[source];
            coordinator.ReportOffset(names[source], TortureOffsets.At(count), count);
            await coordinator.CommitAsync();
        }

        // One block: every source, on its own task, makes PerSourcePerBlock offsets durable one after the other.
        async Task<double> BlockAsync(Func<int, Task> durableOffset)
        {
            var started = Stopwatch.GetTimestamp();
            await Task.WhenAll(Enumerable.Range(0, sources).Select(source => Task.Run(async () =>
            {
                for (var i = 0; i < PerSourcePerBlock; i++)
                {
                    await durableOffset(source);
                }
            })));
            return Stopwatch.GetElapsedTime(started).TotalMicroseconds / (sources * PerSourcePerBlock);
        }

        var perBlock = sources * PerSourcePerBlock;
        var blocks = Math.Max(3, (offsets + perBlock - 1) / perBlock);
        _ = await BlockAsync(GroupAsync);
        _ = await BlockAsync(PerSaveAsync);

        var firstWrite = coordinator.LastCommitted?.CheckpointId ?? 0;
        var group = new double[blocks];
        var perSave = new double[blocks];
        for (var block = 0; block < blocks; block++)
        {
            if (block % 2 == 1)
            {
                perSave[block] = await BlockAsync(PerSaveAsync);
            }

            group[block] = await BlockAsync(GroupAsync);
            if (block % 2 == 0)
            {
                perSave[block] = await BlockAsync(PerSaveAsync);
            }
        }

        var writes = (coordinator.LastCommitted?.CheckpointId ?? 0) - firstWrite;
        ChildModes.Out(Summary("group_commit", group, blocks * perBlock));
        ChildModes.Out(Summary("per_save_commit", perSave, blocks * perBlock));
        ChildModes.Out(string.Create(CultureInfo.InvariantCulture, $"group_writes {writes} offsets_per_write {(double)(blocks * perBlock) / Math.Max(1UL, writes):F1}"));
        return 0;
    }

    /// <summary>
    /// Row (d): <see cref="PostgresCheckpointStore.SaveAsync(CheckpointOffset, ulong, CancellationToken)"/> against a
    /// raw single-row UPSERT of the same row through Npgsql, interleaved in blocks of ten on one server and one data
    /// source. Both sides open a pooled connection from the same <see cref="NpgsqlDataSource"/>, run one transaction
    /// and commit it; the raw side writes the same columns (same offset JSON, count, epoch, a sequence value, format
    /// version, time) into a table of the same shape, with no fence, no guard and no read.
    /// </summary>
    /// <param name="operations">Timed operations of each kind.</param>
    /// <param name="durable">
    /// Turn <c>fsync</c> and <c>synchronous_commit</c> on for the run (throwaway cluster only): each commit then waits
    /// for the WAL flush, as on a production server. Off by default, which leaves only round trips and server CPU.
    /// </param>
    /// <param name="prepared">
    /// Let Npgsql prepare statements it sees repeatedly (<c>Max Auto Prepare=16</c>), for both sides alike: the server
    /// then skips parsing and planning. Off by default, as in Npgsql.
    /// </param>
    /// <returns>The exit code.</returns>
    /// <remarks>
    /// The server: <c>BENCH_POSTGRES</c> (a connection string), else <c>CDC_TEST_POSTGRES</c>, else a throwaway
    /// PostgreSQL 15 cluster (<see cref="PostgresTestServer"/>), removed at exit. Lines: <c>pg_store …</c>,
    /// <c>pg_raw_upsert …</c> and <c>pg_store_sql …</c> (the store's own statements sent bare: no guards, no parsing);
    /// <c>pg_cpu NAME client_us C server_us S</c>, the CPU time per operation of this process and of the server
    /// backend; and <c>pg_server …</c>, the server settings that matter.
    /// </remarks>
    public static async Task<int> PostgresStoreAsync(int operations, bool durable, bool prepared)
    {
        const int Block = 10;
        ArgumentOutOfRangeException.ThrowIfLessThan(operations, 1);
        var external = Environment.GetEnvironmentVariable(PostgresOverrideVariable);
        string connectionString;
        PostgresTestServer? server = null;
        if (!string.IsNullOrWhiteSpace(external))
        {
            connectionString = external;
        }
        else
        {
            server = await PostgresTestServer.GetAsync();
            connectionString = server.IsExternal ? server.ConnectionString : await server.CreateDatabaseAsync("bench");
        }

        var table = "cdc_bench_" + Guid.NewGuid().ToString("N")[..8];
        var raw = table + "_raw";
        if (prepared)
        {
            connectionString = new NpgsqlConnectionStringBuilder(connectionString) { MaxAutoPrepare = 16, AutoPrepareMinUsages = 2 }.ConnectionString;
        }

        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        if (durable)
        {
            if (server is null || server.IsExternal)
            {
                throw new InvalidOperationException("durable mode changes server settings and only runs on the throwaway cluster; unset BENCH_POSTGRES and CDC_TEST_POSTGRES, or configure the external server yourself.");
            }

            await ExecuteAsync(dataSource, "ALTER SYSTEM SET fsync = on");
            await ExecuteAsync(dataSource, "ALTER SYSTEM SET synchronous_commit = on");
            await ExecuteAsync(dataSource, "SELECT pg_reload_conf()");
            await Task.Delay(500); // the postmaster signals the backends; give them a moment to reread the file
        }

        var store = new PostgresCheckpointStore(
            dataSource,
            "bench",
            new PostgresCheckpointStoreOptions { TableName = table, Codecs = OffsetCodecRegistry.Empty.WithPostgres(), Owner = "bench" });
        try
        {
            await store.CreateSchemaAsync();
            await ExecuteAsync(dataSource, $"CREATE TABLE {raw} (LIKE {table} INCLUDING ALL); CREATE SEQUENCE {raw}_seq");
            var epoch = await store.AcquireAsync();
            var upsert = $"""
                INSERT INTO {raw} (name, source_type, "offset", committed_event_count, epoch, sequence, format_version, updated_at)
                VALUES ($1, $2, $3::jsonb, $4, $5, nextval('{raw}_seq'), $6, $7)
                ON CONFLICT (name, source_type) DO UPDATE SET
                    "offset" = EXCLUDED."offset", committed_event_count = EXCLUDED.committed_event_count, epoch = EXCLUDED.epoch,
                    sequence = EXCLUDED.sequence, format_version = EXCLUDED.format_version, updated_at = EXCLUDED.updated_at
                """;

            // The store's own statements for another name, sent bare through Npgsql (no guards, no parsing, no
            // metrics): splits the store's cost into what the server does for them and what the library adds.
            await ExecuteAsync(dataSource, $"INSERT INTO {table}_fence (name, epoch, owner, acquired_at) VALUES ('bare', 1, 'bench', now())");
            var bareSql = new[]
            {
                $"SELECT epoch FROM {table}_fence WHERE name = $1 FOR UPDATE",
                $"SELECT \"offset\"::text, committed_event_count::text, epoch, sequence, format_version, updated_at FROM {table} WHERE name = $1 AND source_type = $2 FOR UPDATE",
                $"""
                INSERT INTO {table} (name, source_type, "offset", committed_event_count, epoch, sequence, format_version, updated_at)
                VALUES ($1, $2, $3::jsonb, $4, $5, nextval('{table}_seq'), $6, $7)
                ON CONFLICT (name, source_type) DO UPDATE SET
                    "offset" = EXCLUDED."offset", committed_event_count = EXCLUDED.committed_event_count, epoch = EXCLUDED.epoch,
                    sequence = EXCLUDED.sequence, format_version = EXCLUDED.format_version, updated_at = EXCLUDED.updated_at
                """,
            };

            ulong storeCount = 0;
            ulong rawCount = 0;
            ulong bareCount = 0;
            async Task<double> StoreSaveAsync()
            {
                storeCount++;
                var offset = TortureOffsets.At(storeCount);
                var started = Stopwatch.GetTimestamp();
                await store.SaveAsync(offset, storeCount);
                return Stopwatch.GetElapsedTime(started).TotalMicroseconds;
            }

            async Task<double> RawUpsertAsync()
            {
                rawCount++;
                var offset = TortureOffsets.At(rawCount);
                var started = Stopwatch.GetTimestamp();
                await using (var connection = await dataSource.OpenConnectionAsync())
                await using (var transaction = await connection.BeginTransactionAsync())
                {
                    await using var command = new NpgsqlCommand(upsert, connection, transaction)
                    {
                        Parameters =
                        {
                            new NpgsqlParameter { Value = "bench" },
                            new NpgsqlParameter { Value = offset.SourceType },
                            new NpgsqlParameter { Value = offset.ToJsonString() },
                            new NpgsqlParameter { Value = (decimal)rawCount },
                            new NpgsqlParameter { Value = epoch },
                            new NpgsqlParameter { Value = PostgresCheckpointStore.CurrentFormatVersion },
                            new NpgsqlParameter { Value = DateTimeOffset.UtcNow },
                        },
                    };
                    await command.ExecuteNonQueryAsync();
                    await transaction.CommitAsync();
                }

                return Stopwatch.GetElapsedTime(started).TotalMicroseconds;
            }

            async Task<double> BareStatementsAsync()
            {
                bareCount++;
                var offset = TortureOffsets.At(bareCount);
                var started = Stopwatch.GetTimestamp();
                await using (var connection = await dataSource.OpenConnectionAsync())
                await using (var transaction = await connection.BeginTransactionAsync())
                {
                    await using var batch = new NpgsqlBatch(connection, transaction)
                    {
                        BatchCommands =
                        {
                            new NpgsqlBatchCommand(bareSql[0]) { Parameters = { new NpgsqlParameter { Value = "bare" } } },
                            new NpgsqlBatchCommand(bareSql[1]) { Parameters = { new NpgsqlParameter { Value = "bare" }, new NpgsqlParameter { Value = offset.SourceType } } },
                            new NpgsqlBatchCommand(bareSql[2])
                            {
                                Parameters =
                                {
                                    new NpgsqlParameter { Value = "bare" },
                                    new NpgsqlParameter { Value = offset.SourceType },
                                    new NpgsqlParameter { Value = offset.ToJsonString() },
                                    new NpgsqlParameter { Value = (decimal)bareCount },
                                    new NpgsqlParameter { Value = 1L },
                                    new NpgsqlParameter { Value = PostgresCheckpointStore.CurrentFormatVersion },
                                    new NpgsqlParameter { Value = DateTimeOffset.UtcNow },
                                },
                            },
                        },
                    };
                    await using (var reader = await batch.ExecuteReaderAsync())
                    {
                        while (await reader.NextResultAsync())
                        {
                        }
                    }

                    await transaction.CommitAsync();
                }

                return Stopwatch.GetElapsedTime(started).TotalMicroseconds;
            }

            var warmup = Math.Max(50, operations / 10);
            for (var i = 0; i < warmup; i++)
            {
                _ = await StoreSaveAsync();
                _ = await RawUpsertAsync();
                _ = await BareStatementsAsync();
            }

            // CPU time, besides wall time: on a shared machine the wall time of a round trip is mostly waiting to be
            // scheduled, while CPU time shows the work each side costs the client and the server backend (a local
            // server's backend, read from /proc/PID/schedstat; pooling reuses the one physical connection throughout).
            var backend = await ScalarAsync(dataSource, "SELECT pg_backend_pid()::text");
            var sides = new[] { new Side("store", StoreSaveAsync), new Side("raw_upsert", RawUpsertAsync), new Side("store_sql", BareStatementsAsync) };
            async Task RunAsync(Side side, int n)
            {
                var client = CpuNanoseconds(Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
                var server = CpuNanoseconds(backend);
                for (var i = 0; i < n; i++)
                {
                    side.Micros.Add(await side.Operation());
                }

                side.ClientNanoseconds += CpuNanoseconds(Environment.ProcessId.ToString(CultureInfo.InvariantCulture)) - client;
                side.ServerNanoseconds += CpuNanoseconds(backend) - server;
            }

            for (var block = 0; sides[0].Micros.Count < operations; block++)
            {
                var n = Math.Min(Block, operations - sides[0].Micros.Count);
                if (block % 2 == 1)
                {
                    await RunAsync(sides[1], n);
                }

                await RunAsync(sides[0], n);
                await RunAsync(sides[2], n);
                if (block % 2 == 0)
                {
                    await RunAsync(sides[1], n);
                }
            }

            var settings = await ScalarAsync(
                dataSource,
                "SELECT 'version ' || current_setting('server_version_num') || ' fsync ' || current_setting('fsync') || ' synchronous_commit ' || current_setting('synchronous_commit')");
            var sameBackend = await ScalarAsync(dataSource, "SELECT pg_backend_pid()::text") == backend && CpuNanoseconds(backend) > 0;
            foreach (var side in sides)
            {
                ChildModes.Out(Summary("pg_" + side.Name, [.. side.Micros], side.Micros.Count));
            }

            foreach (var side in sides)
            {
                var serverUs = sameBackend ? (side.ServerNanoseconds / 1000.0 / side.Micros.Count).ToString("F1", CultureInfo.InvariantCulture) : "unavailable";
                ChildModes.Out(string.Create(CultureInfo.InvariantCulture, $"pg_cpu {side.Name} client_us {side.ClientNanoseconds / 1000.0 / side.Micros.Count:F1} server_us {serverUs}"));
            }

            ChildModes.Out($"pg_server {settings} max_auto_prepare {dataSource.ConnectionString.Contains("Max Auto Prepare", StringComparison.OrdinalIgnoreCase)}");
            return 0;
        }
        finally
        {
            await ExecuteAsync(dataSource, $"DROP TABLE IF EXISTS {raw}, {table}, {table}_fence, {table}_audit; DROP SEQUENCE IF EXISTS {raw}_seq, {table}_seq");
        }
    }

    // CPU time of every thread of process PID, in ns (first field of /proc/PID/task/TID/schedstat); 0 when not readable.
    private static long CpuNanoseconds(string pid)
    {
        try
        {
            long total = 0;
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                var text = File.ReadAllText(Path.Combine(task, "schedstat"));
                total += long.Parse(text.AsSpan(0, text.IndexOf(' ', StringComparison.Ordinal)), CultureInfo.InvariantCulture);
            }

            return total;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or ArgumentOutOfRangeException)
        {
            return 0;
        }
    }

    private static async Task ExecuteAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<string> ScalarAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    private sealed class Side(string name, Func<Task<double>> operation)
    {
        public string Name { get; } = name;

        public Func<Task<double>> Operation { get; } = operation;

        public List<double> Micros { get; } = [];

        public long ClientNanoseconds { get; set; }

        public long ServerNanoseconds { get; set; }
    }

    // Blocks in (c) have equal sizes, so the mean of the per-block samples is also total time over total operations.
    private static string Summary(string word, double[] micros, int operations)
    {
        var mean = micros.Average();
        Array.Sort(micros);
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{word} {operations} median_us {Percentile(micros, 0.5):F1} p90_us {Percentile(micros, 0.9):F1} mean_us {mean:F1}");
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
}
