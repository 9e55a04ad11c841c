namespace Cdc.Checkpoint.Diagnostics;

/// <summary>
/// Event ids of every log message Cdc.Checkpoint writes, grouped by range so they can be filtered:
/// core 1000–1999, leases 2000–2099, streaming 3000–3099, PostgreSQL 4000–4099, MySQL 5000–5099.
/// </summary>
public static partial class CdcEventId
{
    /// <summary>A checkpoint record was saved.</summary>
    public const int CheckpointSaved = 1000;

    /// <summary>A save was refused by a monotonic-progress guard.</summary>
    public const int SaveRefused = 1001;

    /// <summary>A save failed with an I/O error.</summary>
    public const int SaveFailed = 1002;

    /// <summary>A checkpoint was rewound or reset explicitly (the reason is logged).</summary>
    public const int CheckpointRewound = 1003;

    /// <summary>An older record format was upgraded.</summary>
    public const int RecordUpgraded = 1004;

    /// <summary>A checkpoint record was seeded into a directory.</summary>
    public const int RecordSeeded = 1005;

    /// <summary>An in-memory (non-durable) checkpoint is in use.</summary>
    public const int InMemoryNotDurable = 1006;

    /// <summary>A leftover temp file of an interrupted write was removed.</summary>
    public const int TempFileRemoved = 1007;

    /// <summary>A checkpoint was loaded.</summary>
    public const int CheckpointLoaded = 1008;

    /// <summary>The owner lease was acquired.</summary>
    public const int LeaseAcquired = 2000;

    /// <summary>The owner lease was released.</summary>
    public const int LeaseReleased = 2001;

    /// <summary>The lease of a dead owner was taken over.</summary>
    public const int LeaseTakenOver = 2002;

    /// <summary>The lease is held by another live process.</summary>
    public const int LeaseHeld = 2003;

    /// <summary>This process lost the owner lease (lease file deleted or replaced, directory moved); it writes nothing more.</summary>
    public const int LeaseLost = 2004;

    /// <summary>A checkpoint file was changed by another writer since this owner last read or wrote it.</summary>
    public const int ModifiedExternally = 2005;
}
