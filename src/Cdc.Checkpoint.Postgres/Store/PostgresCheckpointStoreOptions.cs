using System.Globalization;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Postgres.Store;

/// <summary>Options of a <see cref="PostgresCheckpointStore"/>.</summary>
public sealed class PostgresCheckpointStoreOptions
{
    /// <summary>The longest <see cref="TableName"/>: the audit table's name (<c>{table}_audit</c>) must fit PostgreSQL's 63 bytes.</summary>
    public const int MaxTableNameLength = 57;

    private readonly string _schema = "public";
    private readonly string _tableName = "cdc_checkpoint";
    private readonly OffsetCodecRegistry _codecs = OffsetCodecRegistry.Empty.WithPostgres();
    private readonly string _owner = string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName}:{Environment.ProcessId}");

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

    /// <summary>The codecs that read stored offsets back as typed offsets.</summary>
    /// <value>Default <c>OffsetCodecRegistry.Empty.WithPostgres()</c>; source types without a codec read as <see cref="GenericOffset"/>.</value>
    public OffsetCodecRegistry Codecs
    {
        get => _codecs;
        init
        {
            ArgumentNullException.ThrowIfNull(value);
            _codecs = value;
        }
    }

    /// <summary>Who this owner is, recorded with each acquired epoch (for operators).</summary>
    /// <value>Default <c>{machine}:{process id}</c>.</value>
    public string Owner
    {
        get => _owner;
        init
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(value);
            _owner = value;
        }
    }

    private static string ValidateIdentifier(string value, int maxLength, string what)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length == 0 || value.Length > maxLength || char.IsAsciiDigit(value[0])
            || !value.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_'))
        {
            throw new ArgumentException(
                $"{what} '{value}' is not allowed: use 1-{maxLength} characters of lower-case letters, digits and '_', not starting with a digit.",
                nameof(value));
        }

        return value;
    }
}
