using System.IO.Hashing;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Cdc.Checkpoint.Streaming;

namespace Cdc.Checkpoint.Benchmarks.Streaming;

/// <summary>
/// CRC-32C throughput over sizes a checkpoint meets (a log frame, a record, a snapshot, a large operator state):
/// our loop over the CPU's CRC32 instruction (<see cref="Crc32C"/>, the baseline) against System.IO.Hashing's
/// <see cref="Crc32ParameterSet.Crc32C"/> and a byte-at-a-time table. docs/BENCHMARKS.md says which one the library uses and why.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class Crc32CBenchmarks
{
    private byte[] _data = [];

    [Params(64, 1024, 64 * 1024, 1 << 20)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[Size];
        new Random(42).NextBytes(_data);
        if (Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, _data) != Crc32C.Compute(_data) || SoftwareCrc32C.Compute(_data) != Crc32C.Compute(_data))
        {
            throw new InvalidOperationException("The three CRC-32C implementations disagree.");
        }
    }

    [Benchmark(Baseline = true)]
    public uint Ours() => Crc32C.Compute(_data);

    [Benchmark]
    public uint SystemIOHashing() => Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, _data);

    [Benchmark]
    public uint SoftwareTable() => SoftwareCrc32C.Compute(_data);

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new ThroughputColumn());
    }
}
