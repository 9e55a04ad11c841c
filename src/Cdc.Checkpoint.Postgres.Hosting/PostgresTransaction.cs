using Npgsql;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Postgres.Hosting;

/// <summary>
/// One committed transaction of the stream, handed to the handler. Read its <see cref="Changes"/> once, in order; Npgsql
/// reuses message instances, so copy what you need from a message before moving to the next.
/// </summary>
/// <remarks>
/// When the consumer's checkpoint store is a PostgreSQL table store registered with <c>AddPostgresCheckpointStore</c>,
/// <see cref="Connection"/> and <see cref="Transaction"/> are a transaction on the store's database: write the sink rows
/// in it, and the consumer saves the checkpoint in the same transaction and commits it after the handler returns
/// (exactly once). Otherwise both are <see langword="null"/> and the checkpoint follows the checkpoint policy.
/// </remarks>
public sealed class PostgresTransaction
{
    private readonly IAsyncEnumerator<PgOutputReplicationMessage> _stream;
    private bool _reading;

    internal PostgresTransaction(string consumerName, BeginMessage begin, IAsyncEnumerator<PgOutputReplicationMessage> stream, NpgsqlConnection? connection, NpgsqlTransaction? transaction)
    {
        ConsumerName = consumerName;
        TransactionXid = begin.TransactionXid;
        FinalLsn = begin.TransactionFinalLsn;
        CommitTimestamp = begin.TransactionCommitTimestamp;
        Connection = connection;
        Transaction = transaction;
        _stream = stream;
    }

    /// <summary>The name of the consumer.</summary>
    public string ConsumerName { get; }

    /// <summary>The transaction id on the source server.</summary>
    public uint TransactionXid { get; }

    /// <summary>The LSN of the transaction's commit record.</summary>
    public NpgsqlLogSequenceNumber FinalLsn { get; }

    /// <summary>When the transaction committed on the source (UTC).</summary>
    public DateTime CommitTimestamp { get; }

    /// <summary>The sink connection when the checkpoint commits in the sink's transaction; otherwise <see langword="null"/>.</summary>
    public NpgsqlConnection? Connection { get; }

    /// <summary>The sink transaction the checkpoint is saved in; otherwise <see langword="null"/>. Do not commit or roll it back yourself.</summary>
    public NpgsqlTransaction? Transaction { get; }

    /// <summary>The data changes seen so far (inserts, updates, deletes and truncates): the event count of the checkpoint.</summary>
    public ulong EventCount { get; private set; }

    /// <summary>The transaction's commit message, once <see cref="Changes"/> has been read to the end.</summary>
    internal CommitMessage? Commit { get; private set; }

    /// <summary>
    /// The transaction's messages between its begin and its commit: relations, types, inserts, updates, deletes,
    /// truncates, origins, logical decoding messages. Can be enumerated once.
    /// </summary>
    /// <exception cref="InvalidOperationException">Enumerated a second time.</exception>
    public IAsyncEnumerable<PgOutputReplicationMessage> Changes
    {
        get
        {
            if (_reading)
            {
                throw new InvalidOperationException("The changes of a transaction can be read once; copy what you need while reading.");
            }

            _reading = true;
            return ReadAsync();
        }
    }

    /// <summary>Reads whatever the handler left unread, up to the commit.</summary>
    internal async ValueTask DrainAsync()
    {
        _reading = true;
        while (Commit is null)
        {
            await NextAsync().ConfigureAwait(false);
        }
    }

    private async IAsyncEnumerable<PgOutputReplicationMessage> ReadAsync()
    {
        while (Commit is null && await NextAsync().ConfigureAwait(false) is { } message)
        {
            yield return message;
        }
    }

    // The next message of this transaction, or null at its commit (or when the stream ends inside it).
    private async ValueTask<PgOutputReplicationMessage?> NextAsync()
    {
        if (!await _stream.MoveNextAsync().ConfigureAwait(false))
        {
            throw new CheckpointException(
                CheckpointErrorCode.ConnectionLost,
                $"The replication stream of consumer '{ConsumerName}' ended inside transaction {TransactionXid} (commit LSN {FinalLsn}); nothing of it is checkpointed and it is streamed again on the next start (transient).");
        }

        switch (_stream.Current)
        {
            case CommitMessage commit:
                Commit = commit;
                return null;
            case InsertMessage or UpdateMessage or DeleteMessage or TruncateMessage:
                EventCount++;
                break;
        }

        return _stream.Current;
    }
}
