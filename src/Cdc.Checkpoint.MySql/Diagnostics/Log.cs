using Cdc.Checkpoint.MySql.Validation;
using Cdc.Checkpoint.Offsets;
using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.MySql.Diagnostics;

/// <summary>Source-generated log messages of Cdc.Checkpoint.MySql; event ids are listed in <see cref="MySqlEventId"/>.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = MySqlEventId.ResumeValidated, Level = LogLevel.Information,
        Message = "Resume validation on {Server}: {Verdict}. {Detail}")]
    public static partial void ResumeValidated(ILogger logger, string server, MySqlResumeVerdict verdict, string detail);

    [LoggerMessage(EventId = MySqlEventId.ResumeRefused, Level = LogLevel.Error,
        Message = "Refusing to resume on {Server}: {Verdict}. {Detail}")]
    public static partial void ResumeRefused(ILogger logger, string server, MySqlResumeVerdict verdict, string detail);

    [LoggerMessage(EventId = MySqlEventId.GapAccepted, Level = LogLevel.Warning,
        Message = "Resuming on {Server} although {Verdict}: accepted by an explicit opt-in, transactions are lost. {Detail}")]
    public static partial void GapAccepted(ILogger logger, string server, MySqlResumeVerdict verdict, string detail);

    [LoggerMessage(EventId = MySqlEventId.ServerFactsRead, Level = LogLevel.Debug,
        Message = "Read server facts: {Facts}")]
    public static partial void ServerFactsRead(ILogger logger, MySqlServerFacts facts);

    [LoggerMessage(EventId = MySqlEventId.DomainsIgnored, Level = LogLevel.Warning,
        Message = "Ignoring checkpoint GTID domains {Domains} that {Server} does not have (IgnoreMissingDomains)")]
    public static partial void DomainsIgnored(ILogger logger, string domains, string server);

    [LoggerMessage(EventId = MySqlEventId.IdentityUnverified, Level = LogLevel.Warning,
        Message = "Checkpoint {Checkpoint} records neither a server UUID nor a server id, so it cannot be checked against {Server}; record the server identity in new checkpoints")]
    public static partial void IdentityUnverified(ILogger logger, CheckpointOffset checkpoint, string server);
}
