using System.Data.Common;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Integration;

/// <summary>Small helpers so integration tests read as SQL, through provider-neutral ADO.NET types only.</summary>
internal static class MariaDbSql
{
    public static async Task<int> ExecuteAsync(DbConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        await using var command = Create(connection, sql, parameters);
        return await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }

    public static async Task<T> ScalarAsync<T>(DbConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        await using var command = Create(connection, sql, parameters);
        await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        Assert.True(await reader.ReadAsync(TestContext.Current.CancellationToken), $"'{sql}' returned no row.");
        return reader.GetFieldValue<T>(0);
    }

    public static DbCommand Create(DbConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }

        return command;
    }
}
