using System.Globalization;
using Cdc.Checkpoint.Postgres.Hosting;
using Npgsql;
using Npgsql.Replication.PgOutput.Messages;

namespace HostedConsumer;

/// <summary>
/// The only code the hosted consumer needs from its user: apply one committed transaction of <c>orders</c> to
/// <c>orders_sink</c>, in the transaction the consumer commits the checkpoint in.
/// </summary>
internal sealed class OrdersSink : IPostgresTransactionHandler
{
    public async ValueTask HandleAsync(PostgresTransaction transaction, CancellationToken cancellationToken)
    {
        var sink = transaction.Transaction ?? throw new InvalidOperationException("This sink needs the PostgreSQL checkpoint store: the rows and the checkpoint commit together.");
        await foreach (var change in transaction.Changes.WithCancellation(cancellationToken))
        {
            switch (change)
            {
                case InsertMessage insert:
                    var (id, item) = await ReadAsync(insert.NewRow, cancellationToken);
                    await ExecuteAsync(sink, "INSERT INTO orders_sink (id, item, commit_lsn) VALUES ($1, $2, $3::pg_lsn)", cancellationToken, id, item, transaction.FinalLsn.ToString());
                    break;
                case FullUpdateMessage or IndexUpdateMessage or DefaultUpdateMessage:
                    var (updatedId, updatedItem) = await ReadAsync(((UpdateMessage)change).NewRow, cancellationToken);
                    await ExecuteAsync(sink, "UPDATE orders_sink SET item = $2, commit_lsn = $3::pg_lsn WHERE id = $1", cancellationToken, updatedId, updatedItem, transaction.FinalLsn.ToString());
                    break;
                case KeyDeleteMessage delete:
                    var (deletedId, _) = await ReadAsync(delete.Key, cancellationToken);
                    await ExecuteAsync(sink, "DELETE FROM orders_sink WHERE id = $1", cancellationToken, deletedId);
                    break;
            }
        }
    }

    private static async Task ExecuteAsync(NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken, params object?[] values)
    {
        await using var command = new NpgsqlCommand(sql, transaction.Connection, transaction);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value ?? DBNull.Value });
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    // pgoutput sends values as text: (id bigint, item text).
    private static async Task<(long Id, string? Item)> ReadAsync(Npgsql.Replication.PgOutput.ReplicationTuple row, CancellationToken cancellationToken)
    {
        long id = 0;
        string? item = null;
        var column = 0;
        await foreach (var value in row.WithCancellation(cancellationToken))
        {
            var text = value.IsDBNull || value.IsUnchangedToastedValue ? null : await value.Get<string>(cancellationToken);
            switch (column++)
            {
                case 0:
                    id = long.Parse(text!, CultureInfo.InvariantCulture);
                    break;
                case 1:
                    item = text;
                    break;
            }
        }

        return (id, item);
    }
}
