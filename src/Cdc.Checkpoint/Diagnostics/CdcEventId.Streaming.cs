namespace Cdc.Checkpoint.Diagnostics;

// Streaming checkpoints (3000–3099) and durable cursors (3200–3249).
public static partial class CdcEventId
{
    /// <summary>A streaming checkpoint was taken.</summary>
    public const int StreamCheckpointTaken = 3000;

    /// <summary>A snapshot file was skipped during recovery (corrupt, unsupported, unreadable); the reason is logged.</summary>
    public const int StreamSnapshotSkipped = 3001;

    /// <summary>Streaming checkpoints were recovered from the data directory at start.</summary>
    public const int StreamCheckpointsRecovered = 3002;

    /// <summary>An old streaming checkpoint was pruned.</summary>
    public const int StreamCheckpointPruned = 3003;

    /// <summary>A pruned snapshot file could not be deleted.</summary>
    public const int StreamSnapshotDeleteFailed = 3004;

    /// <summary>Snapshot files of the legacy layout (<c>stream-checkpoint-*.snap</c>) were moved into the manifest store.</summary>
    public const int StreamSnapshotsMigrated = 3005;

    /// <summary>A durable cursor was saved.</summary>
    public const int CursorSaved = 3200;

    /// <summary>A durable cursor was loaded.</summary>
    public const int CursorLoaded = 3201;

    /// <summary>A durable cursor was rewound explicitly (the reason is logged).</summary>
    public const int CursorRewound = 3202;

    /// <summary>A durable cursor save was refused (regression or identity mismatch).</summary>
    public const int CursorSaveRefused = 3203;

    /// <summary>A changelog cursor skipped positions it never delivered (overwritten, dropped, popped or cancelled entries).</summary>
    public const int CursorGap = 3204;
}
