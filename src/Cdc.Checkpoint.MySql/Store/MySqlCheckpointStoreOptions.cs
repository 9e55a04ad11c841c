using System.Globalization;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.MySql.Store;

/// <summary>Options of a <see cref="MySqlCheckpointStore"/>.</summary>
public sealed class MySqlCheckpointStoreOptions
{
    /// <summary>The longest <see cref="TableName"/>: <c>{table}_audit</c> and <c>{table}_fence</c> must fit MySQL's 64 characters.</summary>
    public const int MaxTableNameLength = 58;

    /// <summary>The longest <see cref="Database"/> name (MySQL's identifier limit).</summary>
    public const int MaxDatabaseNameLength = 64;

    private readonly string? _database;
    private readonly string _tableName = "cdc_checkpoint";
    private readonly OffsetCodecRegistry _codecs = OffsetCodecRegistry.Empty.WithMySql();
    private readonly string _owner = string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName}:{Environment.ProcessId}");

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

    /// <summary>The codecs that read stored offsets back as typed offsets.</summary>
    /// <value>Default <c>OffsetCodecRegistry.Empty.WithMySql()</c>; source types without a codec read as <see cref="GenericOffset"/>.</value>
    public OffsetCodecRegistry Codecs
    {
        get => _codecs;
        init
        {
            ArgumentNullException.ThrowIfNull(value);
            _codecs = value;
        }
    }

    /// <summary>Who this owner is, recorded with each acquired epoch (for operators); at most 255 characters.</summary>
    /// <value>Default <c>{machine}:{process id}</c>.</value>
    public string Owner
    {
        get => _owner;
        init
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value.Length, 255);
            _owner = value;
        }
    }

    private static string ValidateIdentifier(string value, int maxLength, string what, bool allowUpperCase)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length == 0 || value.Length > maxLength || char.IsAsciiDigit(value[0])
            || !value.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' || (allowUpperCase && c is >= 'A' and <= 'Z')))
        {
            throw new ArgumentException(
                $"{what} '{value}' is not allowed: use 1-{maxLength} characters of {(allowUpperCase ? "letters" : "lower-case letters")}, digits and '_', not starting with a digit.",
                nameof(value));
        }

        return value;
    }
}
