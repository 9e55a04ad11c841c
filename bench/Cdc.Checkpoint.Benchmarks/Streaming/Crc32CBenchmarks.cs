using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Cdc.Checkpoint.Streaming;

namespace Cdc.Checkpoint.Benchmarks.Streaming;

/// <summary>CRC-32C throughput: the hardware-instruction path against a byte-at-a-time table (the baseline).</summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class Crc32CBenchmarks
{
    private byte[] _data = [];

    [Params(64, 4096, 1 << 20)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[Size];
        new Random(42).NextBytes(_data);
    }

    [Benchmark(Baseline = true)]
    public uint SoftwareTable() => SoftwareCrc32C.Compute(_data);

    [Benchmark]
    public uint Hardware() => Crc32C.Compute(_data);

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new ThroughputColumn());
    }
}
