using System.Data.Common;

namespace Cdc.Checkpoint.Tables;

// The dialect a provider contributes: the protected members a provider's store overrides, documented here once, and their
// explicit forwarding to ITableDialect, through which the internal parts (TableFence, TableStoreWriter, TableStoreErrors)
// call them. A partial file rather than a part of its own: these members are the public class's extension contract.
public abstract partial class TableCheckpointStore : ITableDialect
{
    /// <summary>Creates the three tables (and whatever else the dialect needs) if they do not exist.</summary>
    /// <param name="connection">An open connection.</param>
    /// <param name="cancellationToken">Cancels the commands.</param>
    /// <returns>A task that completes when they exist.</returns>
    protected abstract Task CreateTablesAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>Inserts the fence row with epoch 1, or increments its epoch, recording the owner; returns the new epoch.</summary>
    /// <param name="connection">An open connection, outside any transaction.</param>
    /// <param name="owner">The owner text.</param>
    /// <param name="now">The acquisition time.</param>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>The epoch after the increment. A value that cannot be read throws <see cref="FormatException"/>.</returns>
    protected abstract Task<long> IncrementEpochAsync(DbConnection connection, string owner, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// The first step of the full path: locks the name's fence row, then locks and reads the checkpoint row of
    /// <paramref name="sourceType"/> with a snapshot taken after the fence lock is held. With <paramref name="writeAhead"/>
    /// the dialect may also send the upsert in the same round trip (the store rolls it back when the guards refuse).
    /// </summary>
    /// <param name="connection">The transaction's connection.</param>
    /// <param name="transaction">The transaction.</param>
    /// <param name="sourceType">The source type of the row.</param>
    /// <param name="writeAhead">The row to upsert in the same round trip, or <see langword="null"/> to write nothing yet.</param>
    /// <param name="cancellationToken">Cancels the commands.</param>
    /// <returns>What was read, and whether the upsert was sent.</returns>
    protected abstract Task<TableLock> LockAsync(
        DbConnection connection, DbTransaction transaction, string sourceType, TableRowWrite? writeAhead, CancellationToken cancellationToken);

    /// <summary>The second step of the full path: upserts the row (and, for a rewind, inserts the audit row first).</summary>
    /// <param name="connection">The transaction's connection.</param>
    /// <param name="transaction">The transaction.</param>
    /// <param name="write">The row to write.</param>
    /// <param name="locked">What <see cref="LockAsync"/> returned.</param>
    /// <param name="audit">The audit row of a rewind, or <see langword="null"/> for a save.</param>
    /// <param name="cancellationToken">Cancels the commands.</param>
    /// <returns>The write sequence given to the row when the dialect assigns it; <see langword="null"/> when the server does.</returns>
    protected abstract Task<ulong?> WriteRowAsync(
        DbConnection connection, DbTransaction transaction, TableRowWrite write, TableLock locked, TableAuditWrite? audit, CancellationToken cancellationToken);

    /// <summary>
    /// The one-statement save: one autocommitted statement that writes <paramref name="write"/> only when the row still
    /// holds exactly <paramref name="knownOffsetJson"/> and <paramref name="knownCount"/> (and the row format) and only
    /// while the fence row holds <see cref="TableRowWrite.Epoch"/>, read with a shared lock until the statement commits.
    /// </summary>
    /// <param name="connection">An open connection, outside any transaction.</param>
    /// <param name="write">The row to write.</param>
    /// <param name="knownOffsetJson">The offset JSON this instance knows the row holds.</param>
    /// <param name="knownCount">The count this instance knows the row holds.</param>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>Whether the row matched and was written, and the write sequence when the dialect assigns it.</returns>
    protected abstract Task<(bool Written, ulong? Sequence)> TryUpdateKnownRowAsync(
        DbConnection connection, TableRowWrite write, string knownOffsetJson, ulong knownCount, CancellationToken cancellationToken);

    /// <summary>Reads the name's checkpoint rows without locking: the one of <paramref name="sourceType"/>, or all by source type when <see langword="null"/>.</summary>
    /// <param name="connection">An open connection.</param>
    /// <param name="sourceType">The source type, or <see langword="null"/> for every row of the name.</param>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>The rows. A value that cannot be read throws <see cref="FormatException"/>.</returns>
    protected abstract Task<IReadOnlyList<TableRow>> ReadRowsAsync(DbConnection connection, string? sourceType, CancellationToken cancellationToken);

    /// <summary>Reads the name's fence row without locking it.</summary>
    /// <param name="connection">An open connection.</param>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>The fence, or <see langword="null"/>. A value that cannot be read throws <see cref="FormatException"/>.</returns>
    protected abstract Task<CheckpointFence?> ReadFenceRowAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>Reads the name's newest audit rows, newest first.</summary>
    /// <param name="connection">An open connection.</param>
    /// <param name="limit">The most rows to return.</param>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>The entries. A value that cannot be read throws <see cref="FormatException"/>.</returns>
    protected abstract Task<IReadOnlyList<CheckpointAuditEntry>> ReadAuditRowsAsync(DbConnection connection, int limit, CancellationToken cancellationToken);

    /// <summary>Whether the server said that a checkpoint table does not exist.</summary>
    /// <param name="exception">The provider's exception.</param>
    /// <returns><see langword="true"/> for a missing table.</returns>
    protected abstract bool IsMissingTable(DbException exception);

    /// <summary>Whether the server refused for lack of a privilege.</summary>
    /// <param name="exception">The provider's exception.</param>
    /// <returns><see langword="true"/> for a refused privilege.</returns>
    protected abstract bool IsAccessDenied(DbException exception);

    /// <summary>
    /// Whether retrying the same save may succeed: a deadlock, a serialization failure, a lock-wait timeout or a lost
    /// connection. By default the provider's <see cref="DbException.IsTransient"/>.
    /// </summary>
    /// <param name="exception">The provider's exception.</param>
    /// <returns><see langword="true"/> when a retry may succeed.</returns>
    protected virtual bool IsTransient(DbException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception.IsTransient;
    }

    /// <summary>The server's code for an error in the form messages quote it, for example <c>SQLSTATE 42501</c>.</summary>
    /// <param name="exception">The provider's exception.</param>
    /// <returns>The code text.</returns>
    protected virtual string DescribeError(DbException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return $"SQLSTATE {exception.SqlState ?? "unknown"}";
    }

    /// <summary>The GRANT statements that let the store's user work, with <c>&lt;user&gt;</c> for the account.</summary>
    /// <param name="createSchema">For <see cref="CreateSchemaAsync"/> (the privilege to create tables) rather than for reads and saves.</param>
    /// <returns>The statements.</returns>
    protected abstract string GrantFix(bool createSchema);

    Task ITableDialect.CreateTablesAsync(DbConnection connection, CancellationToken cancellationToken) => CreateTablesAsync(connection, cancellationToken);

    Task<long> ITableDialect.IncrementEpochAsync(DbConnection connection, string owner, DateTimeOffset now, CancellationToken cancellationToken) =>
        IncrementEpochAsync(connection, owner, now, cancellationToken);

    Task<TableLock> ITableDialect.LockAsync(DbConnection connection, DbTransaction transaction, string sourceType, TableRowWrite? writeAhead, CancellationToken cancellationToken) =>
        LockAsync(connection, transaction, sourceType, writeAhead, cancellationToken);

    Task<ulong?> ITableDialect.WriteRowAsync(DbConnection connection, DbTransaction transaction, TableRowWrite write, TableLock locked, TableAuditWrite? audit, CancellationToken cancellationToken) =>
        WriteRowAsync(connection, transaction, write, locked, audit, cancellationToken);

    Task<(bool Written, ulong? Sequence)> ITableDialect.TryUpdateKnownRowAsync(DbConnection connection, TableRowWrite write, string knownOffsetJson, ulong knownCount, CancellationToken cancellationToken) =>
        TryUpdateKnownRowAsync(connection, write, knownOffsetJson, knownCount, cancellationToken);

    bool ITableDialect.IsMissingTable(DbException exception) => IsMissingTable(exception);

    bool ITableDialect.IsAccessDenied(DbException exception) => IsAccessDenied(exception);

    bool ITableDialect.IsTransient(DbException exception) => IsTransient(exception);

    string ITableDialect.DescribeError(DbException exception) => DescribeError(exception);

    string ITableDialect.GrantFix(bool createSchema) => GrantFix(createSchema);
}
