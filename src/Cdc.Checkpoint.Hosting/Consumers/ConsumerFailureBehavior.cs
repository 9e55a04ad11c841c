namespace Cdc.Checkpoint.Hosting.Consumers;

/// <summary>What a hosted consumer does when resuming is refused for a reason a retry cannot fix (a non-transient <see cref="CheckpointException"/>).</summary>
public enum ConsumerFailureBehavior
{
    /// <summary>
    /// Log the operator message (critical), mark the consumer failed (health check Unhealthy), set the process exit code
    /// to 1 and stop the host: an orchestrator shows the failed process and its last log line.
    /// </summary>
    StopHost = 0,

    /// <summary>
    /// Log the operator message (critical) and mark the consumer failed (health check Unhealthy), but keep the host
    /// running, for example so that other consumers in the same process go on and an operator can inspect it.
    /// </summary>
    MarkUnhealthy = 1,
}
