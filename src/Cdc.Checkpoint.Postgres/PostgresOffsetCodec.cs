using System.Globalization;
using System.Text.Json;
using Cdc.Checkpoint.Offsets;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Postgres;

/// <summary>
/// Reads <see cref="PostgresOffset"/> values of the <c>postgres</c> family (<c>postgres</c>, <c>postgres_snapshot</c>)
/// back from JSON.
/// </summary>
/// <remarks>
/// <para>
/// Every format version is read the same way, which covers records written by rustcdc (format version 1,
/// <c>{"lsn":23808840,"slot_name":"my_slot"}</c>) and by this library
/// (<c>{"lsn":"0/16B3748","slot_name":"my_slot","system_identifier":"7299…","timeline":1,"database":"app"}</c>):
/// <c>lsn</c> may be an unsigned 64-bit number or PostgreSQL's <c>X/Y</c> text, <c>system_identifier</c> a decimal
/// string or number. <c>lsn</c> and <c>slot_name</c> are required; members set to <see langword="null"/> count as
/// absent; unknown or repeated members are refused, so nothing is silently dropped on the next save.
/// </para>
/// <para>Stateless and thread-safe.</para>
/// </remarks>
public sealed class PostgresOffsetCodec : IOffsetCodec
{
    private PostgresOffsetCodec()
    {
    }

    /// <summary>The instance.</summary>
    public static PostgresOffsetCodec Instance { get; } = new();

    /// <inheritdoc />
    /// <returns><see langword="true"/> for <c>postgres</c> and <c>postgres_snapshot</c>.</returns>
    public bool CanRead(string sourceType) => PostgresOffset.IsPostgresSourceType(sourceType);

    /// <inheritdoc />
    /// <exception cref="ArgumentException"><paramref name="sourceType"/> is not of the PostgreSQL family.</exception>
    public CheckpointOffset Read(string sourceType, JsonElement offset, int formatVersion) => ReadOffset(sourceType, offset);

    /// <summary>Reads a PostgreSQL offset from JSON text, with the rules of <see cref="Read"/>.</summary>
    /// <param name="sourceType">The source type, <c>postgres</c> or <c>postgres_snapshot</c>.</param>
    /// <param name="json">The offset JSON object.</param>
    /// <returns>The offset.</returns>
    /// <exception cref="ArgumentException"><paramref name="sourceType"/> is not of the PostgreSQL family.</exception>
    /// <exception cref="FormatException"><paramref name="json"/> is not a valid PostgreSQL offset; the message quotes it.</exception>
    public static PostgresOffset Parse(string sourceType, string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var document = OffsetJsonText.Parse(json);
            return ReadOffset(sourceType, document.RootElement);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"PostgreSQL offset {OffsetJsonText.Quote(json)} is not valid JSON: {ex.Message}", ex);
        }
    }

    private static PostgresOffset ReadOffset(string sourceType, JsonElement offset)
    {
        ArgumentNullException.ThrowIfNull(sourceType);
        if (!PostgresOffset.IsPostgresSourceType(sourceType))
        {
            throw new ArgumentException(
                $"Source type '{sourceType}' is not of the PostgreSQL family: {nameof(PostgresOffsetCodec)} reads '{PostgresOffset.StreamingSourceType}' and '{PostgresOffset.SnapshotSourceType}'.",
                nameof(sourceType));
        }

        if (offset.ValueKind != JsonValueKind.Object)
        {
            throw Invalid(offset, $"expected a JSON object, found {offset.ValueKind}");
        }

        // First, so that nothing below decodes a name or string that cannot be decoded (that throws
        // InvalidOperationException, and Read promises FormatException).
        if (OffsetJsonText.FindUndecodable(offset) is { } undecodable)
        {
            throw Invalid(offset, $"{undecodable} {OffsetJsonText.NotUnicode}");
        }

        // Checked here rather than left to the serializer so the message names the member in plain words.
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in offset.EnumerateObject())
        {
            if (ExpectedValue(property.Name) is null)
            {
                throw Invalid(offset, $"unknown member {OffsetJsonText.Quote(property.Name)}");
            }

            if (!seen.Add(property.Name))
            {
                throw Invalid(offset, $"member '{property.Name}' appears more than once");
            }
        }

        PostgresOffsetJsonInput input;
        try
        {
            input = offset.Deserialize(PostgresJsonContext.Default.PostgresOffsetJsonInput)
                ?? throw Invalid(offset, "expected a JSON object");
        }
        catch (JsonException ex)
        {
            var member = ex.Path is { Length: > 2 } path && path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : ex.Path ?? "?";
            throw Invalid(offset, $"'{member}' must be {ExpectedValue(member) ?? "of another type"}", ex);
        }

        var lsn = ReadLsn(offset, input.Lsn);
        if (input.SlotName is null)
        {
            throw Invalid(offset, "'slot_name' is missing");
        }

        if (input.SlotName.Length == 0)
        {
            throw Invalid(offset, "'slot_name' is empty");
        }

        // Any other name is kept as stored: rustcdc wrote names PostgreSQL would refuse ("slot-a"), and such a record must
        // stay readable and migratable. PostgresOffset.HasValidSlotName reports it; resume validation refuses it.

        var systemIdentifier = ReadSystemIdentifier(offset, input.SystemIdentifier);
        if (input.Timeline == 0)
        {
            throw Invalid(offset, "'timeline' is 0; PostgreSQL timelines start at 1");
        }

        if (input.Database is not null && !PostgresOffset.IsValidDatabaseName(input.Database))
        {
            throw Invalid(offset, $"'database' {OffsetJsonText.Quote(input.Database)} is not a PostgreSQL database name (1-{PostgresOffset.MaxDatabaseNameBytes} UTF-8 bytes)");
        }

        return PostgresOffset.FromStored(lsn, input.SlotName, systemIdentifier, input.Timeline, input.Database, sourceType);
    }

    private static NpgsqlLogSequenceNumber ReadLsn(JsonElement offset, JsonElement lsn)
    {
        switch (lsn.ValueKind)
        {
            case JsonValueKind.Undefined or JsonValueKind.Null:
                throw Invalid(offset, "'lsn' is missing");
            case JsonValueKind.Number when lsn.TryGetUInt64(out var value):
                return new NpgsqlLogSequenceNumber(value);
            case JsonValueKind.String when PostgresOffset.TryParseLsn(lsn.GetString(), out var parsed):
                return parsed;
            default:
                throw Invalid(offset, $"'lsn' {OffsetJsonText.RawText(lsn)} is neither an unsigned 64-bit integer nor 'X/Y' hexadecimal text such as '0/16B3748'");
        }
    }

    private static ulong? ReadSystemIdentifier(JsonElement offset, JsonElement systemIdentifier)
    {
        ulong value;
        switch (systemIdentifier.ValueKind)
        {
            case JsonValueKind.Undefined or JsonValueKind.Null:
                return null;
            case JsonValueKind.Number when systemIdentifier.TryGetUInt64(out value):
                break;
            case JsonValueKind.String when IsDecimalDigits(systemIdentifier.GetString())
                                           && ulong.TryParse(systemIdentifier.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out value):
                break;
            default:
                throw Invalid(offset, $"'system_identifier' {OffsetJsonText.RawText(systemIdentifier)} is not an unsigned 64-bit decimal integer");
        }

        return value != 0 ? value : throw Invalid(offset, "'system_identifier' is 0; a PostgreSQL system identifier never is");

        static bool IsDecimalDigits(string? text) => !string.IsNullOrEmpty(text) && text.All(char.IsAsciiDigit);
    }

    private static string? ExpectedValue(string member) => member switch
    {
        "lsn" => "an unsigned 64-bit integer or 'X/Y' hexadecimal text",
        "slot_name" => "a string",
        "system_identifier" => "an unsigned 64-bit integer or its decimal text",
        "timeline" => "an integer from 1 to 4294967295",
        "database" => "a string",
        _ => null,
    };

    private static FormatException Invalid(JsonElement offset, string reason, Exception? inner = null) =>
        new($"PostgreSQL offset {OffsetJsonText.QuoteRaw(offset)} is not valid: {reason}. Expected {{\"lsn\":\"X/Y\",\"slot_name\":\"my_slot\"}} with optional \"system_identifier\", \"timeline\" and \"database\".", inner);
}
