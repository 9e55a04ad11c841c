using System.Data.Common;
using System.Globalization;
using BinlogTailer;
using Cdc.Checkpoint;
using Cdc.Checkpoint.TestServers.MariaDb;
using Cdc.Checkpoint.TestServers.MariaDb.Ado;

// Exit codes: 0 stopped (Ctrl+C, SIGTERM, or the demo finished), 1 error, 2 usage, 3 resume refused by validation.
string? connectionString = Environment.GetEnvironmentVariable("BINLOG_TAILER_CONNECTION_STRING");
string checkpointDirectory = Path.Combine(Environment.CurrentDirectory, "binlog-tailer-checkpoint");
var pollInterval = TimeSpan.FromMilliseconds(100);
var acceptPurged = false;
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
    if (connectionString is null)
    {
        return await DemoAsync(options, stop.Token);
    }

    // Production code passes MySqlConnector's MySqlDataSource here; this example uses the repository's test-only provider.
    await using var dataSource = new MariaDbTestDataSource(connectionString);
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
catch (Exception ex) when (ex is CheckpointException or DbException or InvalidOperationException or IOException)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    return 1;
}

static int Usage(int code)
{
    var writer = code == 0 ? Console.Out : Console.Error;
    writer.WriteLine("usage: dotnet run --project examples/BinlogTailer                      # demo on a throwaway MariaDB");
    writer.WriteLine("       dotnet run --project examples/BinlogTailer -- --connection-string 'Server=127.0.0.1;Port=3306;User=cdc;Password=...;Database=test'");
    writer.WriteLine("            [--checkpoint-dir DIR] [--poll-ms N] [--accept-purged]");
    writer.WriteLine("       (or set BINLOG_TAILER_CONNECTION_STRING)");
    return code;
}

// The demo: a throwaway MariaDB, a writer that inserts rows and rotates the binlog, and a tailer that is stopped and
// started again halfway (resuming from its FileCheckpoint) and must see every transaction.
static async Task<int> DemoAsync(TailerOptions options, CancellationToken cancellationToken)
{
    Console.WriteLine("No connection string: starting a throwaway MariaDB server (mariadbd from the mariadb-server package) ...");
    await using var server = await MariaDbTestServer.StartNewAsync(
        new MariaDbTestServerOptions { ServerId = 42, ExtraSettings = ["max_binlog_size=4096"] }, cancellationToken);
    Console.WriteLine($"  {server}");
    var directory = Path.Combine(Path.GetTempPath(), "binlog-tailer-demo-" + Guid.NewGuid().ToString("N")[..8]);
    Console.WriteLine($"  checkpoint directory: {directory}");
    await using var dataSource = server.CreateDataSource();
    await using (var setup = await dataSource.OpenConnectionAsync(cancellationToken))
    await using (var create = setup.CreateCommand())
    {
        create.CommandText = "CREATE TABLE demo (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(100)) ENGINE=InnoDB";
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
                await using var insert = writer.CreateCommand();
                insert.CommandText = i % 15 == 14 ? "FLUSH BINARY LOGS" : "INSERT INTO demo (note) VALUES ('row'); SELECT @@last_gtid";
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
    return missing.Count == 0 ? 0 : 1;
}
