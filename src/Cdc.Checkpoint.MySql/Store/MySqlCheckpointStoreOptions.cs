using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Tables;

namespace Cdc.Checkpoint.MySql.Store;

/// <summary>Options of a <see cref="MySqlCheckpointStore"/>.</summary>
public sealed class MySqlCheckpointStoreOptions : TableCheckpointStoreOptions
{
    /// <summary>The longest <see cref="TableName"/>: <c>{table}_audit</c> and <c>{table}_fence</c> must fit MySQL's 64 characters.</summary>
    public const int MaxTableNameLength = 58;

    /// <summary>The longest <see cref="Database"/> name (MySQL's identifier limit).</summary>
    public const int MaxDatabaseNameLength = 64;

    private readonly string? _database;
    private readonly string _tableName = "cdc_checkpoint";

    /// <summary>Creates the options with their defaults.</summary>
    public MySqlCheckpointStoreOptions()
        : base(OffsetCodecRegistry.Empty.WithMySql(), 255)
    {
    }

    /// <summary>
    /// The database (schema) that holds the checkpoint tables, or <see langword="null"/> for the connection's default
    /// database. 1–64 characters of letters, digits and <c>_</c>.
    /// </summary>
    /// <value>Default <see langword="null"/> (the database of the connection string).</value>
    public string? Database
    {
        get => _database;
        init => _database = value is null ? null : ValidateIdentifier(value, MaxDatabaseNameLength, nameof(Database), allowUpperCase: true);
    }

    /// <summary>
    /// The checkpoint table; the store also uses <c>{table}_fence</c> (fencing epochs and the write sequence) and
    /// <c>{table}_audit</c> (rewinds). 1–58 characters of lower-case letters, digits and <c>_</c>, not starting with a digit.
    /// </summary>
    /// <value>Default <c>cdc_checkpoint</c>.</value>
    public string TableName
    {
        get => _tableName;
        init => _tableName = ValidateIdentifier(value, MaxTableNameLength, nameof(TableName), allowUpperCase: false);
    }
}
