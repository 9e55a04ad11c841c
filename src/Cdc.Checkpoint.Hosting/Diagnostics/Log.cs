using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Hosting.Diagnostics;

/// <summary>Source-generated log messages of the hosting packages; event ids are listed in <see cref="HostingEventId"/>.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = HostingEventId.ConsumerStarting, Level = LogLevel.Information, Message = "Consumer {Consumer} is starting")]
    public static partial void ConsumerStarting(ILogger logger, string consumer);

    [LoggerMessage(EventId = HostingEventId.ConsumerStreaming, Level = LogLevel.Information, Message = "Consumer {Consumer} is streaming from {Position} ({Verdict})")]
    public static partial void ConsumerStreaming(ILogger logger, string consumer, string position, string verdict);

    [LoggerMessage(EventId = HostingEventId.ConsumerRetrying, Level = LogLevel.Warning,
        Message = "Consumer {Consumer}: transient failure ({Code}), retry {Attempt} in {Delay}: {Reason}")]
    public static partial void ConsumerRetrying(ILogger logger, string consumer, string code, int attempt, TimeSpan delay, string reason, Exception exception);

    [LoggerMessage(EventId = HostingEventId.ConsumerFailed, Level = LogLevel.Critical,
        Message = "Consumer {Consumer} stopped: {Code}. {Reason}")]
    public static partial void ConsumerFailed(ILogger logger, string consumer, string code, string reason, Exception exception);

    [LoggerMessage(EventId = HostingEventId.ConsumerStopped, Level = LogLevel.Information, Message = "Consumer {Consumer} stopped; final checkpoint {Checkpoint}")]
    public static partial void ConsumerStopped(ILogger logger, string consumer, string checkpoint);

    [LoggerMessage(EventId = HostingEventId.HostStopRequested, Level = LogLevel.Critical,
        Message = "Stopping the host because consumer {Consumer} failed (exit code 1); set OnFailure to MarkUnhealthy to keep the host running")]
    public static partial void HostStopRequested(ILogger logger, string consumer);

    [LoggerMessage(EventId = HostingEventId.PolicyCheckpoint, Level = LogLevel.Debug, Message = "Consumer {Consumer}: checkpoint saved by policy ({Trigger})")]
    public static partial void PolicyCheckpoint(ILogger logger, string consumer, string trigger);

}
