namespace Cdc.Checkpoint.Postgres.Replication;

/// <summary>Options of a <see cref="ReplicationAcknowledger"/>.</summary>
public sealed class ReplicationAcknowledgerOptions
{
    /// <summary>The largest <see cref="AcknowledgeLag"/>.</summary>
    public const int MaxAcknowledgeLag = 1000;

    private readonly int _acknowledgeLag;
    private readonly TimeSpan _idleAdvanceInterval = TimeSpan.FromSeconds(10);
    private readonly long _idleAdvanceMinimumBytes = DefaultIdleAdvanceMinimumBytes;

    /// <summary>The default <see cref="IdleAdvanceMinimumBytes"/>: 64 KiB.</summary>
    public const long DefaultIdleAdvanceMinimumBytes = 64 * 1024;

    /// <summary>
    /// How many durable checkpoints the acknowledgement stays behind: with 0 the server is told every durable
    /// checkpoint; with N it is told the checkpoint N saves older, so the slot still retains the WAL of the last N
    /// checkpoints and any of them can be restored (for example after restoring the sink from a backup).
    /// </summary>
    /// <value>Default 0; 0 to <see cref="MaxAcknowledgeLag"/>.</value>
    public int AcknowledgeLag
    {
        get => _acknowledgeLag;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, MaxAcknowledgeLag);
            _acknowledgeLag = value;
        }
    }

    /// <summary>
    /// How often a replication session looks for an idle advance: when no transaction is in flight and everything
    /// processed is durable, the WAL end the server reported in its last keepalive is checkpointed and then
    /// acknowledged, so the slot (and the WAL it retains) moves while the published tables are quiet.
    /// <see cref="Timeout.InfiniteTimeSpan"/> turns idle advance off.
    /// </summary>
    /// <value>Default 10 seconds; positive or <see cref="Timeout.InfiniteTimeSpan"/>.</value>
    public TimeSpan IdleAdvanceInterval
    {
        get => _idleAdvanceInterval;
        init
        {
            if (value != Timeout.InfiniteTimeSpan)
            {
                ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero);
            }

            _idleAdvanceInterval = value;
        }
    }

    /// <summary>
    /// How much WAL must lie between the durable checkpoint and the server's WAL end before an idle advance saves. An
    /// advance writes WAL itself when the store is in the source database (the table store's <c>UPDATE</c>, and the
    /// records the server adds after any write: bgwriter's running-transactions snapshot, a checkpoint record), so
    /// without a threshold each advance would find the WAL of the previous one and save once per interval forever.
    /// A save writes a few hundred bytes, up to a few full-page images (8 KiB each) after a checkpoint; the default
    /// stays well above that, and far below the 16 MiB segments the server recycles WAL in, so holding back that much
    /// frees nothing less. 0 advances past any new WAL.
    /// </summary>
    /// <value>Default <see cref="DefaultIdleAdvanceMinimumBytes"/> (64 KiB); 0 or more.</value>
    public long IdleAdvanceMinimumBytes
    {
        get => _idleAdvanceMinimumBytes;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _idleAdvanceMinimumBytes = value;
        }
    }
}
