namespace Cdc.Checkpoint.Postgres.Replication;

/// <summary>Options of a <see cref="ReplicationAcknowledger"/>.</summary>
public sealed class ReplicationAcknowledgerOptions
{
    /// <summary>The largest <see cref="AcknowledgeLag"/>.</summary>
    public const int MaxAcknowledgeLag = 1000;

    private readonly int _acknowledgeLag;
    private readonly TimeSpan _idleAdvanceInterval = TimeSpan.FromSeconds(10);

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
}
