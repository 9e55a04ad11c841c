using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Tables;

namespace Cdc.Checkpoint.Postgres.Store;

/// <summary>Options of a <see cref="PostgresCheckpointStore"/>.</summary>
public sealed class PostgresCheckpointStoreOptions : TableCheckpointStoreOptions
{
    /// <summary>The longest <see cref="TableName"/>: the audit table's name (<c>{table}_audit</c>) must fit PostgreSQL's 63 bytes.</summary>
    public const int MaxTableNameLength = 57;

    private readonly string _schema = "public";
    private readonly string _tableName = "cdc_checkpoint";

    /// <summary>Creates the options with their defaults.</summary>
    public PostgresCheckpointStoreOptions()
        : base(OffsetCodecRegistry.Empty.WithPostgres(), int.MaxValue)
    {
    }

    /// <summary>The schema of the checkpoint tables: 1–63 characters of <c>[a-z0-9_]</c>, not starting with a digit.</summary>
    /// <value>Default <c>public</c>.</value>
    public string Schema
    {
        get => _schema;
        init => _schema = ValidateIdentifier(value, 63, nameof(Schema));
    }

    /// <summary>
    /// The checkpoint table; the store also uses <c>{table}_fence</c> (fencing epochs), <c>{table}_audit</c> (rewinds)
    /// and the sequence <c>{table}_seq</c>. 1–57 characters of <c>[a-z0-9_]</c>, not starting with a digit.
    /// </summary>
    /// <value>Default <c>cdc_checkpoint</c>.</value>
    public string TableName
    {
        get => _tableName;
        init => _tableName = ValidateIdentifier(value, MaxTableNameLength, nameof(TableName));
    }
}
