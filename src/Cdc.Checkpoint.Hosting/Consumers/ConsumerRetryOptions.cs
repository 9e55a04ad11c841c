namespace Cdc.Checkpoint.Hosting.Consumers;

/// <summary>
/// Retries of transient refusals (<see cref="CheckpointException.IsTransient"/>: the slot or the checkpoint is held by
/// another process, the server ended the stream) and of transient connection failures, with exponential backoff.
/// Everything else is a fail-stop (see <see cref="ConsumerFailureBehavior"/>).
/// </summary>
public sealed class ConsumerRetryOptions
{
    /// <summary>How many retries in a row before giving up (key <c>MaxAttempts</c>); <see langword="null"/> retries until the host stops.</summary>
    /// <value>Default <see langword="null"/> (unlimited, like Debezium's <c>errors.max.retries=-1</c>); 1 or more when set.</value>
    public int? MaxAttempts { get; set; }

    /// <summary>The delay before the first retry; it doubles with every further one (key <c>Delay</c>).</summary>
    /// <value>Default 1 second; positive.</value>
    public TimeSpan Delay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest delay between two retries (key <c>MaxDelay</c>).</summary>
    /// <value>Default 30 seconds; at least <see cref="Delay"/>.</value>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Whether delays are jittered, so consumers that failed together do not retry in lockstep (key <c>UseJitter</c>).</summary>
    /// <value>Default <see langword="true"/>.</value>
    public bool UseJitter { get; set; } = true;
}
