using System.Collections.Concurrent;
using System.Collections.Immutable;
using BenchmarkDotNet.Attributes;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Benchmarks;

/// <summary>
/// Durable offsets per second with 16 concurrent sources: every source makes each offset durable before it moves on.
/// Baseline: one durable manifest save per offset (the sources' saves queue on the store). Group commit: the same
/// sources report to a <see cref="CheckpointCoordinator"/> and await <see cref="CheckpointCoordinator.CommitAsync"/>,
/// which serves every request that arrived during a write with the next single write. The raw case is the physical
/// floor of the baseline: one bare write + fsync + rename + directory fsync of a 1 KiB file per offset, on the same disk.
/// </summary>
/// <remarks>
/// One operation is one durable offset (<c>OperationsPerInvoke</c>), so the Mean column is the time per durable
/// offset and the Ratio column compares against one save per offset. Run:
/// <c>dotnet run -c Release --project bench/Cdc.Checkpoint.Benchmarks -- --filter '*GroupCommit*' --job short</c>
/// </remarks>
[MemoryDiagnoser]
public class GroupCommitBenchmarks
{
    private const int Sources = 16;
    private const int OffsetsPerSource = 32;
    private const int OffsetsPerInvoke = Sources * OffsetsPerSource;

    private static readonly string[] SourceNames = Enumerable.Range(0, Sources).Select(i => $"source-{i:D2}").ToArray();

    private readonly ConcurrentDictionary<string, SourcePosition> _positions = new(StringComparer.Ordinal);
    private readonly byte[] _rawPayload = new byte[1024];
    private string _root = string.Empty;
    private FileManifestStore _baselineStore = null!;
    private CheckpointCoordinator _coordinator = null!;
    private long _nextId;
    private long _seq;

    [GlobalSetup]
    public void Setup()
    {
        _root = Path.Combine(Path.GetTempPath(), "cdc-bench-groupcommit", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_root);
        Directory.CreateDirectory(Path.Combine(_root, "raw"));
        var options = new FileManifestStoreOptions { RetainCount = 10 };
        _baselineStore = new FileManifestStore(Path.Combine(_root, "baseline"), options);
        _coordinator = CheckpointCoordinator.StartAsync(new FileManifestStore(Path.Combine(_root, "group"), options)).AsTask().GetAwaiter().GetResult();
        foreach (var name in SourceNames)
        {
            _positions[name] = new SourcePosition(Offset(0));
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _coordinator.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_root, recursive: true);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = OffsetsPerInvoke)]
    public Task OneDurableSavePerOffset() => RunSources(async name =>
    {
        // Same manifest size as the coordinator's: every save carries all 16 sources.
        _positions[name] = new SourcePosition(Offset(Interlocked.Increment(ref _seq)));
        var id = (ulong)Interlocked.Increment(ref _nextId);
        await _baselineStore.SaveAsync(new CheckpointManifest
        {
            CheckpointId = id,
            Epoch = id,
            CreatedAt = DateTimeOffset.UtcNow,
            SourceOffsets = _positions.ToImmutableSortedDictionary(StringComparer.Ordinal),
        });
    });

    [Benchmark(OperationsPerInvoke = OffsetsPerInvoke)]
    public Task GroupCommitThroughCoordinator() => RunSources(async name =>
    {
        _coordinator.ReportOffset(name, Offset(Interlocked.Increment(ref _seq)));
        await _coordinator.CommitAsync();
    });

    [Benchmark(OperationsPerInvoke = OffsetsPerInvoke)]
    public Task RawWriteFsyncRenamePerOffset() => RunSources(name =>
    {
        DurableFile.Replace(Path.Combine(_root, "raw"), name, _rawPayload);
        return Task.CompletedTask;
    });

    private static Task RunSources(Func<string, Task> durableOffset) =>
        Task.WhenAll(SourceNames.Select(name => Task.Run(async () =>
        {
            for (var i = 0; i < OffsetsPerSource; i++)
            {
                await durableOffset(name);
            }
        })));

    private static GenericOffset Offset(long seq) => GenericOffset.Parse("bench", $"{{\"seq\":{seq}}}");
}
