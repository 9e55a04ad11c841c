using System.Data.Common;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Tables;

/// <summary>
/// How a table store words its failures: a provider's <see cref="DbException"/> becomes a typed
/// <see cref="CheckpointException"/> naming the table, the checkpoint and the fix.
/// </summary>
internal sealed class TableStoreErrors
{
    private readonly ITableDialect _dialect;
    private readonly string _tableName;
    private readonly string _storeTypeName;
    private readonly string _docsPage;

    public TableStoreErrors(ITableDialect dialect, string tableName, string name, string storeTypeName, string docsPage)
    {
        _dialect = dialect;
        _tableName = tableName;
        _storeTypeName = storeTypeName;
        _docsPage = docsPage;
        Where = $"{tableName}/{name}";
    }

    /// <summary>The checkpoint as messages name it: <c>table/name</c>.</summary>
    public string Where { get; }

    private string TablesText => $"{_tableName}, {_tableName}_fence and {_tableName}_audit";

    /// <summary>Whether an operator must fix the error (a missing table or a refused privilege); a retry cannot.</summary>
    public bool IsMisconfiguration(DbException ex) => _dialect.IsMissingTable(ex) || _dialect.IsAccessDenied(ex);

    public bool IsAccessDenied(DbException ex) => _dialect.IsAccessDenied(ex);

    public CheckpointException Misconfigured(DbException ex) =>
        _dialect.IsAccessDenied(ex)
            ? AccessDenied(ex, createSchema: false)
            : new(
                CheckpointErrorCode.Misconfigured,
                $"The checkpoint tables {TablesText} do not exist ({ex.Message}). Create them once with {_storeTypeName}.CreateSchemaAsync or the SQL in {_docsPage}.",
                ex);

    public CheckpointException AccessDenied(DbException ex, bool createSchema)
    {
        var operation = createSchema ? $"create the checkpoint tables {TablesText}" : $"use the checkpoint tables {TablesText}";
        return new(
            CheckpointErrorCode.Misconfigured,
            $"The database user may not {operation}: {ex.Message} ({_dialect.DescribeError(ex)}). Fix: {_dialect.GrantFix(createSchema)} (<user> is the account named in the server's message).",
            ex);
    }

    public CheckpointException SaveFailed(CheckpointOffset offset, DbException ex)
    {
        if (IsMisconfiguration(ex))
        {
            return Misconfigured(ex);
        }

        var transient = _dialect.IsTransient(ex);
        return new(
            CheckpointErrorCode.WriteFailed,
            $"Saving checkpoint {Where} at {offset} failed: {ex.Message} ({_dialect.DescribeError(ex)}). The transaction was not committed and the stored row is unchanged; " +
            (transient ? "the failure is transient (deadlock, serialization failure, lock-wait timeout or connection): retry the save." : "retry when the server is reachable."),
            ex)
        {
            TransientCause = transient,
        };
    }

    public CheckpointException CorruptFence(string problem) =>
        new(CheckpointErrorCode.Corrupt, $"The fence row of checkpoint {Where} in {_tableName}_fence cannot be read: {problem}. Repair the row, or delete it and acquire the name again.");

    public CheckpointException CorruptRow(FormatException ex) =>
        new(CheckpointErrorCode.Corrupt, $"A row of checkpoint {Where} cannot be read: {ex.Message} Repair or rewind the row.", ex);
}
