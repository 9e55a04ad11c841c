namespace Cdc.Checkpoint.Diagnostics;

/// <summary>Event ids of the manifest store and checkpoint coordinator (range 3100–3199).</summary>
public static partial class CdcEventId
{
    /// <summary>A checkpoint manifest was written.</summary>
    public const int ManifestSaved = 3100;

    /// <summary>A checkpoint manifest was read.</summary>
    public const int ManifestLoaded = 3101;

    /// <summary>A manifest older than the latest pointer was saved; the pointer was left where it was.</summary>
    public const int LatestPointerKept = 3102;

    /// <summary>The latest pointer was empty, unreadable or named a missing checkpoint; the directory was scanned instead.</summary>
    public const int LatestPointerInvalid = 3103;

    /// <summary>An old checkpoint was pruned.</summary>
    public const int CheckpointPruned = 3104;

    /// <summary>Pruning old checkpoints after a save failed (the save itself succeeded).</summary>
    public const int PruneFailed = 3105;

    /// <summary>Recovery skipped an invalid checkpoint (the reason is logged).</summary>
    public const int InvalidCheckpointSkipped = 3106;

    /// <summary>Recovery chose a checkpoint.</summary>
    public const int CheckpointRecovered = 3107;

    /// <summary>An orphaned checkpoint directory (no manifest) was removed.</summary>
    public const int OrphanCheckpointRemoved = 3108;

    /// <summary>Sink commit statuses of a checkpoint were rewritten.</summary>
    public const int SinkStatusesUpdated = 3109;

    /// <summary>The coordinator wrote one manifest for a batch of commit requests.</summary>
    public const int GroupCommitWritten = 3110;

    /// <summary>A coordinator manifest write failed; every request of the batch saw the error.</summary>
    public const int GroupCommitFailed = 3111;

    /// <summary>The coordinator refused an offset that would move a source backwards or sideways.</summary>
    public const int OffsetReportRefused = 3112;

    /// <summary>A source was rewound explicitly (the reason is logged).</summary>
    public const int SourceRewound = 3113;

    /// <summary>The coordinator restored its state from a checkpoint.</summary>
    public const int CoordinatorRestored = 3114;

    /// <summary>The coordinator found no checkpoint and starts fresh.</summary>
    public const int CoordinatorFreshStart = 3115;
}
