namespace Cdc.Checkpoint.Postgres.Replication;

/// <summary>Options of a <see cref="ReplicationAcknowledger"/>.</summary>
public sealed class ReplicationAcknowledgerOptions
{
    /// <summary>The largest <see cref="AcknowledgeLag"/>.</summary>
    public const int MaxAcknowledgeLag = 1000;

    private readonly int _acknowledgeLag;
    private readonly TimeSpan _idleAdvanceInterval = TimeSpan.FromSeconds(10);
    private readonly long? _idleAdvanceMinimumBytes;

    /// <summary>The <see cref="IdleAdvanceMinimumBytes"/> chosen for a store in the source database: 64 KiB.</summary>
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
    /// How much WAL must lie between the durable checkpoint and the server's WAL end before an idle advance saves. When
    /// the store writes into the source database (the table store), an advance writes WAL itself, and so does the
    /// server after any write (bgwriter's running-transactions record, a checkpoint record); without a minimum each
    /// advance would find the WAL of the previous one and save once per interval forever. A save writes a few hundred
    /// bytes, up to a few full-page images (8 KiB each) after a checkpoint; 64 KiB stays well above that and far below
    /// the 16 MiB segments the server recycles WAL in, so holding it back retains nothing that matters.
    /// <see langword="null"/> chooses: <see cref="DefaultIdleAdvanceMinimumBytes"/> for a <c>PostgresCheckpointStore</c>,
    /// 0 for every other store (a file save writes no WAL, so there is nothing to chase, and a quiet server's last WAL
    /// — a shutdown checkpoint, for example — is still acknowledged).
    /// </summary>
    /// <value>Default <see langword="null"/> (chosen by the store); otherwise 0 or more.</value>
    public long? IdleAdvanceMinimumBytes
    {
        get => _idleAdvanceMinimumBytes;
        init
        {
            if (value is { } bytes)
            {
                ArgumentOutOfRangeException.ThrowIfNegative(bytes);
            }

            _idleAdvanceMinimumBytes = value;
        }
    }
}
