using System.Globalization;
using System.Text;

namespace Cdc.Checkpoint.MySql.Internal;

/// <summary>
/// Converts the values an ADO.NET provider returns for server variables and SHOW output into the types the library
/// needs. Providers differ (MySqlConnector returns <see cref="ulong"/> for <c>BIGINT UNSIGNED</c>, <see cref="long"/>
/// for <c>@@log_bin</c>, sometimes <c>byte[]</c> for text of a binary collation), so nothing here assumes one CLR type.
/// </summary>
internal static class DbValues
{
    public static bool IsNull(object? value) => value is null or DBNull;

    /// <summary>The value as text; <see langword="null"/> for SQL NULL.</summary>
    public static string? ToText(object? value) => value switch
    {
        null or DBNull => null,
        string s => s,
        byte[] bytes => Encoding.UTF8.GetString(bytes),
        ReadOnlyMemory<byte> memory => Encoding.UTF8.GetString(memory.Span),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };

    /// <summary>The value as an unsigned 64-bit integer.</summary>
    /// <exception cref="FormatException">The value is NULL, negative, fractional or not a number; the message quotes it.</exception>
    public static ulong ToUInt64(object? value, string what)
    {
        switch (value)
        {
            case ulong u:
                return u;
            case long l when l >= 0:
                return (ulong)l;
            case int i when i >= 0:
                return (ulong)i;
            case uint ui:
                return ui;
            case short s when s >= 0:
                return (ulong)s;
            case ushort us:
                return us;
            case byte b:
                return b;
            case sbyte sb when sb >= 0:
                return (ulong)sb;
            case decimal d when d >= 0 && d <= ulong.MaxValue && decimal.Truncate(d) == d:
                return (ulong)d;
            case bool flag:
                return flag ? 1UL : 0UL;
            case string or byte[] or ReadOnlyMemory<byte>:
                var text = ToText(value)!.Trim();
                if (ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
                {
                    return parsed;
                }

                break;
        }

        throw new FormatException($"{what} is {Describe(value)}; expected an unsigned integer.");
    }

    /// <summary>The value as a non-negative signed 64-bit integer (epochs).</summary>
    /// <exception cref="FormatException">The value is not an integer from 0 to <see cref="long.MaxValue"/>.</exception>
    public static long ToInt64(object? value, string what)
    {
        var wide = ToUInt64(value, what);
        return wide <= long.MaxValue ? (long)wide : throw new FormatException($"{what} is {wide}; expected at most {long.MaxValue}.");
    }

    /// <summary>The value as an unsigned 32-bit integer (<c>server_id</c>, <c>gtid_domain_id</c>).</summary>
    /// <exception cref="FormatException">The value is not an integer from 0 to 4294967295.</exception>
    public static uint ToUInt32(object? value, string what)
    {
        var wide = ToUInt64(value, what);
        return wide <= uint.MaxValue ? (uint)wide : throw new FormatException($"{what} is {wide}; expected at most {uint.MaxValue}.");
    }

    /// <summary>The value of a boolean server variable: 1/0, ON/OFF, TRUE/FALSE, YES/NO.</summary>
    /// <exception cref="FormatException">The value is none of those.</exception>
    public static bool ToBoolean(object? value, string what)
    {
        switch (value)
        {
            case bool flag:
                return flag;
            case string or byte[] or ReadOnlyMemory<byte>:
                var text = ToText(value)!.Trim();
                if (text is "1" || text.Equals("ON", StringComparison.OrdinalIgnoreCase) || text.Equals("TRUE", StringComparison.OrdinalIgnoreCase) || text.Equals("YES", StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }

                if (text is "0" || text.Equals("OFF", StringComparison.OrdinalIgnoreCase) || text.Equals("FALSE", StringComparison.OrdinalIgnoreCase) || text.Equals("NO", StringComparison.OrdinalIgnoreCase))
                {
                    return false;
                }

                break;
            case null or DBNull:
                break;
            default:
                return ToUInt64(value, what) != 0;
        }

        throw new FormatException($"{what} is {Describe(value)}; expected ON/OFF or 1/0.");
    }

    /// <summary>A DATETIME read back as UTC (the store writes UTC).</summary>
    public static DateTimeOffset ToUtc(object? value, string what) => value switch
    {
        DateTime dt => new DateTimeOffset(DateTime.SpecifyKind(dt, DateTimeKind.Utc)),
        DateTimeOffset dto => dto.ToUniversalTime(),
        string s when DateTime.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var parsed) =>
            new DateTimeOffset(DateTime.SpecifyKind(parsed, DateTimeKind.Utc)),
        _ => throw new FormatException($"{what} is {Describe(value)}; expected a DATETIME."),
    };

    public static string Describe(object? value) => value switch
    {
        null or DBNull => "NULL",
        _ => $"'{ToText(value)}' ({value.GetType().Name})",
    };
}
