using System.Data.Common;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Tables;

namespace Cdc.Checkpoint.Conformance.TableStores;

/// <summary>
/// What the shared table-store suites (<see cref="TableStoreReadTests"/>, <see cref="TableStoreOneStatementSaveTests"/>,
/// <see cref="TableStoreFenceTests"/>, <see cref="TableStoreErrorTests"/>) need from a provider, written once per provider test project against its real
/// throwaway server: stores on a database that holds the checkpoint tables, the provider's offset, and the few things only
/// its SQL or its public API can do.
/// </summary>
public abstract class TableStoreHarness
{
    /// <summary>The provider's own ordered offset at <paramref name="position"/> (later positions are progress).</summary>
    public abstract CheckpointOffset Offset(ulong position);

    /// <summary>
    /// A store on the database with the checkpoint tables (its codecs also read <see cref="ConformanceOffset"/>), under a
    /// fresh name unless <paramref name="name"/> is given.
    /// </summary>
    public abstract Task<TableCheckpointStore> NewStoreAsync(string? name = null, string owner = "test", TimeProvider? timeProvider = null);

    /// <summary>A store on a database where the checkpoint tables were never created.</summary>
    public abstract Task<TableCheckpointStore> NewStoreWithoutTablesAsync();

    /// <summary>An open connection to the database with the checkpoint tables; the caller disposes it.</summary>
    public abstract Task<DbConnection> OpenConnectionAsync();

    /// <summary>The provider's public save in the caller's transaction (<c>SaveAsync(NpgsqlTransaction, …)</c> and the like).</summary>
    public abstract ValueTask SaveAsync(TableCheckpointStore store, DbTransaction transaction, CheckpointOffset offset, ulong committedEventCount);

    /// <summary>
    /// Sets one column (<c>offset</c> as JSON text, <c>committed_event_count</c> or <c>format_version</c>) of the store's row
    /// of <paramref name="sourceType"/> directly in SQL, as an operator or another tool would; exactly one row must change.
    /// </summary>
    public abstract Task SetRowColumnAsync(TableCheckpointStore store, string sourceType, string column, object value);

    /// <summary>Offset JSON of the provider's source type that its codec refuses (a damaged row).</summary>
    public abstract string UnreadableOffsetJson { get; }

    /// <summary>
    /// Opens a session of its own and, in a transaction left open, increments the store's fence epoch (a new owner's
    /// acquisition in flight). The caller commits the transaction and disposes it and its connection.
    /// </summary>
    public abstract Task<DbTransaction> BeginFenceIncrementAsync(TableCheckpointStore store);

    /// <summary>
    /// Returns once <paramref name="waiting"/> is proven to wait for a lock <paramref name="holder"/> holds, by the server's
    /// lock-wait view where it has one (then the blocked statement must name <paramref name="table"/>); fails otherwise.
    /// </summary>
    public abstract Task ProveWaitsAsync(DbTransaction holder, Task waiting, string table);
}
