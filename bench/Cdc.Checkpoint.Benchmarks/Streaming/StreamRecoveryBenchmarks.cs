using BenchmarkDotNet.Attributes;
using Cdc.Checkpoint.Streaming;

namespace Cdc.Checkpoint.Benchmarks.Streaming;

/// <summary>
/// Recovery at start: a <see cref="StreamCheckpointManager"/> opened on a data directory that holds
/// <see cref="Checkpoints"/> checkpoints in its manifest store (4 sources with watermarks, 2 sinks, one 256-byte operator
/// state each). <see cref="RecoverAll"/> keeps every checkpoint (the default, <c>MaxRetainedCheckpoints</c> null);
/// <see cref="RecoverNewest10"/> retains 10. Both run the store's newest-valid walk and restore the newest.
/// One operation is one whole recovery.
/// </summary>
/// <remarks>
/// The checkpoints are written once in <c>BENCH_SAVE_DIR</c>,
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
    public async Task SetupAsync()
    {
        _directory = Path.Combine(BenchDirectory.Fast(), "cdc-bench-recovery-" + Guid.NewGuid().ToString("N"));
        var writer = await StreamCheckpointManager.OpenAsync(new StreamCheckpointOptions { DataDirectory = _directory });
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
            await writer.TriggerAsync();
        }

        await writer.DisposeAsync(); // the manager's store holds the directory's lease until it is disposed
        if (await RecoverAsync(null) != Checkpoints)
        {
            throw new InvalidOperationException($"Recovery of '{_directory}' did not find the {Checkpoints} checkpoints written.");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_directory, recursive: true);

    [Benchmark(Baseline = true)]
    public Task<int> RecoverAll() => RecoverAsync(null);

    [Benchmark]
    public Task<int> RecoverNewest10() => RecoverAsync(10);

    private async Task<int> RecoverAsync(int? retain)
    {
        await using var manager = await StreamCheckpointManager.OpenAsync(new StreamCheckpointOptions { DataDirectory = _directory, MaxRetainedCheckpoints = retain });
        return manager.RetainedCheckpointCount;
    }
}
