namespace Cdc.Checkpoint.Hosting.Diagnostics;

/// <summary>Event ids of the hosting packages (range 6000–6099; the consumers' own packages log in their ranges too).</summary>
public static class HostingEventId
{
    /// <summary>A hosted consumer is starting (validation, slot handling, stream).</summary>
    public const int ConsumerStarting = 6000;

    /// <summary>A hosted consumer is streaming.</summary>
    public const int ConsumerStreaming = 6001;

    /// <summary>A transient refusal or connection failure; the consumer retries after a delay.</summary>
    public const int ConsumerRetrying = 6002;

    /// <summary>A refusal a retry cannot fix: the consumer stopped (critical; the message is the operator's action).</summary>
    public const int ConsumerFailed = 6003;

    /// <summary>A hosted consumer stopped with the host; the final checkpoint is logged.</summary>
    public const int ConsumerStopped = 6004;

    /// <summary>The host is being stopped because a consumer failed (<c>ConsumerFailureBehavior.StopHost</c>).</summary>
    public const int HostStopRequested = 6005;

    /// <summary>A checkpoint was saved by the hosted consumer's policy (count or interval).</summary>
    public const int PolicyCheckpoint = 6006;

    /// <summary>Reading the replication slot for the health check failed (the previous reading is kept).</summary>
    public const int SlotCheckFailed = 6007;
}
