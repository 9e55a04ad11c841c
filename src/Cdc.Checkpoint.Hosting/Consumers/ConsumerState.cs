namespace Cdc.Checkpoint.Hosting.Consumers;

/// <summary>Where a hosted consumer is in its life.</summary>
public enum ConsumerState
{
    /// <summary>Registered; the host has not started it yet, or it is validating and opening its stream.</summary>
    Starting = 0,

    /// <summary>The stream is open and transactions are applied.</summary>
    Streaming = 1,

    /// <summary>A transient refusal or connection failure; waiting to retry (see <see cref="ConsumerStatus.LastError"/>).</summary>
    Retrying = 2,

    /// <summary>Stopped with the host, after its final checkpoint.</summary>
    Stopped = 3,

    /// <summary>Stopped by a refusal a retry cannot fix; <see cref="ConsumerStatus.LastError"/> holds the operator message.</summary>
    Failed = 4,
}
