using System.Data;
using System.Data.Common;

namespace Cdc.Checkpoint.TestServers.MariaDb.Ado;

/// <summary>
/// A transaction started with <c>SET TRANSACTION ISOLATION LEVEL …; START TRANSACTION</c> and ended with <c>COMMIT</c> or
/// <c>ROLLBACK</c>. Disposing an uncompleted transaction rolls it back.
/// </summary>
public sealed class MariaDbTestTransaction : DbTransaction
{
    private readonly MariaDbTestConnection _connection;
    private readonly IsolationLevel _isolationLevel;
    private bool _completed;

    internal MariaDbTestTransaction(MariaDbTestConnection connection, IsolationLevel isolationLevel)
    {
        _connection = connection;
        _isolationLevel = isolationLevel;
    }

    /// <summary>The connection, or <see langword="null"/> once the transaction has completed.</summary>
    public new MariaDbTestConnection? Connection => _completed ? null : _connection;

    /// <summary>The isolation level; <see cref="IsolationLevel.Unspecified"/> was started as REPEATABLE READ.</summary>
    public override IsolationLevel IsolationLevel => _isolationLevel;

    /// <inheritdoc />
    protected override DbConnection? DbConnection => Connection;

    /// <inheritdoc />
    public override void Commit() => Complete("COMMIT");

    /// <inheritdoc />
    public override void Rollback() => Complete("ROLLBACK");

    /// <inheritdoc />
    public override Task CommitAsync(CancellationToken cancellationToken = default) =>
        MariaDbAsync.RunAsync(
            () =>
            {
                Commit();
                return true;
            },
            cancel: null,
            cancellationToken);

    /// <inheritdoc />
    public override Task RollbackAsync(CancellationToken cancellationToken = default) =>
        MariaDbAsync.RunAsync(
            () =>
            {
                Rollback();
                return true;
            },
            cancel: null,
            cancellationToken);

    internal void MarkCompleted()
    {
        _completed = true;
        if (ReferenceEquals(_connection.CurrentTransaction, this))
        {
            _connection.CurrentTransaction = null;
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && !_completed)
        {
            if (_connection.State == ConnectionState.Open && _connection.ActiveReader is null)
            {
                Rollback();
            }
            else
            {
                // A closed connection already rolled back on the server; with an open reader the statement cannot
                // run, and the server rolls back when the session ends.
                MarkCompleted();
            }
        }

        base.Dispose(disposing);
    }

    private void Complete(string statement)
    {
        if (_completed)
        {
            throw new InvalidOperationException("This transaction has already been committed or rolled back.");
        }

        if (_connection.ActiveReader is not null)
        {
            throw new InvalidOperationException("There is already an open DataReader associated with this Connection which must be closed first.");
        }

        try
        {
            _connection.ExecuteInternal(statement);
        }
        finally
        {
            // After a failed COMMIT the server has no usable transaction either (MariaDB rolls back on commit errors
            // such as deadlock); never let the connection keep pointing at this one.
            MarkCompleted();
        }
    }
}
