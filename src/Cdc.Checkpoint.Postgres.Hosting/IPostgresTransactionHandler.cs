namespace Cdc.Checkpoint.Postgres.Hosting;

/// <summary>
/// Applies one committed transaction of the stream to the sink: the only code a hosted consumer needs from its user.
/// Resolved from the container (scoped to one stream) by <c>AddPostgresReplicationConsumer&lt;THandler&gt;</c>.
/// </summary>
/// <remarks>
/// Returning means the transaction is applied; the consumer then checkpoints it (in <see cref="PostgresTransaction.Transaction"/>
/// when there is one). Throwing means it is not: nothing is checkpointed, and the transaction is streamed again after
/// a retry (transient exceptions, such as a lost sink connection) or on the next start (others stop the consumer).
/// </remarks>
public interface IPostgresTransactionHandler
{
    /// <summary>Applies <paramref name="transaction"/> to the sink.</summary>
    /// <param name="transaction">The transaction: its changes, and the sink transaction when the checkpoint commits in it.</param>
    /// <param name="cancellationToken">Signals that the host is stopping; the transaction is then abandoned and streamed again on the next start.</param>
    /// <returns>A task that completes when the transaction is applied.</returns>
    ValueTask HandleAsync(PostgresTransaction transaction, CancellationToken cancellationToken);
}
