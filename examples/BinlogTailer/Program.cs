using System.Globalization;
using BinlogTailer;
using Cdc.Checkpoint;
using MySqlConnector;

// Exit codes: 0 stopped (Ctrl+C, SIGTERM, or the demo finished), 1 error, 2 usage, 3 resume refused by validation.
string? connectionString = Environment.GetEnvironmentVariable("BINLOG_TAILER_CONNECTION_STRING");
string checkpointDirectory = Path.Combine(Environment.CurrentDirectory, "binlog-tailer-checkpoint");
var pollInterval = TimeSpan.FromMilliseconds(100);
var acceptPurged = false;
var demo = false;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--connection-string" when i + 1 < args.Length:
            connectionString = args[++i];
            break;
        case "--checkpoint-dir" when i + 1 < args.Length:
            checkpointDirectory = Path.GetFullPath(args[++i]);
            break;
        case "--poll-ms" when i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var ms) && ms > 0:
            pollInterval = TimeSpan.FromMilliseconds(ms);
            i++;
            break;
        case "--accept-purged":
            acceptPurged = true;
            break;
        case "--demo":
            demo = true;
            break;
        case "--help" or "-h":
            return Usage(0);
        default:
            Console.Error.WriteLine($"unknown or incomplete option '{args[i]}'");
            return Usage(2);
    }
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.Cancel();
});

var options = new TailerOptions
{
    PollInterval = pollInterval,
    Validation = new Cdc.Checkpoint.MySql.Validation.MySqlResumeValidationOptions { AcceptPurgedTransactions = acceptPurged },
};

try
{
    if (string.IsNullOrWhiteSpace(connectionString))
    {
        Console.Error.WriteLine("No server given: pass --connection-string (or set BINLOG_TAILER_CONNECTION_STRING) for a MariaDB or MySQL server with the binlog on.");
        return Usage(2);
    }

    await using var dataSource = new MySqlDataSource(connectionString);
    if (demo)
    {
        return await DemoAsync(dataSource, options, stop.Token);
    }

    await using var tailer = new Tailer(dataSource, checkpointDirectory, Console.Out, options);
    await tailer.RunAsync(stop.Token);
    return 0;
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    return 0;
}
catch (CheckpointException ex) when (ex.ErrorCode is not (CheckpointErrorCode.WriteFailed or CheckpointErrorCode.LeaseHeld))
{
    Console.Error.WriteLine($"refused ({ex.ErrorCode}): {ex.Message}");
    return 3;
}
catch (Exception ex) when (ex is CheckpointException or MySqlException or ArgumentException or InvalidOperationException or IOException)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    return 1;
}

static int Usage(int code)
{
    var writer = code == 0 ? Console.Out : Console.Error;
    writer.WriteLine("usage: dotnet run --project examples/BinlogTailer -- --connection-string 'Server=127.0.0.1;Port=3306;User=cdc;Password=...;Database=test'");
    writer.WriteLine("            [--checkpoint-dir DIR] [--poll-ms N] [--accept-purged] [--demo]");
    writer.WriteLine("       (or set BINLOG_TAILER_CONNECTION_STRING)");
    writer.WriteLine("       --demo (MariaDB) writes rows into a table of its own, rotates the binlog, restarts the tailer once and checks that");
    writer.WriteLine("              every committed transaction was seen (needs CREATE, INSERT, DROP and RELOAD besides the tailer's privileges).");
    return code;
}

// The demo: a writer that inserts rows into a table of its own and rotates the binlog, and a tailer that is stopped
// and started again halfway (resuming from its FileCheckpoint) and must see every transaction.
static async Task<int> DemoAsync(MySqlDataSource dataSource, TailerOptions options, CancellationToken cancellationToken)
{
    var suffix = Guid.NewGuid().ToString("N")[..8];
    var table = "binlog_tailer_demo_" + suffix;
    var directory = Path.Combine(Path.GetTempPath(), "binlog-tailer-demo-" + suffix);
    Console.WriteLine($"demo: table {table}, checkpoint directory {directory}");
    await using (var create = dataSource.CreateCommand($"CREATE TABLE `{table}` (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(100)) ENGINE=InnoDB"))
    {
        await create.ExecuteNonQueryAsync(cancellationToken);
    }

    var seen = new HashSet<string>(StringComparer.Ordinal);
    var written = new List<string>();
    for (var run = 1; run <= 2; run++)
    {
        using var runStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await using var tailer = new Tailer(dataSource, directory, Console.Out, options);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tailer.Transaction += t =>
        {
            lock (seen)
            {
                seen.Add(t.Gtid);
            }
        };
        tailer.Started += _ => started.TrySetResult();
        var tailing = tailer.RunAsync(runStop.Token);

        // Write only once the tailer knows where it starts (a fresh start begins at the server's current position).
        await Task.WhenAny(started.Task, tailing).WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
        if (tailing.IsCompleted)
        {
            await tailing;
        }

        await using (var writer = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            for (var i = 0; i < 40; i++)
            {
                // @@last_gtid is MariaDB's: the demo needs MariaDB (the tailer itself follows MySQL too).
                await using var insert = writer.CreateCommand();
                insert.CommandText = i % 15 == 14 ? "FLUSH BINARY LOGS" : $"INSERT INTO `{table}` (note) VALUES ('row'); SELECT @@last_gtid";
                if (i % 15 != 14)
                {
                    written.Add(Convert.ToString(await insert.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture)!);
                }
                else
                {
                    await insert.ExecuteNonQueryAsync(cancellationToken);
                }
            }
        }

        // Let the tailer catch up, then stop it (run 1) and start a new one that resumes from the checkpoint (run 2).
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!AllSeen() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, cancellationToken);
        }

        await runStop.CancelAsync();
        try
        {
            await tailing;
        }
        catch (OperationCanceledException)
        {
        }

        Console.WriteLine($"run {run}: stopped; {seen.Count} distinct transactions seen so far, {written.Count} written");
    }

    var missing = written.Where(g => !seen.Contains(g)).ToList();
    bool AllSeen()
    {
        lock (seen)
        {
            return written.All(seen.Contains);
        }
    }


    Console.WriteLine(missing.Count == 0
        ? $"every one of the {written.Count} committed transactions was seen, across a restart and binlog rotations"
        : $"MISSING {missing.Count} transactions: {string.Join(", ", missing)}");
    Directory.Delete(directory, recursive: true);
    await using (var drop = dataSource.CreateCommand($"DROP TABLE `{table}`"))
    {
        await drop.ExecuteNonQueryAsync(cancellationToken);
    }

    return missing.Count == 0 ? 0 : 1;
}
