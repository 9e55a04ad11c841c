namespace Cdc.Checkpoint.Manifests;

/// <summary>Where a sink stands with the epoch a checkpoint recorded for it.</summary>
public enum SinkCommitState
{
    /// <summary>The sink has not confirmed its commit of this checkpoint yet.</summary>
    Pending = 0,

    /// <summary>The sink committed this checkpoint's epoch.</summary>
    Committed = 1,

    /// <summary>The sink failed to commit this checkpoint's epoch.</summary>
    Failed = 2,
}

/// <summary>The commit status of one sink in a manifest.</summary>
/// <param name="State">Pending, committed or failed.</param>
/// <param name="FailureMessage">Why the commit failed; only kept for <see cref="SinkCommitState.Failed"/>.</param>
public sealed record SinkCommitStatus(SinkCommitState State, string? FailureMessage = null)
{
    /// <summary>A pending status.</summary>
    public static SinkCommitStatus Pending { get; } = new(SinkCommitState.Pending);

    /// <summary>A committed status.</summary>
    public static SinkCommitStatus Committed { get; } = new(SinkCommitState.Committed);

    /// <summary>A failed status with a reason.</summary>
    /// <param name="message">Why the sink failed.</param>
    /// <returns>The status.</returns>
    public static SinkCommitStatus Failed(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return new SinkCommitStatus(SinkCommitState.Failed, message);
    }
}
