using BenchmarkDotNet.Attributes;
using Cdc.Checkpoint.Streaming;

namespace Cdc.Checkpoint.Benchmarks.Streaming;

/// <summary>
/// Recovery at start: a <see cref="StreamCheckpointManager"/> opened on a data directory that holds
/// <see cref="Checkpoints"/> snapshot files (4 sources with watermarks, 2 sinks, one 256-byte operator state each).
/// <see cref="RecoverAll"/> keeps every checkpoint (the default, <c>MaxRetainedCheckpoints</c> null), so it lists,
/// reads, checks and decodes every file; <see cref="RecoverNewest10"/> retains 10, so it lists every file and reads 10.
/// One operation is one whole recovery.
/// </summary>
/// <remarks>
/// The files are written once (<see cref="StreamWalMode.Async"/>, to keep the setup short) in <c>BENCH_SAVE_DIR</c>,
/// else <c>/dev/shm</c>, else the temp directory, and stay in the page cache: the figure is the library's recovery
/// work, not a cold disk's reads. Run:
/// <c>dotnet run -c Release --project bench/Cdc.Checkpoint.Benchmarks -- --filter '*StreamRecovery*'</c>
/// </remarks>
[MemoryDiagnoser]
public class StreamRecoveryBenchmarks
{
    private string _directory = string.Empty;

    [Params(10_000)]
    public int Checkpoints { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(BenchDirectory.Fast(), "cdc-bench-recovery-" + Guid.NewGuid().ToString("N"));
        var writer = new StreamCheckpointManager(new StreamCheckpointOptions { DataDirectory = _directory, WalMode = StreamWalMode.Async });
        var sources = Enumerable.Range(0, 4).Select(i => writer.RegisterSource($"postgres.public.table_{i}")).ToArray();
        for (var i = 0; i < 2; i++)
        {
            writer.RegisterSink($"sink_{i}", 0);
        }

        var state = new byte[256];
        for (var n = 0; n < Checkpoints; n++)
        {
            foreach (var source in sources)
            {
                source.IncrementSequence();
                source.AdvanceWatermark(1_706_400_000_000 + n);
            }

            state[n % state.Length]++;
            writer.SetOperatorState("operator_0", state);
            writer.Trigger();
        }

        ((object)writer as IDisposable)?.Dispose(); // a manager that holds its directory (a lease) lets go of it
        if (Recover(null) != Checkpoints)
        {
            throw new InvalidOperationException($"Recovery of '{_directory}' did not find the {Checkpoints} checkpoints written.");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_directory, recursive: true);

    [Benchmark(Baseline = true)]
    public int RecoverAll() => Recover(null);

    [Benchmark]
    public int RecoverNewest10() => Recover(10);

    private int Recover(int? retain)
    {
        var manager = new StreamCheckpointManager(new StreamCheckpointOptions { DataDirectory = _directory, MaxRetainedCheckpoints = retain });
        var count = manager.RetainedCheckpointCount;
        ((object)manager as IDisposable)?.Dispose();
        return count;
    }
}
