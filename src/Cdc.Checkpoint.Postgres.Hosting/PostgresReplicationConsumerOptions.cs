using Cdc.Checkpoint.Hosting.Consumers;

namespace Cdc.Checkpoint.Postgres.Hosting;

/// <summary>
/// Options of a hosted PostgreSQL replication consumer, bound from a configuration section (keys as the property names,
/// nested sections <c>Checkpoint</c>, <c>Retry</c> and <c>Health</c>, which with <c>Store</c> and <c>OnFailure</c> every
/// hosted consumer shares through <see cref="HostedConsumerOptions"/>) and validated when the host starts.
/// </summary>
public sealed class PostgresReplicationConsumerOptions : HostedConsumerOptions
{
    /// <summary>
    /// The Npgsql connection string of the database whose changes are streamed (key <c>ConnectionString</c>); the user
    /// needs the <c>REPLICATION</c> attribute, and the server <c>wal_level=logical</c>. Required.
    /// </summary>
    /// <value>No default.</value>
    public string? ConnectionString { get; set; }

    /// <summary>The logical replication slot (key <c>SlotName</c>); created on the very first start. Required.</summary>
    /// <value>No default.</value>
    public string? SlotName { get; set; }

    /// <summary>The publications to stream (key <c>Publications</c>, an array). Required, at least one.</summary>
    /// <value>Empty.</value>
    public IList<string> Publications { get; } = [];

    /// <summary>How often an idle stream checkpoints and acknowledges the server's WAL end (key <c>IdleAdvanceInterval</c>).</summary>
    /// <value>Default 10 seconds; positive.</value>
    public TimeSpan IdleAdvanceInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How many durable checkpoints the acknowledgement to the server stays behind (key <c>AcknowledgeLag</c>).</summary>
    /// <value>Default 0; 0 to 1000.</value>
    public int AcknowledgeLag { get; set; }
}
