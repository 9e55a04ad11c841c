using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Tables;

/// <summary>What a provider's table store contributes to <see cref="TableCheckpointStore"/> besides its SQL.</summary>
/// <param name="TableName">The table name as messages show it (<c>schema.table</c>, <c>database.table</c>).</param>
/// <param name="StoreTag">The <c>cdc.store</c> tag of the save metrics, for example <c>postgres_table</c>.</param>
/// <param name="EventIdBase">The event id of the store's first log event (schema created); the six others follow it.</param>
/// <param name="DocsPage">Where the schema SQL is documented, for error messages (for example <c>docs/postgres.md</c>).</param>
/// <param name="Codecs">The codecs that read stored offsets back.</param>
/// <param name="Owner">The owner text recorded with each acquisition.</param>
/// <param name="KnowsLoadedRows">Whether a loaded row counts as known, so that the next save may be one statement (only
/// when the server assigns the write sequence: a dialect that assigns it itself knows it only from its own writes).</param>
public sealed record TableStoreSetup(
    string TableName,
    string StoreTag,
    int EventIdBase,
    string DocsPage,
    OffsetCodecRegistry Codecs,
    string Owner,
    bool KnowsLoadedRows);

/// <summary>A checkpoint row as a dialect read it, before the store validates it.</summary>
/// <param name="SourceType">The source type.</param>
/// <param name="OffsetJson">The offset JSON text.</param>
/// <param name="CommittedEventCount">The committed event count.</param>
/// <param name="Epoch">The epoch of the owner that wrote the row.</param>
/// <param name="Sequence">The write sequence.</param>
/// <param name="FormatVersion">The row layout version.</param>
/// <param name="UpdatedAt">When the row was written (UTC).</param>
public sealed record TableRow(string SourceType, string OffsetJson, ulong CommittedEventCount, long Epoch, ulong Sequence, int FormatVersion, DateTimeOffset UpdatedAt);

/// <summary>A checkpoint row to write.</summary>
/// <param name="Name">The checkpoint name.</param>
/// <param name="SourceType">The source type.</param>
/// <param name="OffsetJson">The offset JSON text.</param>
/// <param name="CommittedEventCount">The committed event count.</param>
/// <param name="Epoch">The writing owner's epoch.</param>
/// <param name="FormatVersion">The row layout version.</param>
/// <param name="UpdatedAt">The write time (UTC).</param>
public sealed record TableRowWrite(string Name, string SourceType, string OffsetJson, ulong CommittedEventCount, long Epoch, int FormatVersion, DateTimeOffset UpdatedAt);

/// <summary>The audit row a rewind writes with its row.</summary>
/// <param name="OldOffsetJson">The offset JSON before, or <see langword="null"/> when there was no row.</param>
/// <param name="OldCount">The count before, or <see langword="null"/> when there was no row.</param>
/// <param name="Reason">The reason given.</param>
public sealed record TableAuditWrite(string? OldOffsetJson, ulong? OldCount, string Reason);

/// <summary>What the first step of a table store's full path read under the fence lock.</summary>
/// <param name="Epoch">The fence row's epoch, or <see langword="null"/> when there is no fence row.</param>
/// <param name="Row">The locked checkpoint row, or <see langword="null"/> when there is none.</param>
/// <param name="WroteAhead">Whether the dialect already sent the upsert.</param>
/// <param name="LastSequence">The name's highest write sequence, for a dialect that assigns sequences itself; else 0.</param>
public sealed record TableLock(long? Epoch, TableRow? Row, bool WroteAhead, ulong LastSequence);
