using System.Collections.Immutable;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Manifests;
using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Streaming;

/// <summary>
/// Keeps stream checkpoints in a manifest store: each <see cref="StreamCheckpoint"/> is one checkpoint of the store
/// with the same id and epoch, whose manifest holds one operator state, <see cref="OperatorName"/>, covering the whole
/// state sidecar, and the sidecar is the binary v2 snapshot (<see cref="StreamSnapshotCodec"/>, CRC-32C inside, SHA-256
/// in the manifest). Recovery is the store's newest-valid walk; nothing here walks files.
/// </summary>
internal sealed class StreamSnapshotStore(IManifestStore store, ILogger logger)
{
    /// <summary>The operator-state name of the snapshot in the manifest.</summary>
    public const string OperatorName = "cdc.stream.snapshot";

    public IManifestStore Store => store;

    /// <summary>The manifest that describes <paramref name="checkpoint"/>, whose snapshot is <paramref name="snapshotLength"/> bytes.</summary>
    public static CheckpointManifest ToManifest(StreamCheckpoint checkpoint, int snapshotLength) => new()
    {
        CheckpointId = checkpoint.Id,
        Epoch = checkpoint.Epoch,
        CreatedAt = checkpoint.CreatedAt,
        OperatorStates = new Dictionary<string, OperatorState>(StringComparer.Ordinal) { [OperatorName] = OperatorState.InSidecar(0, snapshotLength) }
            .ToImmutableSortedDictionary(StringComparer.Ordinal),
    };

    /// <summary>Durably saves <paramref name="checkpoint"/> (sidecar, manifest, latest pointer).</summary>
    public async ValueTask SaveAsync(StreamCheckpoint checkpoint, CancellationToken cancellationToken)
    {
        var snapshot = StreamSnapshotCodec.Encode(checkpoint);
        StreamingMetrics.SnapshotSize.Record(snapshot.Length);
        await store.SaveAsync(ToManifest(checkpoint, snapshot.Length), snapshot, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the stream checkpoint a manifest of the store describes.</summary>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.Misconfigured"/> when the manifest holds no stream snapshot (the store is shared
    /// with something else); <see cref="CheckpointErrorCode.Corrupt"/> when the snapshot is damaged or names another id.
    /// </exception>
    public async ValueTask<StreamCheckpoint> LoadAsync(CheckpointManifest manifest, CancellationToken cancellationToken) =>
        Decode(manifest, await store.LoadOperatorStatesAsync(manifest, cancellationToken).ConfigureAwait(false));

    /// <summary>
    /// Reads the checkpoint the recovery walk found. The walk already read and verified its sidecar (size and SHA-256)
    /// and hands the bytes on, so they are decoded without a second read and hash; the store is asked only when the walk
    /// had none to hand on (a manifest that keeps its state elsewhere, or declares no sidecar: the store's refusal then).
    /// </summary>
    public async ValueTask<StreamCheckpoint> LoadAsync(ManifestRecovery recovery, CancellationToken cancellationToken)
    {
        var manifest = recovery.Manifest;
        return recovery.VerifiedSidecar is not null || !manifest.OperatorStates.Values.Any(state => state.IsInSidecar)
            ? Decode(manifest, ManifestObjects.ResolveOperatorStates(manifest, recovery.VerifiedSidecar))
            : await LoadAsync(manifest, cancellationToken).ConfigureAwait(false);
    }

    private static StreamCheckpoint Decode(CheckpointManifest manifest, ImmutableSortedDictionary<string, ReadOnlyMemory<byte>> states)
    {
        if (!states.TryGetValue(OperatorName, out var snapshot))
        {
            throw new CheckpointException(
                CheckpointErrorCode.Misconfigured,
                $"Checkpoint {manifest.CheckpointId} of the manifest store holds no stream snapshot (operator state '{OperatorName}'): the store is used by something other than a StreamCheckpointManager. Give the stream manager a store (directory, bucket prefix) of its own.");
        }

        var origin = $"the stream snapshot of checkpoint {manifest.CheckpointId}";
        var checkpoint = StreamSnapshotCodec.Decode(snapshot.Span, origin);
        if (checkpoint.Id != manifest.CheckpointId || checkpoint.Epoch != manifest.Epoch)
        {
            throw new CheckpointException(
                CheckpointErrorCode.Corrupt,
                $"{origin} is checkpoint {checkpoint.Id} (epoch {checkpoint.Epoch}) but its manifest says checkpoint {manifest.CheckpointId} (epoch {manifest.Epoch}); it cannot be trusted.");
        }

        return checkpoint;
    }

    /// <summary>
    /// Recovers the newest valid checkpoint with the store's walk, then up to <paramref name="retain"/> − 1 older ones
    /// (for <see cref="StreamCheckpointManager.GetCheckpoint"/>), skipping and logging older ones that do not load.
    /// </summary>
    /// <exception cref="CheckpointException">Checkpoints exist but none is valid (never a fresh start).</exception>
    public async ValueTask<(List<StreamCheckpoint> Retained, ulong HighestId)> RecoverAsync(int? retain, CancellationToken cancellationToken)
    {
        var recovery = await store.RecoverLatestValidAsync(cancellationToken).ConfigureAwait(false);
        if (recovery is null)
        {
            return ([], 0);
        }

        var newest = await LoadAsync(recovery, cancellationToken).ConfigureAwait(false);
        var retained = new List<StreamCheckpoint> { newest };
        var highest = recovery.HighestCheckpointId;
        if (retain is not 1)
        {
            // The ids come from the walk's own listing: only the manifests of the retained checkpoints are loaded below.
            // ListAsync would read and parse every manifest of the store (10,000 for a store that keeps 10,000), and
            // listing the ids again would scan the store a second time.
            var ids = recovery.CheckpointIds;
            for (var i = ids.Count - 1; i >= 0 && (retain is null || retained.Count < retain); i--)
            {
                var id = ids[i];
                highest = Math.Max(highest, id);
                if (id >= newest.Id)
                {
                    continue;
                }

                try
                {
                    if (await store.LoadAsync(id, cancellationToken).ConfigureAwait(false) is { } manifest)
                    {
                        retained.Add(await LoadAsync(manifest, cancellationToken).ConfigureAwait(false));
                    }
                }
                catch (CheckpointException ex) when (!ex.IsTransient)
                {
                    Log.StreamSnapshotSkipped(logger, $"checkpoint {id}", ex.Message);
                }
            }
        }

        retained.Reverse();
        return (retained, highest);
    }
}
