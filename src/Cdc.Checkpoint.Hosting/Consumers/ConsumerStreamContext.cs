using Cdc.Checkpoint.Hosting.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Hosting.Consumers;

/// <summary>
/// What one running stream of a <see cref="HostedConsumer"/> tells the base: its state for the health checks and logs,
/// and whether it has delivered data (which starts a fresh series of retries after its next transient failure). A new
/// one is passed to every attempt. Thread-safe.
/// </summary>
public sealed class ConsumerStreamContext
{
    private readonly ConsumerStatusTracker _tracker;
    private readonly ILogger _logger;
    private volatile bool _receiving;

    internal ConsumerStreamContext(ConsumerStatusTracker tracker, ILogger logger)
    {
        _tracker = tracker;
        _logger = logger;
        _tracker.Update(s => s with { State = ConsumerState.Starting });
    }

    /// <summary>The consumer name.</summary>
    public string ConsumerName => _tracker.Name;

    /// <summary>Whether <see cref="MarkReceiving"/> was called in this attempt.</summary>
    internal bool IsReceiving => _receiving;

    /// <summary>The stream delivered data: a transient failure from now on is retried with a fresh series of attempts. Cheap; call it per message.</summary>
    public void MarkReceiving() => _receiving = true;

    /// <summary>The stream is open and its checkpoint validated: the consumer is <see cref="ConsumerState.Streaming"/> (logged as event 6001).</summary>
    /// <param name="startPosition">Where the stream starts, as logged.</param>
    /// <param name="verdict">The resume verdict, as logged and shown in <see cref="ConsumerStatus.LastVerdict"/>.</param>
    public void ReportStreaming(string startPosition, string verdict)
    {
        _tracker.Update(s => s with { State = ConsumerState.Streaming, RetryAttempt = 0, LastError = null, LastErrorCode = null, LastVerdict = verdict });
        Log.ConsumerStreaming(_logger, _tracker.Name, startPosition, verdict);
    }

    /// <summary>A checkpoint was saved by the consumer's policy (logged at debug level as event 6006).</summary>
    /// <param name="trigger">What triggered it, for example <c>interval</c>.</param>
    public void ReportPolicyCheckpoint(string trigger) => Log.PolicyCheckpoint(_logger, _tracker.Name, trigger);

    /// <summary>The stream stopped with the host after its final checkpoint (logged as event 6004).</summary>
    /// <param name="durableCheckpoint">The final durable checkpoint, as shown.</param>
    /// <param name="committedEventCount">Its committed event count.</param>
    public void ReportStopped(string durableCheckpoint, ulong committedEventCount)
    {
        _tracker.Update(s => s with { DurableCheckpoint = durableCheckpoint, CommittedEventCount = committedEventCount });
        Log.ConsumerStopped(_logger, _tracker.Name, durableCheckpoint);
    }

    /// <summary>Changes the consumer's status, for example to record a slot health reading.</summary>
    /// <param name="change">Returns the new status from the current one (use <c>with</c>).</param>
    public void UpdateStatus(Func<ConsumerStatus, ConsumerStatus> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        _tracker.Update(change);
    }

    /// <summary>
    /// Sets (or clears, with <see langword="null"/>) the function that adds the live figures of the running stream (lag,
    /// checkpoint age, durable checkpoint) to each status snapshot while the consumer is streaming.
    /// </summary>
    /// <param name="live">Returns the snapshot with the live figures; called by health checks on their threads.</param>
    public void SetLiveStatus(Func<ConsumerStatus, ConsumerStatus>? live) => _tracker.SetLive(live);
}
