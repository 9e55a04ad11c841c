using System.Diagnostics;
using System.Globalization;
using Cdc.Checkpoint.Files;

namespace Cdc.Checkpoint.Torture;

/// <summary>
/// What one save costs the process in steady state, in figures a loaded machine does not blur: bytes allocated per
/// save (exact) and CPU time per save (the process's, so background JIT counts too; the long warm-up lets the runtime
/// reach its optimised code first), next to the wall-clock median. Run it on tmpfs to see the library's own cost and
/// under <c>strace -c -f</c> to count syscalls per save.
/// </summary>
public static class CostBench
{
    /// <summary>Times <paramref name="saves"/> saves of a <see cref="FileCheckpoint"/> (<c>file</c>) or a <see cref="CheckpointLog"/> (<c>log</c>).</summary>
    /// <param name="dir">The store's directory (created when missing).</param>
    /// <param name="store"><c>file</c> or <c>log</c>.</param>
    /// <param name="saves">Measured saves, after as many again (at least 20,000) to warm up.</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> RunAsync(string dir, string store, int saves)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(saves, 1);
        ICheckpointStore checkpoint = store switch
        {
            "file" => new FileCheckpoint(dir, TortureOffsets.Options()),
            "log" => new CheckpointLog(dir, new CheckpointLogOptions { Codecs = TortureOffsets.Options().Codecs, CreateDirectory = true }),
            _ => throw new ArgumentException($"Unknown store '{store}': file or log.", nameof(store)),
        };
        using var disposable = (IDisposable)checkpoint;
        ulong count = 0;
        var offsets = new Cdc.Checkpoint.Postgres.PostgresOffset[saves];
        for (var i = 0; i < Math.Max(20_000, saves); i++)
        {
            count++;
            await checkpoint.SaveAsync(TortureOffsets.At(count), count);
        }

        for (var i = 0; i < saves; i++)
        {
            offsets[i] = TortureOffsets.At(count + 1 + (ulong)i); // built before, so the caller's offset is not counted
        }

        var micros = new double[saves];
        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < saves; i++)
        {
            count++;
            var started = Stopwatch.GetTimestamp();
            await checkpoint.SaveAsync(offsets[i], count);
            micros[i] = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        process.Refresh();
        var cpu = process.TotalProcessorTime - cpuBefore;
        Array.Sort(micros);
        ChildModes.Out(string.Create(
            CultureInfo.InvariantCulture,
            $"{store}_cost {saves} allocated_bytes_per_save {(double)allocated / saves:F0} cpu_us_per_save {cpu.TotalMicroseconds / saves:F1} median_us {micros[saves / 2]:F1}"));
        return 0;
    }
}
