using Cdc.Checkpoint.Hosting.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Postgres.Hosting.Diagnostics;

/// <summary>Source-generated log messages of the PostgreSQL hosted consumer that the shared base does not log; ids in <see cref="HostingEventId"/>.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = HostingEventId.SlotCheckFailed, Level = LogLevel.Warning, Message = "Consumer {Consumer}: reading slot {Slot} for the health check failed")]
    public static partial void SlotCheckFailed(ILogger logger, string consumer, string slot, Exception exception);
}
