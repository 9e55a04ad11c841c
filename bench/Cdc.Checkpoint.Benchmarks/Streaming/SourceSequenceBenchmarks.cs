using BenchmarkDotNet.Attributes;
using Cdc.Checkpoint.Streaming;

namespace Cdc.Checkpoint.Benchmarks.Streaming;

/// <summary>
/// Cost of one hot-path update of a source handle. Baseline: a plain, unsynchronized field increment (the physical
/// limit, not safe to read from another thread). The one-thread cases run 1,000 updates per invocation; the
/// two-thread cases run <see cref="PerThread"/> updates on each of two threads (started together, their start-up
/// amortised over 2 × <see cref="PerThread"/> updates). Results are per update.
/// </summary>
/// <remarks>
/// On a machine with two vCPUs shared with other work the two threads are not always on a CPU at the same moment, so
/// the contended figure is a lower bound of what two busy cores would see.
/// </remarks>
[MemoryDiagnoser]
public class SourceSequenceBenchmarks
{
    private const int Operations = 1000;
    private const int PerThread = 1_000_000;
    private StreamSourceHandle _handle = null!;
    private StreamSourceHandle _other = null!;
    private ulong _plain;

    [GlobalSetup]
    public void Setup()
    {
        var manager = new StreamCheckpointManager(new StreamCheckpointOptions());
        _handle = manager.RegisterSource("bench");
        _other = manager.RegisterSource("bench-other");
    }

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
    public ulong IncrementSequenceSingleWriter()
    {
        ulong last = 0;
        for (var i = 0; i < Operations; i++)
        {
            last = _handle.IncrementSequenceSingleWriter();
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
    public ulong IncrementSequence()
    {
        ulong last = 0;
        for (var i = 0; i < Operations; i++)
        {
            last = _handle.IncrementSequence();
        }

        return last;
    }

    /// <summary>The atomic form, two threads updating the same handle (contended cache line).</summary>
    [Benchmark(OperationsPerInvoke = 2 * PerThread)]
    public ulong IncrementSequenceTwoThreadsOneHandle()
    {
        Parallel.Invoke(() => Increment(_handle), () => Increment(_handle));
        return _handle.Sequence;
    }

    /// <summary>The atomic form, two threads each updating its own handle (padded: no false sharing).</summary>
    [Benchmark(OperationsPerInvoke = 2 * PerThread)]
    public ulong IncrementSequenceTwoThreadsTwoHandles()
    {
        Parallel.Invoke(() => Increment(_handle), () => Increment(_other));
        return _handle.Sequence + _other.Sequence;
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

    private static void Increment(StreamSourceHandle handle)
    {
        for (var i = 0; i < PerThread; i++)
        {
            handle.IncrementSequence();
        }
    }
}
