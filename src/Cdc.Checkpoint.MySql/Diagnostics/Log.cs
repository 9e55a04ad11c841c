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

    [LoggerMessage(EventId = MySqlEventId.StoreSchemaCreated, Level = LogLevel.Information,
        Message = "Checkpoint tables {Table}, {Table}_fence and {Table}_audit are present")]
    public static partial void StoreSchemaCreated(ILogger logger, string table);

    [LoggerMessage(EventId = MySqlEventId.StoreEpochAcquired, Level = LogLevel.Information,
        Message = "Acquired checkpoint {Name} in {Table} with fencing epoch {Epoch}")]
    public static partial void StoreEpochAcquired(ILogger logger, string name, string table, long epoch);

    [LoggerMessage(EventId = MySqlEventId.StoreSaved, Level = LogLevel.Debug,
        Message = "Saved checkpoint {Name}/{SourceType} at {Offset} (committed events {Count}, epoch {Epoch}, sequence {Sequence})")]
    public static partial void StoreSaved(ILogger logger, string name, string sourceType, CheckpointOffset offset, ulong count, long epoch, ulong sequence);

    [LoggerMessage(EventId = MySqlEventId.StoreSaveRefused, Level = LogLevel.Warning,
        Message = "Refused checkpoint save {Name}/{SourceType}: {Reason}")]
    public static partial void StoreSaveRefused(ILogger logger, string name, string sourceType, string reason);

    [LoggerMessage(EventId = MySqlEventId.StoreStaleEpoch, Level = LogLevel.Error,
        Message = "Checkpoint {Name}: this owner holds epoch {Epoch} but the name is at epoch {CurrentEpoch}; another owner took over")]
    public static partial void StoreStaleEpoch(ILogger logger, string name, long epoch, long currentEpoch);

    [LoggerMessage(EventId = MySqlEventId.StoreRewound, Level = LogLevel.Warning,
        Message = "Checkpoint {Name}/{SourceType} rewound from {OldOffset} (count {OldCount}) to {NewOffset} (count {NewCount}); reason: {Reason}")]
    public static partial void StoreRewound(ILogger logger, string name, string sourceType, CheckpointOffset? oldOffset, ulong? oldCount, CheckpointOffset newOffset, ulong newCount, string reason);

    [LoggerMessage(EventId = MySqlEventId.StoreLoaded, Level = LogLevel.Debug,
        Message = "Loaded checkpoint {Name}/{SourceType} at {Offset} (committed events {Count}, epoch {Epoch})")]
    public static partial void StoreLoaded(ILogger logger, string name, string sourceType, CheckpointOffset offset, ulong count, long epoch);
}
