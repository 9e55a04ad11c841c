using BenchmarkDotNet.Attributes;
using Cdc.Checkpoint.Streaming;

namespace Cdc.Checkpoint.Benchmarks.Streaming;

/// <summary>
/// Snapshot encode and decode for a pipeline of <see cref="Sources"/> sources (each with a watermark), 4 sinks and
/// 2 operators of 256 bytes of state. Baseline: encoding into a new array.
/// </summary>
[MemoryDiagnoser]
public class SnapshotCodecBenchmarks
{
    private StreamCheckpoint _checkpoint = null!;
    private byte[] _encoded = [];
    private byte[] _buffer = [];

    [Params(4, 64)]
    public int Sources { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var sources = Enumerable.Range(0, Sources).Select(i => new KeyValuePair<string, ulong>($"postgres.public.table_{i}", (ulong)i * 1_000_003)).ToArray();
        var watermarks = Enumerable.Range(0, Sources).Select(i => new KeyValuePair<string, long>($"postgres.public.table_{i}", 1_706_400_000_000 + i)).ToArray();
        var sinks = Enumerable.Range(0, 4).Select(i => new KeyValuePair<string, ulong>($"sink_{i}", (ulong)i)).ToArray();
        var states = Enumerable.Range(0, 2).Select(i => new KeyValuePair<string, byte[]>($"operator_{i}", new byte[256])).ToArray();
        _checkpoint = new StreamCheckpoint(42, 42, 1_706_400_000_000, sources, sinks, watermarks, states);
        _encoded = StreamSnapshotCodec.Encode(_checkpoint);
        _buffer = new byte[_encoded.Length];
        Console.WriteLine($"// snapshot of {Sources} sources: {_encoded.Length} bytes encoded");
    }

    [Benchmark(Baseline = true)]
    public byte[] EncodeToNewArray() => StreamSnapshotCodec.Encode(_checkpoint);

    [Benchmark]
    public int EncodeIntoBuffer() => StreamSnapshotCodec.Encode(_checkpoint, _buffer);

    [Benchmark]
    public StreamCheckpoint Decode() => StreamSnapshotCodec.Decode(_encoded);
}
