using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Tests.Files;

public sealed class FileCheckpointConformanceTests : CheckpointStoreConformanceTests
{
    private readonly List<TempDirectory> _dirs = [];

    private static FileCheckpointOptions Options => new() { Codecs = OffsetCodecRegistry.Empty.With(ConformanceOffset.OffsetCodec) };

    protected override Task<ICheckpointStore> CreateStoreAsync()
    {
        var dir = new TempDirectory();
        _dirs.Add(dir);
        return Task.FromResult<ICheckpointStore>(new FileCheckpoint(dir.Path, Options));
    }

    protected override Task<ICheckpointStore> ReopenAsync(ICheckpointStore store)
    {
        var file = (FileCheckpoint)store;
        file.Dispose();
        return Task.FromResult<ICheckpointStore>(new FileCheckpoint(file.DirectoryPath, Options));
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (var dir in _dirs)
        {
            dir.Dispose();
        }
    }
}

public sealed class InMemoryCheckpointConformanceTests : CheckpointStoreConformanceTests
{
    protected override bool IsDurable => false;

    protected override Task<ICheckpointStore> CreateStoreAsync() => Task.FromResult<ICheckpointStore>(new InMemoryCheckpoint());

    protected override Task<ICheckpointStore> ReopenAsync(ICheckpointStore store) => Task.FromResult<ICheckpointStore>(new InMemoryCheckpoint());
}
