namespace Cdc.Checkpoint.Postgres.Hosting;

/// <summary>
/// Options of a <see cref="Store.PostgresCheckpointStore"/> registered with <c>services.AddPostgresCheckpointStore(name, …)</c>,
/// bound from a configuration section (keys as the property names) and validated when the host starts.
/// </summary>
public sealed class PostgresCheckpointStoreRegistrationOptions
{
    /// <summary>The Npgsql connection string of the database that holds the checkpoint tables (key <c>ConnectionString</c>). Required.</summary>
    /// <value>No default.</value>
    public string? ConnectionString { get; set; }

    /// <summary>The checkpoint name, one per consumer (key <c>CheckpointName</c>).</summary>
    /// <value>Default: the store's registration name.</value>
    public string? CheckpointName { get; set; }

    /// <summary>The schema of the checkpoint tables (key <c>Schema</c>).</summary>
    /// <value>Default <c>public</c>.</value>
    public string Schema { get; set; } = "public";

    /// <summary>The checkpoint table; the fence and audit tables and the sequence are named after it (key <c>TableName</c>).</summary>
    /// <value>Default <c>cdc_checkpoint</c>.</value>
    public string TableName { get; set; } = "cdc_checkpoint";

    /// <summary>Whether a hosted consumer creates the tables (if they do not exist) before it starts (key <c>CreateSchema</c>).</summary>
    /// <value>Default <see langword="true"/>; set <see langword="false"/> when the consumer's user has no <c>CREATE</c> privilege and the tables are created by a migration.</value>
    public bool CreateSchema { get; set; } = true;
}
