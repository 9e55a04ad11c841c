using MySqlConnector;

namespace Cdc.Checkpoint.MySql.Internal;

/// <summary>
/// Classifies MySqlConnector's <see cref="MySqlException"/> (its <see cref="MySqlException.ErrorCode"/>, the server's
/// error number, or a client-side code for a connection that failed) into what a checkpoint caller acts on.
/// </summary>
internal static class MySqlErrors
{
    /// <summary>
    /// The server refused for lack of a privilege: 1044 (no access to the database), 1045 (login refused), 1142 (table
    /// privilege), 1143 (column privilege), 1227 (a global privilege such as <c>REPLICATION CLIENT</c>/<c>BINLOG MONITOR</c>).
    /// </summary>
    public static bool IsAccessDenied(MySqlException exception) => exception.ErrorCode is
        MySqlErrorCode.DatabaseAccessDenied
        or MySqlErrorCode.AccessDenied
        or MySqlErrorCode.TableAccessDenied
        or MySqlErrorCode.ColumnAccessDenied
        or MySqlErrorCode.SpecifiedAccessDeniedError;

    /// <summary>Error 1146: the table does not exist.</summary>
    public static bool IsNoSuchTable(MySqlException exception) => exception.ErrorCode == MySqlErrorCode.NoSuchTable;

    /// <summary>
    /// Retrying the same operation may succeed: a deadlock victim (1213), a lock-wait timeout (1205), or a connection
    /// that could not be opened or was lost (MySqlConnector's own <see cref="MySqlException.IsTransient"/> covers these and
    /// the other connection failures it knows).
    /// </summary>
    public static bool IsTransient(MySqlException exception) =>
        exception.IsTransient
        || exception.ErrorCode is MySqlErrorCode.LockDeadlock or MySqlErrorCode.LockWaitTimeout or MySqlErrorCode.UnableToConnectToHost;

    /// <summary>
    /// A <see cref="CheckpointErrorCode.Misconfigured"/> error for a refused privilege: what was refused (the server's
    /// message names the user and the object), the privileges the operation needs, and the <c>GRANT</c> that fixes it.
    /// </summary>
    /// <param name="exception">The server's refusal.</param>
    /// <param name="operation">What was refused, completing "The database user may not …".</param>
    /// <param name="grants">The GRANT statements that fix it, with <c>&lt;user&gt;</c> for the account the server named.</param>
    public static CheckpointException AccessDenied(MySqlException exception, string operation, string grants) =>
        new(
            CheckpointErrorCode.Misconfigured,
            $"The database user may not {operation}: {exception.Message} (MySQL error {exception.Number}). Fix: {grants} " +
            "(<user> is the account named in the server's message).",
            exception);
}
