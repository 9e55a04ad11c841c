namespace Cdc.Checkpoint.Postgres.Validation;

/// <summary>
/// The resume policy. The defaults fail closed: every verdict other than <see cref="PostgresResumeVerdict.Resume"/>,
/// <see cref="PostgresResumeVerdict.ResumeOnNewTimeline"/> and <see cref="PostgresResumeVerdict.FreshStart"/> stops the consumer with a
/// <see cref="CheckpointException"/>. Each opt-in below accepts one kind of gap explicitly; it is logged as a warning
/// (event <c>GapAccepted</c>) every time it is used.
/// </summary>
public sealed class PostgresResumeValidationOptions
{
    private readonly string _outputPlugin = "pgoutput";
    private readonly TimeSpan _recheckTimeout = TimeSpan.FromSeconds(30);
    private readonly TimeSpan _recheckPollInterval = TimeSpan.FromMilliseconds(25);

    /// <summary>The output plugin the slot must use.</summary>
    /// <value>Default <c>pgoutput</c>.</value>
    public string OutputPlugin
    {
        get => _outputPlugin;
        init
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(value);
            _outputPlugin = value;
        }
    }

    /// <summary>
    /// Accept <see cref="PostgresResumeVerdict.SlotAhead"/>: continue from the slot's <c>confirmed_flush_lsn</c> and lose the
    /// transactions between the checkpoint and it. Use only when those changes are re-imported some other way.
    /// </summary>
    /// <value>Default <see langword="false"/>.</value>
    public bool AcceptSlotAhead { get; init; }

    /// <summary>
    /// Accept <see cref="PostgresResumeVerdict.SlotMissing"/> and <see cref="PostgresResumeVerdict.SlotInvalidated"/>: (drop and)
    /// create the slot again and continue from its new consistent point, losing every change since the checkpoint.
    /// </summary>
    /// <value>Default <see langword="false"/>.</value>
    public bool RecreateLostSlot { get; init; }

    /// <summary>
    /// Accept <see cref="PostgresResumeVerdict.SlotWithoutCheckpoint"/>: start from the existing slot's
    /// <c>confirmed_flush_lsn</c>. Safe only when the slot is known to belong to this consumer and no checkpoint was
    /// ever lost (for example, a crash between creating the slot and saving the first checkpoint).
    /// </summary>
    /// <value>Default <see langword="false"/>.</value>
    public bool AdoptSlotWithoutCheckpoint { get; init; }

    /// <summary>How long the check after <c>START_REPLICATION</c> waits for the slot to show this session as its holder.</summary>
    /// <value>Default 30 seconds; must be positive.</value>
    public TimeSpan RecheckTimeout
    {
        get => _recheckTimeout;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero);
            _recheckTimeout = value;
        }
    }

    /// <summary>How often the check after <c>START_REPLICATION</c> looks at <c>pg_replication_slots</c>.</summary>
    /// <value>Default 25 milliseconds; must be positive.</value>
    public TimeSpan RecheckPollInterval
    {
        get => _recheckPollInterval;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero);
            _recheckPollInterval = value;
        }
    }
}
