using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Tests.Manifests;

/// <summary>The manifest store, through its <see cref="ICheckpointStore"/> adapter, passes the shared conformance suite.</summary>
public sealed class ManifestCheckpointStoreConformanceTests : CheckpointStoreConformanceTests
{
    private readonly List<TempDirectory> _dirs = [];
    private readonly Dictionary<ICheckpointStore, string> _roots = [];

    private static FileManifestStoreOptions Options => new() { Codecs = OffsetCodecRegistry.Empty.With(ConformanceOffset.OffsetCodec) };

    protected override async Task<ICheckpointStore> CreateStoreAsync()
    {
        var dir = new TempDirectory();
        _dirs.Add(dir);
        return await OpenAsync(dir.Path);
    }

    protected override async Task<ICheckpointStore> ReopenAsync(ICheckpointStore store)
    {
        await ((ManifestCheckpointStore)store).DisposeAsync();
        return await OpenAsync(_roots[store]);
    }

    private async Task<ICheckpointStore> OpenAsync(string root)
    {
        var store = await ManifestCheckpointStore.OpenAsync(new FileManifestStore(root, Options));
        _roots[store] = root;
        return store;
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
