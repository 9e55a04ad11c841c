namespace Cdc.Checkpoint.Hosting.Health;

/// <summary>
/// Thresholds of a consumer's health check (<c>AddCdcConsumer</c> on the health checks builder). A consumer that is
/// starting or retrying is Degraded; a failed or stopped one is Unhealthy; a streaming one is judged by these thresholds.
/// A threshold set to <see langword="null"/> is not checked.
/// </summary>
public sealed class ConsumerHealthOptions
{
    /// <summary>Degraded when the durable checkpoint is this many bytes of WAL/binlog behind the server (key <c>LagBytesDegraded</c>).</summary>
    /// <value>Default 256 MiB.</value>
    public long? LagBytesDegraded { get; set; } = 256L * 1024 * 1024;

    /// <summary>Unhealthy when the durable checkpoint is this many bytes behind the server (key <c>LagBytesUnhealthy</c>).</summary>
    /// <value>Default 1 GiB.</value>
    public long? LagBytesUnhealthy { get; set; } = 1024L * 1024 * 1024;

    /// <summary>
    /// Degraded when the last durable checkpoint is older than this (key <c>CheckpointAgeDegraded</c>). A consumer that is
    /// caught up and idle may legitimately not save for a long time, so this is off unless set.
    /// </summary>
    /// <value>Default <see langword="null"/>.</value>
    public TimeSpan? CheckpointAgeDegraded { get; set; }

    /// <summary>Unhealthy when the last durable checkpoint is older than this (key <c>CheckpointAgeUnhealthy</c>).</summary>
    /// <value>Default <see langword="null"/>.</value>
    public TimeSpan? CheckpointAgeUnhealthy { get; set; }

    /// <summary>
    /// Degraded when the replication slot can lose less than this many more bytes of WAL before it is invalidated
    /// (PostgreSQL's <c>safe_wal_size</c>, key <c>SafeWalSizeDegraded</c>). Not checked when the server keeps WAL for
    /// slots without limit (<c>max_slot_wal_keep_size = -1</c>, <c>safe_wal_size</c> is null).
    /// </summary>
    /// <value>Default 1 GiB.</value>
    public long? SafeWalSizeDegraded { get; set; } = 1024L * 1024 * 1024;

    /// <summary>Unhealthy when <c>safe_wal_size</c> is below this many bytes (key <c>SafeWalSizeUnhealthy</c>).</summary>
    /// <value>Default 256 MiB.</value>
    public long? SafeWalSizeUnhealthy { get; set; } = 256L * 1024 * 1024;

    /// <summary>How often a consumer reads its slot's <c>wal_status</c> and <c>safe_wal_size</c> for the health check (key <c>SlotCheckInterval</c>).</summary>
    /// <value>Default 15 seconds; positive.</value>
    public TimeSpan SlotCheckInterval { get; set; } = TimeSpan.FromSeconds(15);
}
