using System.Collections.Concurrent;
using Cdc.Checkpoint.Offsets;
using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Tables;

/// <summary>
/// The log events of <see cref="TableCheckpointStore"/>, defined once per provider: each provider keeps its own event ids
/// (PostgreSQL 4040–4046, MySQL 5040–5046), so they are defined from the provider's first id rather than as constants.
/// </summary>
internal sealed class TableStoreLog
{
    private static readonly ConcurrentDictionary<int, Events> ByBase = new();
    private readonly Events _events;
    private readonly ILogger _logger;

    private TableStoreLog(Events events, ILogger logger)
    {
        _events = events;
        _logger = logger;
    }

    public static TableStoreLog For(int eventIdBase, ILogger logger) => new(ByBase.GetOrAdd(eventIdBase, static b => new Events(b)), logger);

    public void SchemaCreated(string table) => _events.SchemaCreated(_logger, table, null);

    public void EpochAcquired(string name, string table, long epoch) => _events.EpochAcquired(_logger, name, table, epoch, null);

    public void Saved(string name, string sourceType, CheckpointOffset offset, ulong count, long epoch, ulong? sequence)
    {
        if (sequence is { } assigned)
        {
            _events.SavedWithSequence(_logger, name, sourceType, offset, count, epoch, assigned, null);
        }
        else
        {
            _events.Saved(_logger, name, sourceType, offset, count, epoch, null);
        }
    }

    public void SaveRefused(string name, string sourceType, string reason) => _events.SaveRefused(_logger, name, sourceType, reason, null);

    public void StaleEpoch(string name, long epoch, long currentEpoch) => _events.StaleEpoch(_logger, name, epoch, currentEpoch, null);

    public void Rewound(string name, string sourceType, CheckpointOffset? oldOffset, ulong? oldCount, CheckpointOffset newOffset, ulong newCount, string reason)
    {
        if (_logger.IsEnabled(LogLevel.Warning))
        {
            // Seven values, one more than LoggerMessage.Define takes, and the event id is the provider's, which the
            // [LoggerMessage] generator cannot take at run time; a rewind is rare, so the boxing does not matter.
#pragma warning disable CA1848
            _logger.Log(
                LogLevel.Warning,
                _events.RewoundId,
                "Checkpoint {Name}/{SourceType} rewound from {OldOffset} (count {OldCount}) to {NewOffset} (count {NewCount}); reason: {Reason}",
                name,
                sourceType,
                oldOffset,
                oldCount,
                newOffset,
                newCount,
                reason);
#pragma warning restore CA1848
        }
    }

    public void Loaded(string name, string sourceType, CheckpointOffset offset, ulong count, long epoch) => _events.Loaded(_logger, name, sourceType, offset, count, epoch, null);

    private sealed class Events(int first)
    {
        public readonly Action<ILogger, string, Exception?> SchemaCreated = LoggerMessage.Define<string>(
            LogLevel.Information, new EventId(first, "StoreSchemaCreated"), "Checkpoint tables {Table} (with its _fence and _audit tables) are present");

        public readonly Action<ILogger, string, string, long, Exception?> EpochAcquired = LoggerMessage.Define<string, string, long>(
            LogLevel.Information, new EventId(first + 1, "StoreEpochAcquired"), "Acquired checkpoint {Name} in {Table} with fencing epoch {Epoch}");

        public readonly Action<ILogger, string, string, CheckpointOffset, ulong, long, Exception?> Saved = LoggerMessage.Define<string, string, CheckpointOffset, ulong, long>(
            LogLevel.Debug, new EventId(first + 2, "StoreSaved"), "Saved checkpoint {Name}/{SourceType} at {Offset} (committed events {Count}, epoch {Epoch})");

        public readonly Action<ILogger, string, string, CheckpointOffset, ulong, long, ulong, Exception?> SavedWithSequence = LoggerMessage.Define<string, string, CheckpointOffset, ulong, long, ulong>(
            LogLevel.Debug, new EventId(first + 2, "StoreSaved"), "Saved checkpoint {Name}/{SourceType} at {Offset} (committed events {Count}, epoch {Epoch}, sequence {Sequence})");

        public readonly Action<ILogger, string, string, string, Exception?> SaveRefused = LoggerMessage.Define<string, string, string>(
            LogLevel.Warning, new EventId(first + 3, "StoreSaveRefused"), "Refused checkpoint save for {Name}/{SourceType}: {Reason}");

        public readonly Action<ILogger, string, long, long, Exception?> StaleEpoch = LoggerMessage.Define<string, long, long>(
            LogLevel.Error, new EventId(first + 4, "StoreStaleEpoch"), "Checkpoint {Name}: this owner holds epoch {Epoch} but the name is at epoch {CurrentEpoch}; another owner has taken over");

        public readonly EventId RewoundId = new(first + 5, "StoreRewound");

        public readonly Action<ILogger, string, string, CheckpointOffset, ulong, long, Exception?> Loaded = LoggerMessage.Define<string, string, CheckpointOffset, ulong, long>(
            LogLevel.Debug, new EventId(first + 6, "StoreLoaded"), "Loaded checkpoint {Name}/{SourceType} at {Offset} (committed events {Count}, epoch {Epoch})");
    }
}
