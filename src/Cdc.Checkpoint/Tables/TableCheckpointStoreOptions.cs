using System.Globalization;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Tables;

/// <summary>
/// The options every table checkpoint store takes (<c>PostgresCheckpointStoreOptions</c>,
/// <c>MySqlCheckpointStoreOptions</c>): the codecs that read stored offsets and the owner text recorded with each
/// acquisition. Validated when set.
/// </summary>
public abstract class TableCheckpointStoreOptions
{
    private readonly int _maxOwnerLength;
    private readonly OffsetCodecRegistry _codecs;
    private readonly string _owner = string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName}:{Environment.ProcessId}");

    /// <summary>Creates the options with the provider's defaults.</summary>
    /// <param name="defaultCodecs">The codecs used unless <see cref="Codecs"/> is set.</param>
    /// <param name="maxOwnerLength">The longest <see cref="Owner"/> the provider's fence table holds.</param>
    protected TableCheckpointStoreOptions(OffsetCodecRegistry defaultCodecs, int maxOwnerLength)
    {
        ArgumentNullException.ThrowIfNull(defaultCodecs);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxOwnerLength, 1);
        _codecs = defaultCodecs;
        _maxOwnerLength = maxOwnerLength;
    }

    /// <summary>The codecs that read stored offsets back as typed offsets.</summary>
    /// <value>Default: the provider's codecs (<c>OffsetCodecRegistry.Empty.WithPostgres()</c> or <c>.WithMySql()</c>);
    /// source types without a codec read as <see cref="GenericOffset"/>.</value>
    public OffsetCodecRegistry Codecs
    {
        get => _codecs;
        init
        {
            ArgumentNullException.ThrowIfNull(value);
            _codecs = value;
        }
    }

    /// <summary>Who this owner is, recorded with each acquired epoch (for operators); not blank, and at most 255 characters for MySQL.</summary>
    /// <value>Default <c>{machine}:{process id}</c>.</value>
    public string Owner
    {
        get => _owner;
        init
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value.Length, _maxOwnerLength);
            _owner = value;
        }
    }

    /// <summary>Checks a schema, database or table name: 1–<paramref name="maxLength"/> characters of <c>[a-z0-9_]</c> (and <c>[A-Z]</c> when allowed), not starting with a digit.</summary>
    /// <param name="value">The name.</param>
    /// <param name="maxLength">The longest name allowed.</param>
    /// <param name="what">The option's name, for the message.</param>
    /// <param name="allowUpperCase">Whether upper-case letters are allowed.</param>
    /// <returns><paramref name="value"/>.</returns>
    /// <exception cref="ArgumentException">The name is not allowed; the message quotes it.</exception>
    protected static string ValidateIdentifier(string value, int maxLength, string what, bool allowUpperCase = false)
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
