using System.Diagnostics;
using System.Globalization;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using Cdc.Checkpoint.Postgres.Replication;
using Npgsql;
using Npgsql.Replication.PgOutput.Messages;

namespace Quickstart;

/// <summary>
/// <c>--postgres &lt;connection string&gt;</c>: the same crash-and-resume demo against a real server. A publication and
/// a slot are created, rows are inserted, the consumer (a child process with a FileCheckpoint) is killed with SIGKILL
/// mid-stream, a second consumer resumes from the checkpoint, and the parent checks that no row was lost.
/// </summary>
internal static class PostgresDemo
{
    private const int Transactions = 150;
    private const int RowsPerTransaction = 2;
    private const int CheckpointEvery = 5;

    public static async Task<int> RunAsync(string connectionString)
    {
        var name = "quickstart_" + Guid.NewGuid().ToString("N")[..8];
        var dir = Path.Combine(Path.GetTempPath(), "cdc-quickstart-" + name);
        Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        Console.WriteLine("Cdc.Checkpoint quickstart against a real PostgreSQL server");
        Console.WriteLine($"  table/publication/slot : {name}.orders / {name} / {name}");
        Console.WriteLine($"  checkpoint directory   : {dir} (FileCheckpoint, every {CheckpointEvery} transactions, acknowledged only when durable)");
        await ExecAsync(dataSource, $"""
            CREATE SCHEMA "{name}";
            CREATE TABLE "{name}".orders (id bigint PRIMARY KEY, item text NOT NULL);
            CREATE PUBLICATION "{name}" FOR TABLE "{name}".orders;
            """);
        var expected = Transactions * RowsPerTransaction;
        try
        {
            using (var first = StartConsumer(connectionString, dir, name, expected))
            {
                await WaitForLineAsync(first, "ready ");
                Console.WriteLine($"run 1: consumer pid {first.Id} created the slot and streams; inserting {expected} rows in {Transactions} transactions");
                for (var tx = 0; tx < Transactions; tx++)
                {
                    var from = (tx * RowsPerTransaction) + 1;
                    await ExecAsync(dataSource, $"INSERT INTO \"{name}\".orders SELECT i, 'item ' || i FROM generate_series({from}, {from + RowsPerTransaction - 1}) AS i");
                }

                var killAfter = Random.Shared.Next(3, 12);
                var saved = 0;
                while (await first.StandardOutput.ReadLineAsync() is { } line)
                {
                    if (line.StartsWith("checkpoint ", StringComparison.Ordinal) && ++saved == killAfter)
                    {
                        first.Kill(); // SIGKILL
                        Console.WriteLine($"run 1: killed with SIGKILL after {saved} checkpoints (last: {line})");
                        break;
                    }
                }

                await first.WaitForExitAsync();
            }

            using (var second = StartConsumer(connectionString, dir, name, expected))
            {
                while (await second.StandardOutput.ReadLineAsync() is { } line)
                {
                    if (line.StartsWith("ready ", StringComparison.Ordinal) || line.StartsWith("done ", StringComparison.Ordinal))
                    {
                        Console.WriteLine($"run 2: {line}");
                    }
                }

                await second.WaitForExitAsync();
                if (second.ExitCode != 0)
                {
                    Console.Error.WriteLine($"run 2 failed with exit code {second.ExitCode}: {await second.StandardError.ReadToEndAsync()}");
                    return 1;
                }
            }

            var delivered = File.ReadAllLines(Path.Combine(dir, "sink.log")).Select(l => long.Parse(l, CultureInfo.InvariantCulture)).ToList();
            var lost = Enumerable.Range(1, expected).Count(id => !delivered.Contains(id));
            var slot = await ScalarAsync(dataSource, $"SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '{name}'");
            await using var checkpoint = new FileCheckpoint(dir, new FileCheckpointOptions { Codecs = OffsetCodecRegistry.Empty.WithPostgres() });
            var final = await checkpoint.LoadOffsetAsync<PostgresOffset>();
            Console.WriteLine();
            Console.WriteLine($"result: {expected} rows inserted, {delivered.Count} deliveries to the sink");
            Console.WriteLine($"        redelivered after the crash (at-least-once window): {delivered.Count - delivered.Distinct().Count()}");
            Console.WriteLine($"        lost: {lost}");
            Console.WriteLine($"        final checkpoint: {final}; slot confirmed_flush_lsn {slot}");
            if (lost != 0)
            {
                Console.Error.WriteLine($"FAILED: {lost} rows lost");
                return 1;
            }

            Console.WriteLine("ok: no row lost; the consumer resumed at its last durable checkpoint, and the slot was never acknowledged past it.");
            return 0;
        }
        finally
        {
            await DropAsync(dataSource, name);
            Directory.Delete(dir, recursive: true);
        }
    }

    // The consumer: a replication session on a FileCheckpoint; a checkpoint every few transactions (commit boundaries).
    public static async Task<int> ConsumeAsync(string connectionString, string dir, string name, int expected)
    {
        await using var checkpoint = new FileCheckpoint(dir, new FileCheckpointOptions { Codecs = OffsetCodecRegistry.Empty.WithPostgres() });
        var options = new PostgresReplicationSessionOptions { SlotName = name, PublicationNames = [name] };
        await using var session = await OpenWithRetryAsync(connectionString, checkpoint, options);
        Console.WriteLine($"ready {session.Validation.Verdict} at {session.StartPosition.Lsn}");
        await using var sink = new StreamWriter(new FileStream(Path.Combine(dir, "sink.log"), FileMode.Append, FileAccess.Write, FileShare.Read));
        var sinceCheckpoint = 0;
        long lastId = 0;
        ulong rows = 0;
        await foreach (var message in session.ReadAsync())
        {
            switch (message)
            {
                case InsertMessage insert:
                    var column = 0;
                    await foreach (var value in insert.NewRow)
                    {
                        // pgoutput values arrive as text; read every column in order.
                        var text = await value.Get<string>();
                        if (column++ == 0)
                        {
                            lastId = long.Parse(text, CultureInfo.InvariantCulture);
                        }
                    }

                    await sink.WriteLineAsync(lastId.ToString(CultureInfo.InvariantCulture));
                    rows++;
                    break;
                case CommitMessage commit:
                    await sink.FlushAsync();
                    session.Acknowledger.MarkProcessed(commit, rows);
                    rows = 0;
                    if (++sinceCheckpoint == CheckpointEvery || lastId == expected)
                    {
                        await session.Acknowledger.CheckpointAsync();
                        Console.WriteLine($"checkpoint {session.Acknowledger.Durable}");
                        sinceCheckpoint = 0;
                    }

                    if (lastId == expected)
                    {
                        Console.WriteLine($"done at {session.Acknowledger.Durable.Lsn}");
                        return 0;
                    }

                    break;
            }
        }

        return 0;
    }

    // A killed consumer's server session can hold the slot for a moment: SlotInUse is transient.
    private static async Task<PostgresReplicationSession> OpenWithRetryAsync(string connectionString, FileCheckpoint checkpoint, PostgresReplicationSessionOptions options)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await PostgresReplicationSession.OpenAsync(connectionString, checkpoint, options);
            }
            catch (Cdc.Checkpoint.CheckpointException ex) when (ex.IsTransient && attempt < 40)
            {
                await Task.Delay(250);
            }
        }
    }

    private static Process StartConsumer(string connectionString, string dir, string name, int expected)
    {
        var info = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, FileName = Environment.ProcessPath! };
        if (Path.GetFileNameWithoutExtension(info.FileName).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            info.ArgumentList.Add(typeof(PostgresDemo).Assembly.Location);
        }

        foreach (var argument in new[] { "--postgres-consumer", connectionString, dir, name, expected.ToString(CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(argument);
        }

        return Process.Start(info) ?? throw new InvalidOperationException("could not start the consumer process");
    }

    private static async Task WaitForLineAsync(Process process, string prefix)
    {
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.StartsWith(prefix, StringComparison.Ordinal))
            {
                return;
            }
        }

        throw new InvalidOperationException($"The consumer exited before printing '{prefix}': {await process.StandardError.ReadToEndAsync()}");
    }

    private static async Task ExecAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<object?> ScalarAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        return await command.ExecuteScalarAsync();
    }

    private static async Task DropAsync(NpgsqlDataSource dataSource, string name)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var left = (long)(await ScalarAsync(dataSource, $"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{name}'"))!;
            if (left == 0)
            {
                break;
            }

            await ScalarAsync(dataSource, $"SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots WHERE slot_name = '{name}' AND NOT active");
            await Task.Delay(100);
        }

        await ExecAsync(dataSource, $"DROP PUBLICATION IF EXISTS \"{name}\"; DROP SCHEMA IF EXISTS \"{name}\" CASCADE;");
    }
}
