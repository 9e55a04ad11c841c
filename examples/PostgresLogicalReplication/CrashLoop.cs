using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Cdc.Checkpoint.Postgres;
using Cdc.Checkpoint.Postgres.Store;
using Npgsql;
using NpgsqlTypes;

namespace PostgresLogicalReplication;

/// <summary>Options of a crash-loop run.</summary>
public sealed class CrashLoopOptions
{
    /// <summary>The database to use (it gets a schema, a publication and a slot of its own, removed at the end).</summary>
    public required string ConnectionString { get; init; }

    /// <summary>The sink the consumer writes to.</summary>
    public SinkKind Sink { get; init; } = SinkKind.Table;

    /// <summary>How many times the consumer is killed with SIGKILL.</summary>
    public int Kills { get; init; } = 5;

    /// <summary>Where the file sink and its FileCheckpoint live (a directory per run is created inside).</summary>
    public string WorkDirectory { get; init; } = Path.GetTempPath();

    /// <summary>The random seed (kill times, transaction sizes); random when <see langword="null"/>.</summary>
    public int? Seed { get; init; }

    /// <summary>Progress output.</summary>
    public TextWriter Log { get; init; } = Console.Out;

    /// <summary>Whether the schema, publication, slot and files are removed at the end.</summary>
    public bool Cleanup { get; init; } = true;
}

/// <summary>What a crash-loop run did and found.</summary>
/// <param name="Schema">The run's schema (also the slot and publication name).</param>
/// <param name="InsertedIds">The ids of every committed source row.</param>
/// <param name="SinkIds">The ids found in the sink at the end, in sink order.</param>
/// <param name="Kills">How many consumers were killed with SIGKILL.</param>
/// <param name="Violations">Moments where the slot's confirmed_flush_lsn was ahead of the durable checkpoint (must be empty).</param>
/// <param name="FinalCheckpoint">The durable checkpoint at the end.</param>
/// <param name="FinalConfirmedFlush">The slot's confirmed_flush_lsn at the end.</param>
public sealed record CrashLoopResult(
    string Schema,
    IReadOnlyList<long> InsertedIds,
    IReadOnlyList<long> SinkIds,
    int Kills,
    IReadOnlyList<string> Violations,
    NpgsqlLogSequenceNumber FinalCheckpoint,
    NpgsqlLogSequenceNumber FinalConfirmedFlush)
{
    /// <summary>Source rows missing from the sink.</summary>
    public IReadOnlyList<long> Missing => InsertedIds.Except(SinkIds).Order().ToList();

    /// <summary>Sink rows present more than once.</summary>
    public IReadOnlyList<long> Duplicated => SinkIds.GroupBy(id => id).Where(g => g.Count() > 1).Select(g => g.Key).Order().ToList();

    /// <summary>Whether the sink holds exactly the inserted rows and the slot never ran ahead of the checkpoint.</summary>
    public bool Passed => Missing.Count == 0 && Duplicated.Count == 0 && SinkIds.Count == InsertedIds.Count && Violations.Count == 0
        && FinalConfirmedFlush <= FinalCheckpoint;
}

/// <summary>
/// Inserts rows while a consumer process streams them, kills the consumer with SIGKILL at random points, restarts it,
/// and finally checks the sink: every inserted row exactly once. Meanwhile it watches that the slot's
/// confirmed_flush_lsn never passes the durable checkpoint.
/// </summary>
public static partial class CrashLoop
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan CatchUpTimeout = TimeSpan.FromSeconds(90);

    /// <summary>Runs the crash loop.</summary>
    public static async Task<CrashLoopResult> RunAsync(CrashLoopOptions options, CancellationToken cancellationToken = default)
    {
        var random = options.Seed is { } seed ? new Random(seed) : new Random();
        var schema = "cdc_demo_" + Convert.ToHexStringLower(BitConverter.GetBytes(random.NextInt64()))[..10];
        var log = options.Log;
        var directory = Path.Combine(options.WorkDirectory, schema);
        await using var dataSource = NpgsqlDataSource.Create(options.ConnectionString);
        await SetUpAsync(dataSource, schema, cancellationToken);
        if (options.Sink == SinkKind.File)
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var consumerOptions = new ConsumerOptions(options.ConnectionString, schema, options.Sink, options.Sink == SinkKind.File ? directory : null);
        log.WriteLine($"crash loop: schema/publication/slot {schema}, sink {options.Sink}, {options.Kills} SIGKILLs");
        var inserted = new ConcurrentQueue<long>();
        var violations = new ConcurrentQueue<string>();
        using var stopWriter = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task? writer = null;
        Task? watcher = null;
        ConsumerProcess? consumer = null;
        try
        {
            // The first consumer creates the slot; rows are written only once it exists.
            consumer = ConsumerProcess.Start(consumerOptions, log);
            await consumer.WaitReadyAsync(ReadyTimeout, cancellationToken);
            writer = WriteAsync(dataSource, schema, inserted, random.Next(), stopWriter.Token);
            watcher = WatchAsync(dataSource, schema, options.Sink, directory, violations, stopWriter.Token);

            for (var kill = 1; kill <= options.Kills; kill++)
            {
                // Mostly mid-stream, sometimes while the consumer is still connecting, validating or recovering its sink.
                var midStream = random.Next(3) != 0;
                if (midStream)
                {
                    await consumer.WaitReadyAsync(ReadyTimeout, cancellationToken);
                }

                var delay = TimeSpan.FromMilliseconds(random.Next(100, 1200));
                await Task.Delay(delay, cancellationToken);
                consumer.Kill();
                log.WriteLine($"  kill {kill}: SIGKILL to pid {consumer.Id} {delay.TotalMilliseconds:0} ms after it {(midStream ? "became ready" : "started")} ({(consumer.IsReady ? "streaming" : "still starting")}), {inserted.Count} rows inserted so far");
                await consumer.DisposeAsync();
                consumer = ConsumerProcess.Start(consumerOptions, log);
            }

            await consumer.WaitReadyAsync(ReadyTimeout, cancellationToken);
            await Task.Delay(300, cancellationToken);
            await stopWriter.CancelAsync();
            await writer;
            log.WriteLine($"  writer stopped after {inserted.Count} rows; waiting for the last consumer to catch up");

            var expected = inserted.Count;
            var deadline = Stopwatch.StartNew();
            while ((await ReadSinkAsync(dataSource, schema, options.Sink, directory, cancellationToken)).Count < expected)
            {
                if (deadline.Elapsed > CatchUpTimeout || consumer.HasExited)
                {
                    throw new InvalidOperationException($"The consumer did not catch up with {expected} rows (exited: {consumer.HasExited}). Its stderr: {consumer.Errors}");
                }

                await Task.Delay(100, cancellationToken);
            }

            var exitCode = await consumer.TerminateAsync(TimeSpan.FromSeconds(30));
            if (exitCode != 0)
            {
                throw new InvalidOperationException($"The last consumer exited with {exitCode} after SIGTERM. Its stderr: {consumer.Errors}");
            }

            await watcher.ContinueWith(_ => { }, TaskScheduler.Default);
            var sink = await ReadSinkAsync(dataSource, schema, options.Sink, directory, cancellationToken);
            var checkpoint = await ReadCheckpointAsync(dataSource, schema, options.Sink, directory, cancellationToken) ?? default;
            var confirmed = await ReadConfirmedFlushAsync(dataSource, schema, cancellationToken) ?? default;
            return new CrashLoopResult(schema, [.. inserted], sink, options.Kills, [.. violations], checkpoint, confirmed);
        }
        finally
        {
            await stopWriter.CancelAsync();
            if (consumer is not null)
            {
                consumer.Kill();
                await consumer.DisposeAsync();
            }

            foreach (var task in new[] { writer, watcher })
            {
                if (task is not null)
                {
                    await task.ContinueWith(_ => { }, TaskScheduler.Default);
                }
            }

            if (options.Cleanup)
            {
                await CleanUpAsync(dataSource, schema);
                if (Directory.Exists(directory))
                {
                    Directory.Delete(directory, recursive: true);
                }
            }
        }
    }

    private static async Task SetUpAsync(NpgsqlDataSource dataSource, string schema, CancellationToken cancellationToken)
    {
        await using (var command = dataSource.CreateCommand(
            $"""
            CREATE SCHEMA "{schema}";
            CREATE TABLE "{schema}".demo_source (id bigint PRIMARY KEY, payload text NOT NULL);
            CREATE TABLE "{schema}".demo_sink (id bigint PRIMARY KEY, payload text NOT NULL, commit_lsn pg_lsn NOT NULL);
            CREATE PUBLICATION "{schema}" FOR TABLE "{schema}".demo_source;
            """))
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await new PostgresCheckpointStore(dataSource, "demo", new PostgresCheckpointStoreOptions { Schema = schema }).CreateSchemaAsync(cancellationToken);
    }

    private static async Task CleanUpAsync(NpgsqlDataSource dataSource, string schema)
    {
        try
        {
            for (var attempt = 0; attempt < 100; attempt++)
            {
                await using var drop = dataSource.CreateCommand("SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active");
                drop.Parameters.Add(new NpgsqlParameter { Value = schema });
                await drop.ExecuteScalarAsync();
                await using var left = dataSource.CreateCommand("SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1");
                left.Parameters.Add(new NpgsqlParameter { Value = schema });
                if ((long)(await left.ExecuteScalarAsync())! == 0)
                {
                    break;
                }

                await Task.Delay(100);
            }

            await using var command = dataSource.CreateCommand($"DROP PUBLICATION IF EXISTS \"{schema}\"; DROP SCHEMA IF EXISTS \"{schema}\" CASCADE;");
            await command.ExecuteNonQueryAsync();
        }
        catch (NpgsqlException)
        {
            // Best effort; a throwaway server is removed anyway.
        }
    }

    // Small transactions of 1-4 rows; an id counts as inserted only once its transaction has committed.
    private static async Task WriteAsync(NpgsqlDataSource dataSource, string schema, ConcurrentQueue<long> inserted, int seed, CancellationToken stop)
    {
        var random = new Random(seed);
        long next = 1;
        await using var connection = await dataSource.OpenConnectionAsync(CancellationToken.None);
        while (!stop.IsCancellationRequested)
        {
            var rows = random.Next(1, 5);
            await using (var command = new NpgsqlCommand($"INSERT INTO \"{schema}\".demo_source (id, payload) SELECT i, 'row ' || i FROM generate_series($1::bigint, $2::bigint) AS i", connection))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = next });
                command.Parameters.Add(new NpgsqlParameter { Value = next + rows - 1 });
                await command.ExecuteNonQueryAsync(CancellationToken.None);
            }

            for (var i = 0; i < rows; i++)
            {
                inserted.Enqueue(next + i);
            }

            next += rows;
            try
            {
                await Task.Delay(random.Next(2, 12), stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    // Reads the slot first and the checkpoint second: the checkpoint only grows, so this order never reports a false violation.
    private static async Task WatchAsync(NpgsqlDataSource dataSource, string schema, SinkKind sink, string directory, ConcurrentQueue<string> violations, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var confirmed = await ReadConfirmedFlushAsync(dataSource, schema, stop);
                var checkpoint = await ReadCheckpointAsync(dataSource, schema, sink, directory, stop);
                if (confirmed is { } c && (checkpoint is not { } k || c > k) && c != default)
                {
                    // Before the first checkpoint the slot is at its consistent point, which is the first checkpoint.
                    if (checkpoint is not null)
                    {
                        violations.Enqueue($"confirmed_flush_lsn {c} ahead of the durable checkpoint {checkpoint}");
                    }
                }

                await Task.Delay(20, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (Exception ex) when (ex is NpgsqlException or IOException or JsonException)
            {
                // A read racing with a rename or a restart; try again.
            }
        }
    }

    private static async Task<NpgsqlLogSequenceNumber?> ReadConfirmedFlushAsync(NpgsqlDataSource dataSource, string schema, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = schema });
        return await command.ExecuteScalarAsync(cancellationToken) is string text ? PostgresOffset.ParseLsn(text) : null;
    }

    private static async Task<NpgsqlLogSequenceNumber?> ReadCheckpointAsync(NpgsqlDataSource dataSource, string schema, SinkKind sink, string directory, CancellationToken cancellationToken)
    {
        if (sink == SinkKind.Table)
        {
            await using var command = dataSource.CreateCommand($"SELECT \"offset\"->>'lsn' FROM \"{schema}\".cdc_checkpoint WHERE name = 'demo' AND source_type = 'postgres'");
            return await command.ExecuteScalarAsync(cancellationToken) is string text ? PostgresOffset.ParseLsn(text) : null;
        }

        // Read the record file directly: the consumer holds the checkpoint directory's owner lease.
        var path = Path.Combine(directory, "checkpoint_postgres.json");
        if (!File.Exists(path))
        {
            return null;
        }

        using var document = JsonDocument.Parse(await File.ReadAllBytesAsync(path, cancellationToken));
        return PostgresOffset.ParseLsn(document.RootElement.GetProperty("offset").GetProperty("lsn").GetString()!);
    }

    private static async Task<IReadOnlyList<long>> ReadSinkAsync(NpgsqlDataSource dataSource, string schema, SinkKind sink, string directory, CancellationToken cancellationToken)
    {
        if (sink == SinkKind.File)
        {
            return FileSink.ReadIds(directory);
        }

        var ids = new List<long>();
        await using var command = dataSource.CreateCommand($"SELECT id FROM \"{schema}\".demo_sink ORDER BY id");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SendSignal(int pid, int signal);

    /// <summary>A consumer child process (<c>dotnet PostgresLogicalReplication.dll consume …</c>).</summary>
    private sealed class ConsumerProcess : IAsyncDisposable
    {
        private const int SigTerm = 15;
        private readonly Process _process;
        private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly ConcurrentQueue<string> _errors = new();

        private ConsumerProcess(Process process, TextWriter log)
        {
            _process = process;
            _process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    return;
                }

                if (e.Data.StartsWith("ready ", StringComparison.Ordinal))
                {
                    log.WriteLine($"  consumer {_process.Id}: {e.Data}");
                    _ready.TrySetResult();
                }
                else if (e.Data.StartsWith("sink:", StringComparison.Ordinal) || e.Data.StartsWith("transient", StringComparison.Ordinal) || e.Data.StartsWith("owner", StringComparison.Ordinal))
                {
                    log.WriteLine($"  consumer {_process.Id}: {e.Data}");
                }
            };
            _process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is not null)
                {
                    _errors.Enqueue(e.Data);
                }
            };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public int Id => _process.Id;

        public bool IsReady => _ready.Task.IsCompleted;

        public bool HasExited => _process.HasExited;

        public string Errors => string.Join(Environment.NewLine, _errors);

        public static ConsumerProcess Start(ConsumerOptions options, TextWriter log)
        {
            var dll = typeof(Consumer).Assembly.Location;
            var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in new[] { dll, "consume", "--connection", options.ConnectionString, "--schema", options.Schema, "--sink", options.Sink.ToString().ToLowerInvariant() })
            {
                info.ArgumentList.Add(argument);
            }

            if (options.Directory is not null)
            {
                info.ArgumentList.Add("--dir");
                info.ArgumentList.Add(options.Directory);
            }

            return new ConsumerProcess(Process.Start(info) ?? throw new InvalidOperationException("Could not start the consumer process."), log);
        }

        public async Task WaitReadyAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            var exited = _process.WaitForExitAsync(cancellationToken);
            var first = await Task.WhenAny(_ready.Task, exited, Task.Delay(timeout, cancellationToken));
            if (first != _ready.Task)
            {
                throw new InvalidOperationException(
                    string.Create(CultureInfo.InvariantCulture, $"Consumer {_process.Id} did not become ready (exited: {_process.HasExited}). Its stderr: {Errors}"));
            }
        }

        /// <summary>SIGKILL: no cleanup of any kind in the consumer.</summary>
        public void Kill()
        {
            try
            {
                _process.Kill();
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
        }

        /// <summary>SIGTERM, then waits for a clean exit.</summary>
        public async Task<int> TerminateAsync(TimeSpan timeout)
        {
            _ = SendSignal(_process.Id, SigTerm);
            using var wait = new CancellationTokenSource(timeout);
            await _process.WaitForExitAsync(wait.Token);
            return _process.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            await _process.WaitForExitAsync();
            _process.Dispose();
        }
    }
}
