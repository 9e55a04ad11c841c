using BenchmarkDotNet.Attributes;
using Cdc.Checkpoint.Streaming;

namespace Cdc.Checkpoint.Benchmarks.Streaming;

/// <summary>
/// Cost of one changelog push (and pop). Baseline: storing the entry into a plain array slot with the same index
/// wrap. Each benchmark runs 1,000 operations (1,024 entries for the range push, in ranges of
/// <see cref="RangeLength"/>); results are per entry.
/// </summary>
[MemoryDiagnoser]
public class ChangelogBenchmarks
{
    private const int Operations = 1000;
    private const int Capacity = 4096;
    private const int RangeLength = 16;
    private const int RangeEntries = 1024;
    private readonly StreamChangelogEntry _entry = new(3, StreamChangeOp.Insert, 42, 1_706_400_000_000);
    private StreamChangelogEntry[] _array = [];
    private StreamChangelogBuffer _dropNew = null!;
    private StreamChangelogBuffer _overwrite = null!;
    private StreamChangelogEntry[] _range = [];
    private int _index;

    [GlobalSetup]
    public void Setup()
    {
        _array = new StreamChangelogEntry[Capacity];
        _dropNew = new StreamChangelogBuffer(Capacity, ChangelogOverflowPolicy.DropNew);
        _overwrite = new StreamChangelogBuffer(Capacity, ChangelogOverflowPolicy.OverwriteOldest);
        _range = Enumerable.Repeat(_entry, RangeLength).ToArray();
        for (var i = 0; i < Capacity; i++)
        {
            _overwrite.TryPush(_entry);
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Operations)]
    public int ArrayStore()
    {
        for (var i = 0; i < Operations; i++)
        {
            _array[_index] = _entry;
            if (++_index == Capacity)
            {
                _index = 0;
            }
        }

        return _index;
    }

    [Benchmark(OperationsPerInvoke = Operations)]
    public int PushThenPop()
    {
        for (var i = 0; i < Operations; i++)
        {
            _dropNew.TryPush(_entry);
            _dropNew.TryPop(out _);
        }

        return _dropNew.Count;
    }

    [Benchmark(OperationsPerInvoke = Operations)]
    public int PushOverwritingOldest()
    {
        for (var i = 0; i < Operations; i++)
        {
            _overwrite.TryPush(_entry);
        }

        return _overwrite.Count;
    }

    [Benchmark(OperationsPerInvoke = RangeEntries)]
    public int PushRangeOverwritingOldest()
    {
        for (var i = 0; i < RangeEntries / RangeLength; i++)
        {
            _overwrite.TryPushRange(_range, out _);
        }

        return _overwrite.Count;
    }
}
