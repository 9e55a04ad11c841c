using System.Data.Common;

namespace Cdc.Checkpoint.MySql.Internal;

/// <summary>Small provider-neutral command helpers; parameters are named <c>@name</c> as MySqlConnector expects.</summary>
internal static class SqlCommands
{
    /// <summary>MySQL/MariaDB error 1146, <c>ER_NO_SUCH_TABLE</c>.</summary>
    public const int NoSuchTable = 1146;

    /// <summary>MySQL/MariaDB error 1227, <c>ER_SPECIFIC_ACCESS_DENIED_ERROR</c> ("you need the REPLICATION CLIENT privilege").</summary>
    public const int SpecificAccessDenied = 1227;

    /// <summary>MySQL/MariaDB error 1381, <c>ER_NO_BINARY_LOGGING</c> ("You are not using binary logging").</summary>
    public const int NoBinaryLogging = 1381;

    public static DbCommand Create(DbConnection connection, DbTransaction? transaction, string sql, params ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value ?? DBNull.Value;
            command.Parameters.Add(parameter);
        }

        return command;
    }

    public static async Task<int> ExecuteAsync(DbConnection connection, DbTransaction? transaction, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        var command = Create(connection, transaction, sql, parameters);
        await using (command.ConfigureAwait(false))
        {
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Reads every row of the first result set as raw values.</summary>
    public static async Task<List<object?[]>> RowsAsync(DbConnection connection, DbTransaction? transaction, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        var command = Create(connection, transaction, sql, parameters);
        await using (command.ConfigureAwait(false))
        {
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                var rows = new List<object?[]>();
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var row = new object?[reader.FieldCount];
                    for (var i = 0; i < row.Length; i++)
                    {
                        row[i] = await reader.IsDBNullAsync(i, cancellationToken).ConfigureAwait(false) ? null : reader.GetValue(i);
                    }

                    rows.Add(row);
                }

                return rows;
            }
        }
    }

    /// <summary>
    /// The server error number of a provider exception: MySqlConnector and MySql.Data put it in
    /// <c>Data["Server Error Code"]</c>; <see langword="null"/> when absent.
    /// </summary>
    public static int? ServerErrorNumber(DbException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception.Data["Server Error Code"] switch
        {
            int number => number,
            long number => (int)number,
            _ => null,
        };
    }
}
