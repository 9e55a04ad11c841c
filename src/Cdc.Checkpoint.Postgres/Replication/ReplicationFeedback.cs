using Npgsql.Replication;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Postgres.Replication;

/// <summary>The part of a replication connection the acknowledger uses; a seam for unit tests.</summary>
internal interface IReplicationFeedback
{
    /// <summary>The last WAL position the server reported (keepalive WAL end or a message's end), or 0.</summary>
    NpgsqlLogSequenceNumber LastReceivedLsn { get; }

    /// <summary>Sets the flushed and applied position sent with the next status update.</summary>
    void SetReplicationStatus(NpgsqlLogSequenceNumber lsn);

    /// <summary>Sends a status update now; completes when it is sent, not when the server has applied it.</summary>
    Task SendStatusUpdateAsync(CancellationToken cancellationToken);
}

/// <summary>Npgsql's replication connection as <see cref="IReplicationFeedback"/>.</summary>
internal sealed class NpgsqlReplicationFeedback(ReplicationConnection connection) : IReplicationFeedback
{
    public NpgsqlLogSequenceNumber LastReceivedLsn => connection.LastReceivedLsn;

    public void SetReplicationStatus(NpgsqlLogSequenceNumber lsn) => connection.SetReplicationStatus(lsn);

    public Task SendStatusUpdateAsync(CancellationToken cancellationToken) => connection.SendStatusUpdate(cancellationToken);
}
