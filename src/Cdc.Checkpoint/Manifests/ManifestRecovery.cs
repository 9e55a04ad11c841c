using System.Collections.Immutable;

namespace Cdc.Checkpoint.Manifests;

/// <summary>A checkpoint recovery skipped, with the reason.</summary>
/// <param name="CheckpointId">The skipped checkpoint.</param>
/// <param name="Reason">Why it could not be used.</param>
public sealed record SkippedCheckpoint(ulong CheckpointId, string Reason);

/// <summary>The outcome of <see cref="IManifestStore.RecoverLatestValidAsync"/>: the newest valid checkpoint and every newer one skipped.</summary>
public sealed class ManifestRecovery
{
    internal ManifestRecovery(CheckpointManifest manifest, ImmutableArray<SkippedCheckpoint> skipped, ImmutableArray<ValidationFinding> warnings, ulong highestCheckpointId, int examined, IReadOnlyList<ulong> checkpointIds, byte[]? verifiedSidecar)
    {
        CheckpointIds = checkpointIds;
        VerifiedSidecar = verifiedSidecar;
        Manifest = manifest;
        Skipped = skipped;
        Warnings = warnings;
        HighestCheckpointId = highestCheckpointId;
        Examined = examined;
    }

    /// <summary>The recovered checkpoint: the newest one that validated.</summary>
    public CheckpointManifest Manifest { get; }

    /// <summary>Newer checkpoints that were skipped, newest first, each with its reason (also logged).</summary>
    public ImmutableArray<SkippedCheckpoint> Skipped { get; }

    /// <summary>Non-fatal findings about the recovered checkpoint (for example sinks still pending).</summary>
    public ImmutableArray<ValidationFinding> Warnings { get; }

    /// <summary>
    /// The highest checkpoint id in use in the store (valid, corrupt, orphaned or named by the latest pointer):
    /// a new checkpoint must take a higher id.
    /// </summary>
    public ulong HighestCheckpointId { get; }

    /// <summary>How many checkpoints were validated to reach the result.</summary>
    public int Examined { get; }

    /// <summary>
    /// The walk's listing: the ids of every checkpoint with a manifest, ascending. Stream recovery takes the older
    /// checkpoints it retains from it instead of listing the store a second time.
    /// </summary>
    internal IReadOnlyList<ulong> CheckpointIds { get; }

    /// <summary>
    /// The sidecar of <see cref="Manifest"/> as the walk read it and verified it (size and SHA-256), or
    /// <see langword="null"/> when the manifest declares none: the recovered state is resolved from it instead of being
    /// read and hashed again.
    /// </summary>
    internal byte[]? VerifiedSidecar { get; }
}

/// <summary>One checkpoint listed by <see cref="IManifestStore.ListAsync"/>.</summary>
/// <param name="CheckpointId">The checkpoint id.</param>
/// <param name="Epoch">Its epoch, or <see langword="null"/> when the manifest cannot be read.</param>
/// <param name="CreatedAt">When it was taken, or <see langword="null"/> when the manifest cannot be read.</param>
/// <param name="Problem">Why the manifest cannot be read, or <see langword="null"/> when it can.</param>
public sealed record ManifestListEntry(ulong CheckpointId, ulong? Epoch, DateTimeOffset? CreatedAt, string? Problem)
{
    /// <summary><see langword="true"/> when the manifest could be read.</summary>
    public bool IsReadable => Problem is null;
}

/// <summary>What <see cref="IManifestStore.CleanupOrphansAsync"/> removed.</summary>
/// <param name="RemovedCheckpointDirectories">Ids of checkpoint directories without a manifest that were removed.</param>
/// <param name="RemovedTempFiles">Leftover temp files of interrupted writes that were removed.</param>
public sealed record OrphanCleanupResult(ImmutableArray<ulong> RemovedCheckpointDirectories, ImmutableArray<string> RemovedTempFiles)
{
    /// <summary>How many things were removed in all.</summary>
    public int Count => RemovedCheckpointDirectories.Length + RemovedTempFiles.Length;
}
