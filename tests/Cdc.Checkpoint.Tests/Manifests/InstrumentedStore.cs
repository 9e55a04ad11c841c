using System.Collections.Immutable;
using Cdc.Checkpoint.Manifests;

namespace Cdc.Checkpoint.Tests.Manifests;

/// <summary>
/// Wraps a manifest store: counts saves, whole-store listings, single manifest loads and operator-state (sidecar) loads, and lets a test hold or fail
/// a save before it reaches the disk.
/// </summary>
internal sealed class InstrumentedStore(IManifestStore inner) : IManifestStore
{
    private int _saves;
    private int _lists;
    private int _loads;
    private int _stateLoads;

    /// <summary>Called before each save reaches the inner store; may wait or throw.</summary>
    public Func<CheckpointManifest, Task>? BeforeSave { get; set; }

    public int Saves => Volatile.Read(ref _saves);

    public int Lists => Volatile.Read(ref _lists);

    public int Loads => Volatile.Read(ref _loads);

    public int OperatorStateLoads => Volatile.Read(ref _stateLoads);

    public async ValueTask<CheckpointManifest> SaveAsync(CheckpointManifest manifest, ReadOnlyMemory<byte> sidecar = default, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _saves);
        if (BeforeSave is { } hook)
        {
            await hook(manifest);
        }

        return await inner.SaveAsync(manifest, sidecar, cancellationToken);
    }

    public ValueTask<CheckpointManifest?> LoadLatestAsync(CancellationToken cancellationToken = default) => inner.LoadLatestAsync(cancellationToken);

    public ValueTask<CheckpointManifest?> LoadAsync(ulong checkpointId, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _loads);
        return inner.LoadAsync(checkpointId, cancellationToken);
    }

    public ValueTask<IReadOnlyList<ManifestListEntry>> ListAsync(CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _lists);
        return inner.ListAsync(cancellationToken);
    }

    public ValueTask<int> PruneAsync(int keep, CancellationToken cancellationToken = default) => inner.PruneAsync(keep, cancellationToken);

    public ValueTask<byte[]?> LoadSidecarAsync(ulong checkpointId, CancellationToken cancellationToken = default) => inner.LoadSidecarAsync(checkpointId, cancellationToken);

    public ValueTask<ImmutableSortedDictionary<string, ReadOnlyMemory<byte>>> LoadOperatorStatesAsync(CheckpointManifest manifest, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _stateLoads);
        return inner.LoadOperatorStatesAsync(manifest, cancellationToken);
    }

    public ValueTask<CheckpointManifest> UpdateSinkStatusesAsync(ulong checkpointId, IReadOnlyDictionary<string, SinkCommitStatus> statuses, CancellationToken cancellationToken = default) =>
        inner.UpdateSinkStatusesAsync(checkpointId, statuses, cancellationToken);

    public ValueTask<ManifestValidationResult> ValidateAsync(ulong checkpointId, CancellationToken cancellationToken = default) => inner.ValidateAsync(checkpointId, cancellationToken);

    public ValueTask<ManifestRecovery?> RecoverLatestValidAsync(CancellationToken cancellationToken = default) => inner.RecoverLatestValidAsync(cancellationToken);

    public ValueTask<OrphanCleanupResult> CleanupOrphansAsync(CancellationToken cancellationToken = default) => inner.CleanupOrphansAsync(cancellationToken);
}
