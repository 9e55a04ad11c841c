using System.Diagnostics;
using System.Globalization;
using Cdc.Checkpoint;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Postgres;
using Quickstart;

// The quickstart runs itself twice as a child process: the first consumer is killed with SIGKILL in the middle of the
// stream, the second resumes from the FileCheckpoint. The parent then checks the sink: every event delivered at least
// once (none lost), and it counts the redeliveries (the at-least-once window between the last checkpoint and the crash).
const int Transactions = 400;
const int CheckpointEvery = 5; // transactions per checkpoint (commit boundaries only)

try
{
    return args switch
    {
        ["--consumer", var dir] => await RunConsumerAsync(dir),
        ["--postgres", var connectionString] => await PostgresDemo.RunAsync(connectionString),
        ["--postgres-consumer", var connectionString, var dir, var name, var expected] =>
            await PostgresDemo.ConsumeAsync(connectionString, dir, name, int.Parse(expected, CultureInfo.InvariantCulture)),
        [] => await RunDemoAsync(),
        ["--help" or "-h"] => Usage(0),
        _ => Usage(2),
    };
}
catch (CheckpointException ex)
{
    Console.Error.WriteLine($"error ({ex.ErrorCode}): {ex.Message}");
    return 1;
}

static int Usage(int code)
{
    var writer = code == 0 ? Console.Out : Console.Error;
    writer.WriteLine("usage: dotnet run --project examples/Quickstart            # crash-and-resume demo, no server needed");
    writer.WriteLine("       dotnet run --project examples/Quickstart -- --postgres \"Host=…;Database=…;Username=…\"");
    writer.WriteLine("                                                           # the same against a real server (wal_level=logical,");
    writer.WriteLine("                                                           # a role with REPLICATION; creates and drops quickstart_<random>)");
    writer.WriteLine("       dotnet run --project examples/Quickstart -- --help");
    return code;
}

static async Task<int> RunDemoAsync()
{
    var stream = SimulatedStream.Build(Transactions);
    var totalEvents = stream.Sum(t => t.Events.Count);
    var dir = Path.Combine(Path.GetTempPath(), "cdc-quickstart-" + Guid.NewGuid().ToString("N")[..8]);
    Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

    Console.WriteLine("Cdc.Checkpoint quickstart: a logical-replication consumer that crashes and resumes");
    Console.WriteLine($"  checkpoint directory : {dir}");
    Console.WriteLine($"  simulated stream     : {Transactions} transactions, {totalEvents} events, commit LSN {stream[0].CommitLsn} .. {stream[^1].CommitLsn}, slot {SimulatedStream.SlotName}");
    Console.WriteLine($"  checkpoint           : FileCheckpoint, every {CheckpointEvery} transactions at a commit boundary");
    Console.WriteLine();

    // Run 1: kill it with SIGKILL after a random number of checkpoints, mid-stream.
    var killAfter = Random.Shared.Next(8, Transactions / CheckpointEvery - 20);
    using (var first = StartConsumer(dir))
    {
        Console.WriteLine($"run 1: consumer pid {first.Id} streaming; it will be killed with SIGKILL after {killAfter} checkpoints");
        var saved = 0;
        string? lastLine = null;
        while (await first.StandardOutput.ReadLineAsync() is { } line)
        {
            lastLine = line;
            if (line.StartsWith("checkpoint ", StringComparison.Ordinal) && ++saved == killAfter)
            {
                first.Kill(); // SIGKILL on Linux: no cleanup, no flush, no lease release by the process itself
                break;
            }
        }

        await first.WaitForExitAsync();
        Console.WriteLine($"run 1: killed (exit code {first.ExitCode}); last report before the kill: \"{lastLine}\"");
    }

    // Run 2: a new process resumes from the checkpoint and finishes the stream.
    using (var second = StartConsumer(dir))
    {
        while (await second.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("resume ", StringComparison.Ordinal) || line.StartsWith("done ", StringComparison.Ordinal))
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

    // Verify the sink against the stream.
    var delivered = File.ReadAllLines(Path.Combine(dir, "sink.log"));
    var counts = delivered.GroupBy(e => e, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
    var expected = stream.SelectMany(t => t.Events).ToList();
    var lost = expected.Count(e => !counts.ContainsKey(e));
    var redelivered = counts.Values.Sum(c => c - 1);
    var unexpected = counts.Keys.Count(k => !expected.Contains(k));

    await using var checkpoint = new FileCheckpoint(dir);
    var final = await checkpoint.LoadOffsetAsync<PostgresOffset>();
    Console.WriteLine();
    Console.WriteLine($"result: {expected.Count} events in the stream, {delivered.Length} deliveries to the sink");
    Console.WriteLine($"        redelivered after the crash (at-least-once window): {redelivered}");
    Console.WriteLine($"        lost: {lost}");
    Console.WriteLine($"        final checkpoint: {final} ({await checkpoint.GetCommittedCountAsync()} committed events)");
    Console.WriteLine($"        files: {string.Join(", ", Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal))}");
    if (lost != 0 || unexpected != 0)
    {
        Console.Error.WriteLine($"FAILED: {lost} events lost, {unexpected} unexpected events");
        return 1;
    }

    Console.WriteLine("ok: no event lost; the consumer resumed exactly at its last durable checkpoint.");
    Directory.Delete(dir, recursive: true);
    return 0;
}

static Process StartConsumer(string dir)
{
    var info = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
    var self = Environment.ProcessPath!;
    info.FileName = self;
    if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
    {
        info.ArgumentList.Add(typeof(SimulatedStream).Assembly.Location); // started as `dotnet Quickstart.dll`
    }

    info.ArgumentList.Add("--consumer");
    info.ArgumentList.Add(dir);
    return Process.Start(info) ?? throw new InvalidOperationException("could not start the consumer process");
}

// The consumer: resume from the checkpoint, apply each transaction's events to the sink, checkpoint at commit
// boundaries. It never learns whether it will be killed.
static async Task<int> RunConsumerAsync(string dir)
{
    var stream = SimulatedStream.Build(Transactions);
    await using var checkpoint = new FileCheckpoint(dir);
    var resumeFrom = await checkpoint.LoadOffsetAsync<PostgresOffset>();
    var committed = await checkpoint.GetCommittedCountAsync();
    Console.WriteLine(resumeFrom is null
        ? "resume none: no checkpoint yet, starting at the beginning of the slot"
        : $"resume from {resumeFrom.Lsn} (slot {resumeFrom.SlotName}, {committed} events committed before the crash)");

    await using var sink = new StreamWriter(new FileStream(Path.Combine(dir, "sink.log"), FileMode.Append, FileAccess.Write, FileShare.Read));
    var sinceCheckpoint = 0;
    foreach (var tx in stream)
    {
        // Like START_REPLICATION from the checkpointed LSN: transactions committed at or before it were processed.
        if (resumeFrom is not null && tx.CommitLsn <= resumeFrom.Lsn)
        {
            continue;
        }

        foreach (var change in tx.Events)
        {
            await sink.WriteLineAsync(change);
        }

        await sink.FlushAsync();
        committed += (ulong)tx.Events.Count;
        if (++sinceCheckpoint == CheckpointEvery || tx.Id == stream.Count)
        {
            var offset = new PostgresOffset(tx.CommitLsn, SimulatedStream.SlotName, SimulatedStream.SystemIdentifier, timeline: 1);
            await checkpoint.SaveAsync(offset, committed);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"checkpoint {offset.Lsn} count {committed}"));
            sinceCheckpoint = 0;
        }

        Thread.Sleep(1); // a real consumer waits on the network here
    }

    Console.WriteLine($"done at {stream[^1].CommitLsn} with {committed} events committed");
    return 0;
}
