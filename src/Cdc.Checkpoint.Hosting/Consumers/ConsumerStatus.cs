namespace Cdc.Checkpoint.Hosting.Consumers;

/// <summary>A snapshot of one hosted consumer, as its health check and an operator see it.</summary>
public sealed record ConsumerStatus
{
    /// <summary>The consumer name.</summary>
    public required string Name { get; init; }

    /// <summary>Where the consumer is in its life.</summary>
    public required ConsumerState State { get; init; }

    /// <summary>The latest durable checkpoint, as text (offset and event count), or <see langword="null"/> before the first.</summary>
    public string? DurableCheckpoint { get; init; }

    /// <summary>The committed event count of <see cref="DurableCheckpoint"/>.</summary>
    public ulong? CommittedEventCount { get; init; }

    /// <summary>Time since the last durable checkpoint (while streaming).</summary>
    public TimeSpan? CheckpointAge { get; init; }

    /// <summary>Bytes between the server's log end and the durable checkpoint (while streaming; 0 when caught up).</summary>
    public long? LagBytes { get; init; }

    /// <summary>The verdict of the last resume validation (for example <c>ResumeAtCheckpoint</c>).</summary>
    public string? LastVerdict { get; init; }

    /// <summary>The message of the last error (the operator message for a failure), or <see langword="null"/>.</summary>
    public string? LastError { get; init; }

    /// <summary>The code of the last error when it was a <see cref="CheckpointException"/>.</summary>
    public CheckpointErrorCode? LastErrorCode { get; init; }

    /// <summary>How many retries in a row have been made since the stream last ran.</summary>
    public int RetryAttempt { get; init; }

    /// <summary>The slot's <c>wal_status</c> as last read (<c>reserved</c>, <c>extended</c>, <c>unreserved</c>, <c>lost</c>), PostgreSQL only.</summary>
    public string? SlotWalStatus { get; init; }

    /// <summary>The slot's <c>safe_wal_size</c> in bytes as last read; <see langword="null"/> when unlimited or unknown.</summary>
    public long? SlotSafeWalSizeBytes { get; init; }
}
