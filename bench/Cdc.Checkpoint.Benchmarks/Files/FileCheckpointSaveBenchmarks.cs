using BenchmarkDotNet.Attributes;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Benchmarks.Files;

/// <summary>
/// What a <see cref="FileCheckpoint.SaveAsync"/> costs beyond the durable replace itself, on a fast directory (tmpfs
/// by default, where fsync costs next to nothing, so the library's own CPU, syscalls and allocations show).
/// Baseline: the syscalls of <c>bench/limit/durable_replace.c</c> made through the same libc P/Invokes (create
/// exclusive → write → fsync → close → rename → open directory → fsync → close) with a record of the same size.
/// </summary>
/// <remarks>
/// <para>The parts are priced separately: <see cref="Serialize"/> (the record's JSON with its CRC-32C) and
/// <see cref="StatRecord"/> (one <c>statx</c> of the record's path; the save makes a few, see docs/BENCHMARKS.md).
/// The saved offset is one <see cref="PostgresOffset"/> instance with a growing event count (a stream position that
/// many events share), so the Allocated column is the save's own allocation and not the caller's offset.</para>
/// <para>Directory: <c>BENCH_SAVE_DIR</c>, else <c>/dev/shm</c> when it is writable, else the temp directory. Run:
/// <c>dotnet run -c Release --project bench/Cdc.Checkpoint.Benchmarks -- --filter '*FileCheckpointSave*'</c></para>
/// </remarks>
[MemoryDiagnoser]
public class FileCheckpointSaveBenchmarks
{
    private static readonly PostgresOffset Offset = new(new NpgsqlLogSequenceNumber(0x1_0000_0000UL), "bench_slot", 7_300_000_000_000_000_001, timeline: 1, database: "bench");

    private string _root = string.Empty;
    private string _limitDirectory = string.Empty;
    private string _limitTemp = string.Empty;
    private string _limitTarget = string.Empty;
    private string _recordPath = string.Empty;
    private byte[] _limitRecord = [];
    private CheckpointRecord _record = null!;
    private readonly CheckpointRecordFile.RecordWriter _writer = new();
    private FileCheckpoint _checkpoint = null!;
    private ulong _count;

    [GlobalSetup]
    public void Setup()
    {
        var parent = BenchDirectory.Fast();
        _root = Path.Combine(parent, "cdc-bench-save-" + Guid.NewGuid().ToString("N"));
        DurableFile.CreatePrivateDirectory(_root);

        _checkpoint = new FileCheckpoint(Path.Combine(_root, "save"), new FileCheckpointOptions
        {
            Codecs = OffsetCodecRegistry.Empty.WithPostgres(),
            CreateDirectory = true,
        });
        _count = 1;
        _checkpoint.SaveAsync(Offset, _count).AsTask().GetAwaiter().GetResult();
        _recordPath = Path.Combine(_checkpoint.DirectoryPath, CheckpointRecordFile.FileNameFor(Offset.SourceType));

        _record = new CheckpointRecord(Offset.SourceType, 1_000_000, Offset) { FormatVersion = CheckpointRecordFile.CurrentVersion, Sequence = 1_000_000, SavedAt = DateTimeOffset.UtcNow };
        _limitDirectory = Path.Combine(_root, "limit");
        DurableFile.CreatePrivateDirectory(_limitDirectory);
        _limitTemp = Path.Combine(_limitDirectory, "limit.json.tmp");
        _limitTarget = Path.Combine(_limitDirectory, "limit.json");
        _limitRecord = new byte[File.ReadAllBytes(_recordPath).Length];
        _limitRecord.AsSpan().Fill((byte)'x');
        _limitRecord[^1] = (byte)'\n';
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _checkpoint.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Benchmark(Baseline = true)]
    public int DurableReplaceLimit()
    {
        var fd = LibC.CreateExclusive(_limitTemp, (int)DurableFile.PrivateFileMode);
        if (fd < 0 || LibC.WriteAll(fd, _limitRecord) != 0 || LibC.Fsync(fd) != 0 || LibC.CloseChecked(fd) != 0 || LibC.Rename(_limitTemp, _limitTarget) != 0)
        {
            throw new IOException($"The durable replace in '{_limitDirectory}' failed.");
        }

        var directory = LibC.OpenDirectory(_limitDirectory);
        if (directory < 0 || LibC.Fsync(directory) != 0)
        {
            throw new IOException($"The directory fsync of '{_limitDirectory}' failed.");
        }

        LibC.Close(directory);
        return fd;
    }

    [Benchmark]
    public ValueTask Save() => _checkpoint.SaveAsync(Offset, ++_count);

    [Benchmark]
    public int Serialize() => CheckpointRecordFile.Serialize(_record, _writer).Length;

    [Benchmark]
    public int StatRecord() => LibC.Lstat(_recordPath, out _);
}
