using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using Cdc.Checkpoint.Cursors;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Postgres;

namespace Cdc.Checkpoint.Torture;

/// <summary>The modes a parent starts as a child process; each prints its facts as single stdout lines.</summary>
public static class ChildModes
{
    private static readonly Lock OutGate = new();

    /// <summary>Writes one line to stdout and flushes it, so the line is in the pipe before the next step can be killed.</summary>
    /// <param name="line">The line.</param>
    public static void Out(string line)
    {
        lock (OutGate)
        {
            Console.Out.WriteLine(line);
            Console.Out.Flush();
        }
    }

    /// <summary>The crash-torture writer.</summary>
    /// <param name="dir">The checkpoint directory.</param>
    /// <param name="max">How many saves at most.</param>
    /// <param name="log">Write a <see cref="CheckpointLog"/> instead of a <see cref="FileCheckpoint"/>.</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> WriterAsync(string dir, ulong max, bool log = false)
    {
        ExitWhenStdinCloses();
        using var checkpoint = TortureStore.Open(dir, log);
        var lease = await checkpoint.AcquireLeaseAsync();
        Out(string.Create(CultureInfo.InvariantCulture, $"lease {lease.Epoch}"));
        var count = (await checkpoint.LoadLatestAsync())?.CommittedEventCount ?? 0;
        Out(string.Create(CultureInfo.InvariantCulture, $"start {count}"));
        for (ulong i = 1; i <= max; i++)
        {
            var next = count + i;
            Out(string.Create(CultureInfo.InvariantCulture, $"attempt {next}"));
            await checkpoint.Store.SaveAsync(TortureOffsets.At(next), next);
            Out(string.Create(CultureInfo.InvariantCulture, $"ack {next}"));
        }

        return 0;
    }

    /// <summary>One save, for fault injection.</summary>
    /// <param name="dir">The checkpoint directory.</param>
    /// <param name="count">The count to save (with its offset).</param>
    /// <param name="log">Write a <see cref="CheckpointLog"/> instead of a <see cref="FileCheckpoint"/>.</param>
    /// <returns>0 when saved; 1 (after printing <c>error CODE</c>) when the save failed.</returns>
    public static async Task<int> SaveOnceAsync(string dir, ulong count, bool log = false)
    {
        using var checkpoint = TortureStore.Open(dir, log);
        await checkpoint.Store.SaveAsync(TortureOffsets.At(count), count);
        Out(string.Create(CultureInfo.InvariantCulture, $"ok {count}"));
        return 0;
    }

    /// <summary>One audited rewind, for fault injection.</summary>
    /// <param name="dir">The checkpoint directory.</param>
    /// <param name="count">The count to rewind to (with its offset).</param>
    /// <returns>0 when rewound; 1 (after printing <c>error CODE</c>) when it failed.</returns>
    public static async Task<int> RewindOnceAsync(string dir, ulong count)
    {
        using var checkpoint = new FileCheckpoint(dir, TortureOffsets.Options());
        await checkpoint.RewindAsync(TortureOffsets.At(count), count, "fault injection");
        Out(string.Create(CultureInfo.InvariantCulture, $"ok {count}"));
        return 0;
    }

    /// <summary>Takes the lease and loads the latest record.</summary>
    /// <param name="dir">The checkpoint directory.</param>
    /// <param name="log">Read a <see cref="CheckpointLog"/> instead of a <see cref="FileCheckpoint"/>.</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> ShowAsync(string dir, bool log = false)
    {
        using var checkpoint = TortureStore.Open(dir, log);
        var lease = await checkpoint.AcquireLeaseAsync();
        Out(string.Create(CultureInfo.InvariantCulture, $"lease {lease.Epoch}"));
        var record = await checkpoint.LoadLatestAsync();
        if (record is null)
        {
            Out("none");
            return 0;
        }

        var lsn = record.Offset is PostgresOffset pg ? PostgresOffset.FormatLsn(pg.Lsn) : record.Offset.ToString();
        Out(string.Create(CultureInfo.InvariantCulture, $"record {record.CommittedEventCount} {lsn} v{record.FormatVersion}"));
        return 0;
    }

    /// <summary>
    /// A long-lived owner driven by stdin: takes the lease, then for <c>save N</c> prints <c>ok N</c> and for <c>load</c>
    /// prints <c>record N</c> or <c>none</c>; a refusal prints <c>error CODE</c> and the owner stays alive for more commands.
    /// </summary>
    /// <param name="dir">The checkpoint directory.</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> OwnerAsync(string dir)
    {
        using var checkpoint = new FileCheckpoint(dir, TortureOffsets.Options());
        var lease = await checkpoint.AcquireLeaseAsync();
        Out(string.Create(CultureInfo.InvariantCulture, $"lease {lease.Epoch}"));
        while (Console.In.ReadLine() is { } command)
        {
            try
            {
                if (command.StartsWith("save ", StringComparison.Ordinal))
                {
                    var count = ulong.Parse(command["save ".Length..], CultureInfo.InvariantCulture);
                    await checkpoint.SaveAsync(TortureOffsets.At(count), count);
                    Out(string.Create(CultureInfo.InvariantCulture, $"ok {count}"));
                }
                else if (command == "load")
                {
                    var record = await checkpoint.LoadLatestAsync();
                    Out(record is null ? "none" : string.Create(CultureInfo.InvariantCulture, $"record {record.CommittedEventCount}"));
                }
                else
                {
                    Out($"error unknown-command {command}");
                }
            }
            catch (CheckpointException ex)
            {
                Console.Error.WriteLine(ex.Message);
                Out($"error {ex.ErrorCode}");
            }
        }

        return 0;
    }

    /// <summary>A lease contender driven by stdin commands.</summary>
    /// <param name="dir">The checkpoint directory.</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> LeaseRaceAsync(string dir)
    {
        // Load and JIT the lease path before the first race so both contenders start from the same point.
        _ = FileCheckpoint.GetLeaseStatus(Path.GetDirectoryName(Path.GetFullPath(dir))!);
        FileCheckpoint? held = null;
        Out("ready");
        while (Console.In.ReadLine() is { } command)
        {
            switch (command)
            {
                case "try" when held is not null:
                    Out("error already-owner");
                    break;
                case "try":
                    var candidate = new FileCheckpoint(dir, TortureOffsets.Options());
                    try
                    {
                        var lease = await candidate.AcquireLeaseAsync();
                        held = candidate;
                        Out(string.Create(CultureInfo.InvariantCulture, $"owner {lease.Epoch}"));
                    }
                    catch (CheckpointException ex)
                    {
                        candidate.Dispose();
                        Out($"refused {ex.ErrorCode}");
                    }

                    break;
                case "release":
                    held?.Dispose();
                    held = null;
                    Out("released");
                    break;
                case "exit":
                    held?.Dispose();
                    return 0;
                default:
                    Out($"error unknown-command {command}");
                    break;
            }
        }

        held?.Dispose();
        return 0;
    }

    /// <summary>
    /// Creates every kind of file and directory the library writes, under <paramref name="dir"/>: a file checkpoint
    /// directory with a record, lease and audit log, a cursor directory with a cursor file, and a manifest store.
    /// Run it under a permissive umask to show that the modes do not depend on the umask.
    /// </summary>
    /// <param name="dir">An existing, empty directory.</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> PermsAsync(string dir)
    {
        using (var checkpoint = new FileCheckpoint(Path.Combine(dir, "checkpoint"), TortureOffsets.Options()))
        {
            await checkpoint.SaveAsync(TortureOffsets.At(1), 1);
            await checkpoint.SaveAsync(TortureOffsets.At(2), 2);
            await checkpoint.RewindAsync(TortureOffsets.At(1), 1, "perms check: audit log mode");
        }

        var data = Path.Combine(dir, "data");
        Directory.CreateDirectory(data, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var cursors = new CursorCheckpointStore(data);
        await cursors.SaveAsync("orders", CursorCheckpoint.At(5, "consumer-a"));

        var manifests = new FileManifestStore(Path.Combine(dir, "manifests"));
        await manifests.SaveAsync(new CheckpointManifest
        {
            CheckpointId = 1,
            Epoch = 1,
            CreatedAt = DateTimeOffset.UtcNow,
            SourceOffsets = System.Collections.Immutable.ImmutableSortedDictionary.CreateRange(
                StringComparer.Ordinal,
                [new KeyValuePair<string, SourcePosition>("pg", new SourcePosition(TortureOffsets.At(1), 1))]),
        });
        Out("done");
        return 0;
    }

    /// <summary>Times <paramref name="saves"/> FileCheckpoint saves after a warm-up.</summary>
    /// <param name="dir">The checkpoint directory (created when missing).</param>
    /// <param name="saves">How many timed saves.</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> BenchSavesAsync(string dir, int saves)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(saves, 1);
        using var checkpoint = new FileCheckpoint(dir, TortureOffsets.Options());
        var count = await checkpoint.GetCommittedCountAsync();
        var warmup = Math.Max(20, saves / 10);
        for (var i = 0; i < warmup; i++)
        {
            count++;
            await checkpoint.SaveAsync(TortureOffsets.At(count), count);
        }

        var micros = new double[saves];
        for (var i = 0; i < saves; i++)
        {
            count++;
            var offset = TortureOffsets.At(count);
            var started = Stopwatch.GetTimestamp();
            await checkpoint.SaveAsync(offset, count);
            micros[i] = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
        }

        Array.Sort(micros);
        var recordBytes = new FileInfo(Path.Combine(checkpoint.DirectoryPath, TortureOffsets.RecordFileName)).Length;
        Out(string.Create(
            CultureInfo.InvariantCulture,
            $"saves {saves} record_bytes {recordBytes} median_us {Percentile(micros, 0.5):F1} p90_us {Percentile(micros, 0.9):F1} mean_us {micros.Average():F1}"));
        return 0;
    }

    /// <summary>
    /// Saves at least <paramref name="saves"/> times, for at least one second, and then until the runtime has compiled
    /// nothing for half a second (at most 30 seconds), so that what is timed next is the runtime's final optimised code,
    /// as in a consumer that has run for a while.
    /// </summary>
    /// <remarks>
    /// Tiered compilation promotes a method only after 30 calls and a quiet 100 ms, twice with dynamic PGO (instrumented,
    /// then optimised with the profile), and methods called from the promoted ones go through the same steps later. In a
    /// tight loop of log saves on tmpfs the runtime went on compiling for ≈ 1.3 s (`JitInfo.GetCompiledMethodCount`),
    /// and the save's median fell from 16–18 µs to 11.5 µs only then (2026-12-04). A fixed one-second warm-up thus left
    /// the timed disk saves running partly instrumented code: `bench-log-paired` log save medians 112.8–115.4 µs by
    /// default against 105.7–107.0 µs with `DOTNET_TieredPGO=0`, three alternating pairs (docs/BENCHMARKS.md).
    /// </remarks>
    /// <param name="store">The store to save to.</param>
    /// <param name="count">The last event count saved.</param>
    /// <param name="saves">The least number of saves.</param>
    /// <returns>The last event count saved.</returns>
    internal static async Task<ulong> WarmUpAsync(ICheckpointStore store, ulong count, int saves)
    {
        var started = Stopwatch.GetTimestamp();
        var compiled = JitInfo.GetCompiledMethodCount();
        var quietSince = started;
        for (var i = 1; ; i++)
        {
            count++;
            await store.SaveAsync(TortureOffsets.At(count), count);

            var now = JitInfo.GetCompiledMethodCount();
            if (now != compiled)
            {
                compiled = now;
                quietSince = Stopwatch.GetTimestamp();
            }

            var elapsed = Stopwatch.GetElapsedTime(started);
            if ((i >= saves && elapsed >= TimeSpan.FromSeconds(1) && Stopwatch.GetElapsedTime(quietSince) >= TimeSpan.FromMilliseconds(500))
                || elapsed >= TimeSpan.FromSeconds(30))
            {
                return count;
            }
        }
    }

    /// <summary>
    /// Times FileCheckpoint saves and the C durable-replace limit in interleaved blocks of ten operations (the limit
    /// program serving blocks over stdin), so that the two see the same disk at the same time.
    /// </summary>
    /// <param name="dir">A directory on the disk to measure; <c>save/</c> and <c>limit/</c> are created in it.</param>
    /// <param name="operations">Timed operations of each kind.</param>
    /// <param name="limitProgram">The compiled bench/limit/durable_replace.c.</param>
    /// <param name="control">
    /// A/A control: the "saves" side is a second instance of the limit program (in its own directory), which shows how
    /// far two identical programs drift apart on this disk; its lines are <c>limit</c> and <c>control</c>.
    /// </param>
    /// <returns>The exit code.</returns>
    public static async Task<int> BenchPairedAsync(string dir, int operations, string limitProgram, bool control = false)
    {
        const int Block = 10;
        ArgumentOutOfRangeException.ThrowIfLessThan(operations, 1);
        Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var limitDir = Path.Combine(dir, "limit");
        using var checkpoint = new FileCheckpoint(Path.Combine(dir, "save"), TortureOffsets.Options());
        var warmup = Math.Max(20, operations / 10);
        var count = await WarmUpAsync(checkpoint, await checkpoint.GetCommittedCountAsync(), warmup);

        var recordBytes = new FileInfo(Path.Combine(checkpoint.DirectoryPath, TortureOffsets.RecordFileName)).Length;
        using var limit = StartLimit(limitProgram, limitDir, recordBytes);
        _ = await LimitBlockAsync(limit, warmup);
        using var second = control ? StartLimit(limitProgram, Path.Combine(dir, "control"), recordBytes) : null;
        if (second is not null)
        {
            _ = await LimitBlockAsync(second, warmup);
        }

        var saves = new List<double>(operations);
        var limits = new List<double>(operations);
        for (var block = 0; saves.Count < operations; block++)
        {
            var n = Math.Min(Block, operations - saves.Count);
            if (block % 2 == 1)
            {
                limits.AddRange(await LimitBlockAsync(limit, n));
            }

            if (second is not null)
            {
                saves.AddRange(await LimitBlockAsync(second, n));
            }
            else
            {
                for (var i = 0; i < n; i++)
                {
                    count++;
                    var offset = TortureOffsets.At(count);
                    var started = Stopwatch.GetTimestamp();
                    await checkpoint.SaveAsync(offset, count);
                    saves.Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds);
                }
            }

            if (block % 2 == 0)
            {
                limits.AddRange(await LimitBlockAsync(limit, n));
            }
        }

        foreach (var program in second is null ? [limit] : new[] { limit, second })
        {
            program.StandardInput.Close();
            await program.WaitForExitAsync();
        }

        Out(Summary("limit", [.. limits], recordBytes));
        Out(Summary(control ? "control" : "saves", [.. saves], recordBytes));
        return 0;
    }

    internal static Process StartLimit(string limitProgram, string directory, long recordBytes)
    {
        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var info = new ProcessStartInfo(limitProgram) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in new[] { directory, "0", recordBytes.ToString(CultureInfo.InvariantCulture), "--stdin" })
        {
            info.ArgumentList.Add(argument);
        }

        return Process.Start(info) ?? throw new InvalidOperationException($"Could not start {limitProgram}.");
    }

    internal static async Task<double[]> LimitBlockAsync(Process limit, int operations)
    {
        await limit.StandardInput.WriteLineAsync(operations.ToString(CultureInfo.InvariantCulture));
        await limit.StandardInput.FlushAsync();
        var line = await limit.StandardOutput.ReadLineAsync() ?? throw new InvalidOperationException("The limit program ended early.");
        return [.. line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(v => double.Parse(v, CultureInfo.InvariantCulture))];
    }

    internal static string Summary(string word, double[] micros, long recordBytes)
    {
        Array.Sort(micros);
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{word} {micros.Length} record_bytes {recordBytes} median_us {Percentile(micros, 0.5):F1} p90_us {Percentile(micros, 0.9):F1} mean_us {micros.Average():F1}");
    }

    internal static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];

    private static void ExitWhenStdinCloses()
    {
        var watchdog = new Thread(() =>
        {
            while (Console.In.ReadLine() is not null)
            {
            }

            Environment.Exit(3);
        })
        {
            IsBackground = true,
            Name = "stdin watchdog",
        };
        watchdog.Start();
    }
}
