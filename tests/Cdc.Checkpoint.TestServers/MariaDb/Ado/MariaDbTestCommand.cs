using System.ComponentModel;
using System.Data;
using System.Data.Common;
using System.Diagnostics.CodeAnalysis;

namespace Cdc.Checkpoint.TestServers.MariaDb.Ado;

/// <summary>
/// A text command. Parameters (<c>@name</c>, or positional <c>?</c>) are substituted client-side as SQL literals,
/// strings escaped with <c>mysql_real_escape_string</c> (MySqlConnector does the same for unprepared commands).
/// Several semicolon-separated statements may be sent at once; result sets without columns are skipped by readers and
/// their row counts summed into <see cref="DbDataReader.RecordsAffected"/>.
/// </summary>
public sealed class MariaDbTestCommand : DbCommand
{
    private readonly MariaDbTestParameterCollection _parameters = new();
    private string _commandText = string.Empty;

    /// <summary>Creates a command with no text and no connection.</summary>
    public MariaDbTestCommand()
    {
    }

    /// <summary>Creates a command.</summary>
    public MariaDbTestCommand(string? commandText, MariaDbTestConnection? connection = null, MariaDbTestTransaction? transaction = null)
    {
        CommandText = commandText;
        Connection = connection;
        Transaction = transaction;
    }

    /// <inheritdoc />
    [AllowNull]
    public override string CommandText
    {
        get => _commandText;
        set => _commandText = value ?? string.Empty;
    }

    /// <summary>Stored for API compatibility; not enforced (use a cancellation token to stop a statement).</summary>
    public override int CommandTimeout { get; set; } = 30;

    /// <summary>Only <see cref="CommandType.Text"/> can be executed.</summary>
    public override CommandType CommandType { get; set; } = CommandType.Text;

    /// <inheritdoc />
    [EditorBrowsable(EditorBrowsableState.Never)]
    public override bool DesignTimeVisible { get; set; }

    /// <inheritdoc />
    public override UpdateRowSource UpdatedRowSource { get; set; }

    /// <summary>The connection the command runs on.</summary>
    public new MariaDbTestConnection? Connection { get; set; }

    /// <summary>The parameters.</summary>
    public new MariaDbTestParameterCollection Parameters => _parameters;

    /// <summary>
    /// The transaction; must be the connection's active transaction (or <see langword="null"/> when there is none),
    /// unless the connection string says <c>Ignore Command Transaction=true</c> — the MySqlConnector rule.
    /// </summary>
    public new MariaDbTestTransaction? Transaction { get; set; }

    /// <inheritdoc />
    protected override DbConnection? DbConnection
    {
        get => Connection;
        set => Connection = value switch
        {
            null => null,
            MariaDbTestConnection c => c,
            _ => throw new ArgumentException($"Expected a {nameof(MariaDbTestConnection)}, got {value.GetType().FullName}.", nameof(value)),
        };
    }

    /// <inheritdoc />
    protected override DbParameterCollection DbParameterCollection => _parameters;

    /// <inheritdoc />
    protected override DbTransaction? DbTransaction
    {
        get => Transaction;
        set => Transaction = value switch
        {
            null => null,
            MariaDbTestTransaction t => t,
            _ => throw new ArgumentException($"Expected a {nameof(MariaDbTestTransaction)}, got {value.GetType().FullName}.", nameof(value)),
        };
    }

    /// <summary>Creates a parameter (not yet added to <see cref="Parameters"/>).</summary>
    public new MariaDbTestParameter CreateParameter() => new();

    /// <summary>Kills the statement this command is running (<c>KILL QUERY</c> from a second connection); no-op otherwise.</summary>
    public override void Cancel() => TryCancel();

    /// <inheritdoc />
    public override int ExecuteNonQuery()
    {
        using var reader = ExecuteReaderCore(CommandBehavior.Default);
        reader.Close();
        return reader.RecordsAffected;
    }

    /// <inheritdoc />
    public override object? ExecuteScalar()
    {
        using var reader = ExecuteReaderCore(CommandBehavior.Default);
        var result = reader.Read() && reader.FieldCount > 0 ? reader.GetValue(0) : null;
        reader.Close();
        return result;
    }

    /// <summary>Executes the command and returns a reader over its result sets.</summary>
    public new MariaDbTestDataReader ExecuteReader() => ExecuteReaderCore(CommandBehavior.Default);

    /// <summary>Executes the command and returns a reader over its result sets.</summary>
    public new MariaDbTestDataReader ExecuteReader(CommandBehavior behavior) => ExecuteReaderCore(behavior);

    /// <inheritdoc />
    public override Task<int> ExecuteNonQueryAsync(CancellationToken cancellationToken) =>
        MariaDbAsync.RunAsync(ExecuteNonQuery, TryCancel, cancellationToken);

    /// <inheritdoc />
    public override Task<object?> ExecuteScalarAsync(CancellationToken cancellationToken) =>
        MariaDbAsync.RunAsync(ExecuteScalar, TryCancel, cancellationToken);

    /// <summary>Validates only: statements are not prepared server-side.</summary>
    public override void Prepare() => _ = ValidateForExecute();

    /// <inheritdoc />
    protected override DbParameter CreateDbParameter() => CreateParameter();

    /// <inheritdoc />
    protected override DbDataReader ExecuteDbDataReader(CommandBehavior behavior) => ExecuteReaderCore(behavior);

    /// <inheritdoc />
    protected override Task<DbDataReader> ExecuteDbDataReaderAsync(CommandBehavior behavior, CancellationToken cancellationToken) =>
        MariaDbAsync.RunAsync<DbDataReader>(() => ExecuteReaderCore(behavior), TryCancel, cancellationToken);

    internal bool TryCancel() => Connection?.CancelCommand(this) ?? false;

    private MariaDbTestDataReader ExecuteReaderCore(CommandBehavior behavior)
    {
        var connection = ValidateForExecute();
        var sql = MariaDbSqlBinder.Bind(_commandText, _parameters, connection.Settings.AllowUserVariables, connection.Escape);
        return MariaDbTestDataReader.Execute(this, connection, sql, behavior);
    }

    private MariaDbTestConnection ValidateForExecute()
    {
        var connection = Connection ?? throw new InvalidOperationException("Connection property must be non-null.");
        if (connection.State != ConnectionState.Open)
        {
            throw new InvalidOperationException($"Connection must be Open; current state is {connection.State}.");
        }

        if (CommandType != CommandType.Text)
        {
            throw new NotSupportedException($"CommandType {CommandType} is not supported by the MariaDB test provider; use Text.");
        }

        if (string.IsNullOrWhiteSpace(_commandText))
        {
            throw new InvalidOperationException("CommandText must be specified.");
        }

        if (connection.ActiveReader is not null)
        {
            throw new InvalidOperationException("There is already an open DataReader associated with this Connection which must be closed first.");
        }

        if (!connection.Settings.IgnoreCommandTransaction && !ReferenceEquals(connection.CurrentTransaction, Transaction))
        {
            throw new InvalidOperationException(
                connection.CurrentTransaction is null
                    ? "The transaction associated with this command is not the connection's active transaction (it has completed, or belongs to another connection)."
                    : "The transaction associated with this command is not the connection's active transaction: set command.Transaction to the transaction BeginTransaction returned.");
        }

        return connection;
    }
}
