using System.Data.Common;

namespace Cdc.Checkpoint.TestServers.MariaDb.Ado;

/// <summary>
/// A <see cref="DbDataSource"/> over the MariaDB test provider, to hand to production code that takes a
/// <see cref="DbDataSource"/> (where production passes MySqlConnector's <c>MySqlDataSource</c>). Every connection is a new
/// physical connection (no pool); nothing needs disposing beyond the connections themselves.
/// </summary>
public sealed class MariaDbTestDataSource : DbDataSource
{
    /// <summary>Creates a data source; the connection string is validated now.</summary>
    /// <param name="connectionString">For example <c>Server=127.0.0.1;Port=3306;User=cdc;Password=…;Database=cdctest</c>.</param>
    /// <exception cref="ArgumentException">The connection string has an unsupported key or a bad value.</exception>
    public MariaDbTestDataSource(string connectionString)
    {
        _ = MariaDbConnectionSettings.Parse(connectionString);
        ConnectionString = connectionString;
    }

    /// <inheritdoc />
    public override string ConnectionString { get; }

    /// <summary>Creates a closed connection.</summary>
    public new MariaDbTestConnection CreateConnection() => new(ConnectionString);

    /// <summary>Creates and opens a connection.</summary>
    public new MariaDbTestConnection OpenConnection()
    {
        var connection = CreateConnection();
        try
        {
            connection.Open();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Creates and opens a connection.</summary>
    public new async ValueTask<MariaDbTestConnection> OpenConnectionAsync(CancellationToken cancellationToken = default)
    {
        var connection = CreateConnection();
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc />
    protected override DbConnection CreateDbConnection() => CreateConnection();

    /// <inheritdoc />
    protected override DbConnection OpenDbConnection() => OpenConnection();

    /// <inheritdoc />
    protected override async ValueTask<DbConnection> OpenDbConnectionAsync(CancellationToken cancellationToken = default) =>
        await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
}
