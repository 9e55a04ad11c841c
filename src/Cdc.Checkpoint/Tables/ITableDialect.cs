using System.Data.Common;

namespace Cdc.Checkpoint.Tables;

/// <summary>
/// What a provider contributes to the table-store protocol, as the internal parts of <see cref="TableCheckpointStore"/> call
/// it. <see cref="TableCheckpointStore"/> implements it explicitly by forwarding to its protected abstract members (where
/// each is documented), so the parts can live outside the public class without widening what a provider sees.
/// </summary>
internal interface ITableDialect
{
    Task CreateTablesAsync(DbConnection connection, CancellationToken cancellationToken);

    Task<long> IncrementEpochAsync(DbConnection connection, string owner, DateTimeOffset now, CancellationToken cancellationToken);

    Task<TableLock> LockAsync(DbConnection connection, DbTransaction transaction, string sourceType, TableRowWrite? writeAhead, CancellationToken cancellationToken);

    Task<ulong?> WriteRowAsync(DbConnection connection, DbTransaction transaction, TableRowWrite write, TableLock locked, TableAuditWrite? audit, CancellationToken cancellationToken);

    Task<(bool Written, ulong? Sequence)> TryUpdateKnownRowAsync(DbConnection connection, TableRowWrite write, string knownOffsetJson, ulong knownCount, CancellationToken cancellationToken);

    bool IsMissingTable(DbException exception);

    bool IsAccessDenied(DbException exception);

    bool IsTransient(DbException exception);

    string DescribeError(DbException exception);

    string GrantFix(bool createSchema);
}
