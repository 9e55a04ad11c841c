using Cdc.Checkpoint.Hosting.Health;

namespace Cdc.Checkpoint.Hosting.Consumers;

/// <summary>
/// The options every hosted consumer shares, whatever its source: the store it checkpoints to, the checkpoint policy,
/// retries, health thresholds and what a failure does. A provider's consumer options derive from it and add the
/// source's own keys (connection, slot, …); <see cref="HostedConsumerOptionsValidator{TOptions}"/> validates these.
/// </summary>
public abstract class HostedConsumerOptions
{
    /// <summary>The name of the registered checkpoint store (key <c>Store</c>).</summary>
    /// <value>Default: the consumer's name.</value>
    public string? Store { get; set; }

    /// <summary>When checkpoints are saved through a store that is not the sink's transaction (section <c>Checkpoint</c>).</summary>
    public CheckpointPolicyOptions Checkpoint { get; } = new();

    /// <summary>Retries of transient refusals and connection failures (section <c>Retry</c>).</summary>
    public ConsumerRetryOptions Retry { get; } = new();

    /// <summary>Health check thresholds (section <c>Health</c>).</summary>
    public ConsumerHealthOptions Health { get; } = new();

    /// <summary>What happens when resuming is refused for a reason a retry cannot fix (key <c>OnFailure</c>).</summary>
    /// <value>Default <see cref="ConsumerFailureBehavior.StopHost"/>.</value>
    public ConsumerFailureBehavior OnFailure { get; set; } = ConsumerFailureBehavior.StopHost;
}
