using BenchmarkDotNet.Attributes;
using Cdc.Checkpoint.Streaming;

namespace Cdc.Checkpoint.Benchmarks.Streaming;

/// <summary>
/// Cost of one hot-path update of a source handle. Baseline: a plain, unsynchronized field increment (the physical
/// limit, not safe to read from another thread). Each benchmark runs 1,000 updates; results are per update.
/// </summary>
[MemoryDiagnoser]
public class SourceSequenceBenchmarks
{
    private const int Operations = 1000;
    private StreamSourceHandle _handle = null!;
    private ulong _plain;

    [GlobalSetup]
    public void Setup() => _handle = new StreamCheckpointManager(new StreamCheckpointOptions()).RegisterSource("bench");

    [Benchmark(Baseline = true, OperationsPerInvoke = Operations)]
    public ulong PlainFieldIncrement()
    {
        for (var i = 0; i < Operations; i++)
        {
            _plain++;
        }

        return _plain;
    }

    [Benchmark(OperationsPerInvoke = Operations)]
    public ulong IncrementSequence()
    {
        ulong last = 0;
        for (var i = 0; i < Operations; i++)
        {
            last = _handle.IncrementSequence();
        }

        return last;
    }

    [Benchmark(OperationsPerInvoke = Operations)]
    public ulong PublishSequence()
    {
        var next = _handle.Sequence;
        for (var i = 0; i < Operations; i++)
        {
            _handle.PublishSequence(++next);
        }

        return next;
    }

    [Benchmark(OperationsPerInvoke = Operations)]
    public bool AdvanceWatermark()
    {
        var moved = false;
        var start = _handle.Watermark == long.MinValue ? 0 : _handle.Watermark;
        for (var i = 1; i <= Operations; i++)
        {
            moved = _handle.AdvanceWatermark(start + i);
        }

        return moved;
    }
}
