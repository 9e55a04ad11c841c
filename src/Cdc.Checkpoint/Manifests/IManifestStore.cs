using System.Collections.Immutable;

namespace Cdc.Checkpoint.Manifests;

/// <summary>
/// A durable store of checkpoint manifests (<see cref="CheckpointManifest"/>), each with an optional operator-state
/// sidecar. <see cref="FileManifestStore"/> is the file-system implementation.
/// </summary>
/// <remarks>
/// Contract every implementation keeps: a manifest id is written once (conditional create) and only
/// <see cref="UpdateSinkStatusesAsync"/> rewrites it; readers never see a partial manifest; the sidecar is durable
/// before the manifest, and the manifest before the latest pointer; the latest pointer never moves back to an older
/// id; recovery picks the newest valid checkpoint and reports every one it skipped. Implementations are thread-safe.
/// </remarks>
public interface IManifestStore
{
    /// <summary>
    /// Durably saves a new checkpoint: the sidecar (when <paramref name="sidecar"/> is not empty) first, then the
    /// manifest, then the latest pointer (unless it already names a newer checkpoint). Returns once all are durable.
    /// </summary>
    /// <param name="manifest">The manifest; its <see cref="CheckpointManifest.StateSidecar"/> is replaced by the store.</param>
    /// <param name="sidecar">Operator state kept outside the manifest; empty for none.</param>
    /// <param name="cancellationToken">Cancels the save before it starts writing.</param>
    /// <returns>The manifest as saved, with its sidecar description.</returns>
    /// <exception cref="ArgumentException">The manifest has a zero id or epoch, bad names, or sidecar ranges outside <paramref name="sidecar"/>.</exception>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.ConflictingOffset"/> when a manifest with this id already exists (nothing is
    /// written), or <see cref="CheckpointErrorCode.WriteFailed"/> when a write failed (the previous checkpoint and
    /// pointer are intact).
    /// </exception>
    ValueTask<CheckpointManifest> SaveAsync(CheckpointManifest manifest, ReadOnlyMemory<byte> sidecar = default, CancellationToken cancellationToken = default);

    /// <summary>Loads the checkpoint the latest pointer names (scanning when the pointer is missing, empty or dangling).</summary>
    /// <param name="cancellationToken">Cancels the load.</param>
    /// <returns>The manifest, or <see langword="null"/> when there is no checkpoint.</returns>
    /// <exception cref="CheckpointException">That manifest exists but cannot be trusted; use <see cref="RecoverLatestValidAsync"/> to fall back.</exception>
    ValueTask<CheckpointManifest?> LoadLatestAsync(CancellationToken cancellationToken = default);

    /// <summary>Loads the manifest of checkpoint <paramref name="checkpointId"/>.</summary>
    /// <param name="checkpointId">The id, at least 1.</param>
    /// <param name="cancellationToken">Cancels the load.</param>
    /// <returns>The manifest, or <see langword="null"/> when there is none with that id.</returns>
    /// <exception cref="CheckpointException">The manifest exists but is corrupt, of an unsupported version, insecure or a link.</exception>
    ValueTask<CheckpointManifest?> LoadAsync(ulong checkpointId, CancellationToken cancellationToken = default);

    /// <summary>Lists every checkpoint that has a manifest, readable or not, in ascending id order.</summary>
    /// <param name="cancellationToken">Cancels the listing.</param>
    /// <returns>The checkpoints.</returns>
    ValueTask<IReadOnlyList<ManifestListEntry>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes old checkpoints, keeping the newest <paramref name="keep"/> usable ones, anything newer than them, and
    /// the checkpoint the latest pointer names; also removes leftovers of interrupted saves that are older than every
    /// checkpoint kept (checkpoint directories without a manifest) and of interrupted latest-pointer writes.
    /// </summary>
    /// <param name="keep">How many usable checkpoints to keep, at least 1.</param>
    /// <param name="cancellationToken">Cancels before anything is removed.</param>
    /// <returns>How many checkpoints were removed (leftovers are not counted).</returns>
    ValueTask<int> PruneAsync(int keep, CancellationToken cancellationToken = default);

    /// <summary>Loads the sidecar of a checkpoint, verified against the size and SHA-256 its manifest records.</summary>
    /// <param name="checkpointId">The checkpoint.</param>
    /// <param name="cancellationToken">Cancels the load.</param>
    /// <returns>The bytes, or <see langword="null"/> when the checkpoint does not exist or has no sidecar.</returns>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.Corrupt"/> when the sidecar is missing or does not match.</exception>
    ValueTask<byte[]?> LoadSidecarAsync(ulong checkpointId, CancellationToken cancellationToken = default);

    /// <summary>Resolves every operator state of <paramref name="manifest"/>, reading (and verifying) the sidecar when needed.</summary>
    /// <param name="manifest">A manifest of this store.</param>
    /// <param name="cancellationToken">Cancels the load.</param>
    /// <returns>The bytes of each operator's state.</returns>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.Corrupt"/> when the sidecar is missing or does not match.</exception>
    ValueTask<ImmutableSortedDictionary<string, ReadOnlyMemory<byte>>> LoadOperatorStatesAsync(CheckpointManifest manifest, CancellationToken cancellationToken = default);

    /// <summary>
    /// Rewrites checkpoint <paramref name="checkpointId"/> with <paramref name="statuses"/> merged into its sink commit
    /// statuses: the one allowed rewrite of a saved manifest (atomic and durable).
    /// </summary>
    /// <param name="checkpointId">The checkpoint.</param>
    /// <param name="statuses">Statuses by sink name; other sinks keep theirs.</param>
    /// <param name="cancellationToken">Cancels before writing.</param>
    /// <returns>The updated manifest.</returns>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.DirectoryNotFound"/> when the checkpoint has no manifest, or a read or write error.
    /// </exception>
    ValueTask<CheckpointManifest> UpdateSinkStatusesAsync(ulong checkpointId, IReadOnlyDictionary<string, SinkCommitStatus> statuses, CancellationToken cancellationToken = default);

    /// <summary>Validates one checkpoint: manifest present and readable, sidecar present with the recorded size and checksum.</summary>
    /// <param name="checkpointId">The checkpoint.</param>
    /// <param name="cancellationToken">Cancels the validation.</param>
    /// <returns>The findings; never throws for a damaged checkpoint.</returns>
    ValueTask<ManifestValidationResult> ValidateAsync(ulong checkpointId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Finds the newest valid checkpoint, walking from the newest to the oldest and skipping (and logging) each invalid
    /// one with its reason.
    /// </summary>
    /// <param name="cancellationToken">Cancels the walk.</param>
    /// <returns>The recovery, or <see langword="null"/> only when the store holds no checkpoint at all (a fresh start).</returns>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.Corrupt"/> when checkpoints exist but none is valid, or the latest pointer names a
    /// checkpoint while no manifest is left: never reported as a fresh start.
    /// </exception>
    ValueTask<ManifestRecovery?> RecoverLatestValidAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes checkpoint directories that have no manifest and are older than the latest checkpoint (left by an
    /// interrupted save), and leftover temp files. Call while no other process writes to the store.
    /// </summary>
    /// <param name="cancellationToken">Cancels before anything is removed.</param>
    /// <returns>What was removed.</returns>
    ValueTask<OrphanCleanupResult> CleanupOrphansAsync(CancellationToken cancellationToken = default);
}
