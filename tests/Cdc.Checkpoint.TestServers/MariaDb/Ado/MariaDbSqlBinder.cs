using System.Buffers;
using System.Globalization;
using System.Text;

namespace Cdc.Checkpoint.TestServers.MariaDb.Ado;

/// <summary>Writes <paramref name="utf8"/> escaped for use inside a quoted SQL string literal.</summary>
internal delegate void StringEscaper(ReadOnlySpan<byte> utf8, ArrayBufferWriter<byte> output);

/// <summary>
/// Turns command text plus parameters into the UTF-8 bytes sent with <c>mysql_real_query</c>: every <c>@name</c> (and
/// positional <c>?</c>) outside string literals, quoted identifiers and comments is replaced by an SQL literal.
/// Tokenising follows MySqlConnector's rules so the same SQL behaves the same with both providers: <c>@@system</c>
/// variables are left alone, <c>@'quoted'</c> names are user variables, and an <c>@name</c> that is not a parameter is
/// an error unless the connection string says <c>Allow User Variables=true</c>. Literals in the command text are
/// assumed to use backslash escapes (MySqlConnector's default, <c>No Backslash Escapes=false</c>); parameter values
/// are escaped by the server connection, so they are right under <c>NO_BACKSLASH_ESCAPES</c> too.
/// </summary>
internal static class MariaDbSqlBinder
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static byte[] Bind(string sql, MariaDbTestParameterCollection parameters, bool allowUserVariables, StringEscaper escape)
    {
        var output = new ArrayBufferWriter<byte>(sql.Length + 16);
        var segmentStart = 0;
        var positional = 0;
        var i = 0;
        while (i < sql.Length)
        {
            var c = sql[i];
            switch (c)
            {
                case '\'' or '"':
                    i = SkipQuoted(sql, i, c, backslashEscapes: true);
                    continue;
                case '`':
                    i = SkipQuoted(sql, i, c, backslashEscapes: false);
                    continue;
                case '#':
                    i = SkipToEndOfLine(sql, i);
                    continue;
                case '-' when i + 1 < sql.Length && sql[i + 1] == '-'
                              && (i + 2 == sql.Length || char.IsWhiteSpace(sql[i + 2]) || char.IsControl(sql[i + 2])):
                    i = SkipToEndOfLine(sql, i);
                    continue;
                case '/' when i + 1 < sql.Length && sql[i + 1] == '*':
                    var end = sql.IndexOf("*/", i + 2, StringComparison.Ordinal);
                    i = end < 0 ? sql.Length : end + 2;
                    continue;
                case '@':
                    if (i + 1 < sql.Length && sql[i + 1] == '@')
                    {
                        // @@system_variable (optionally @@global.x): never a parameter.
                        i += 2;
                        while (i < sql.Length && IsNameChar(sql[i]))
                        {
                            i++;
                        }

                        continue;
                    }

                    if (i + 1 < sql.Length && sql[i + 1] is '\'' or '"' or '`')
                    {
                        // @'quoted user variable' (or user@'host'): the quote is skipped on the next turn.
                        i++;
                        continue;
                    }

                    var nameEnd = i + 1;
                    while (nameEnd < sql.Length && IsNameChar(sql[nameEnd]))
                    {
                        nameEnd++;
                    }

                    if (nameEnd == i + 1)
                    {
                        i++;
                        continue;
                    }

                    var name = sql[(i + 1)..nameEnd];
                    var index = parameters.IndexOf(name);
                    if (index < 0)
                    {
                        if (!allowUserVariables)
                        {
                            throw new MariaDbTestException(
                                $"Parameter '@{name}' must be defined. To use this as a variable, set 'Allow User Variables=true' in the connection string.");
                        }

                        i = nameEnd;
                        continue;
                    }

                    AppendText(output, sql.AsSpan(segmentStart, i - segmentStart));
                    AppendLiteral(output, parameters[index], escape);
                    segmentStart = i = nameEnd;
                    continue;
                case '?':
                    if (positional >= parameters.Count)
                    {
                        throw new MariaDbTestException(
                            $"Parameter index {positional} is invalid when only {parameters.Count} parameters are defined " +
                            "(a bare '?' outside a string literal is a positional parameter).");
                    }

                    AppendText(output, sql.AsSpan(segmentStart, i - segmentStart));
                    AppendLiteral(output, parameters[positional++], escape);
                    segmentStart = ++i;
                    continue;
                default:
                    i++;
                    continue;
            }
        }

        AppendText(output, sql.AsSpan(segmentStart));
        return output.WrittenSpan.ToArray();
    }

    /// <summary>The SQL literal for <paramref name="value"/> as text (for messages and tests).</summary>
    internal static void AppendLiteral(ArrayBufferWriter<byte> output, MariaDbTestParameter parameter, StringEscaper escape)
    {
        if (parameter.Direction != System.Data.ParameterDirection.Input)
        {
            throw new MariaDbTestException(
                $"Only ParameterDirection.Input is supported when CommandType is Text (parameter name: {parameter.ParameterName})");
        }

        var value = parameter.Value;
        switch (value)
        {
            case null or DBNull:
                AppendAscii(output, "NULL");
                break;
            case string s:
                AppendQuoted(output, s, escape);
                break;
            case char ch:
                AppendQuoted(output, ch.ToString(), escape);
                break;
            case bool b:
                AppendAscii(output, b ? "TRUE" : "FALSE");
                break;
            case sbyte or byte or short or ushort or int or uint or long or ulong or decimal:
                AppendAscii(output, ((IFormattable)value).ToString(null, CultureInfo.InvariantCulture));
                break;
            case float f:
                AppendAscii(output, FormatFloating(parameter, f, float.IsFinite(f), f.ToString("R", CultureInfo.InvariantCulture)));
                break;
            case double d:
                AppendAscii(output, FormatFloating(parameter, d, double.IsFinite(d), d.ToString("R", CultureInfo.InvariantCulture)));
                break;
            case byte[] bytes:
                AppendHex(output, bytes);
                break;
            case ReadOnlyMemory<byte> rom:
                AppendHex(output, rom.Span);
                break;
            case Memory<byte> mem:
                AppendHex(output, mem.Span);
                break;
            case ArraySegment<byte> segment:
                AppendHex(output, segment.AsSpan());
                break;
            case Guid guid:
                AppendAscii(output, "'" + guid.ToString("D") + "'");
                break;
            case DateTime dt:
                AppendAscii(output, "'" + dt.ToString("yyyy'-'MM'-'dd' 'HH':'mm':'ss'.'ffffff", CultureInfo.InvariantCulture) + "'");
                break;
            case DateTimeOffset dto:
                AppendAscii(output, "'" + dto.UtcDateTime.ToString("yyyy'-'MM'-'dd' 'HH':'mm':'ss'.'ffffff", CultureInfo.InvariantCulture) + "'");
                break;
            case DateOnly date:
                AppendAscii(output, "'" + date.ToString("yyyy'-'MM'-'dd", CultureInfo.InvariantCulture) + "'");
                break;
            case TimeOnly time:
                AppendAscii(output, "'" + time.ToString("HH':'mm':'ss'.'ffffff", CultureInfo.InvariantCulture) + "'");
                break;
            case TimeSpan span:
                var abs = span.Duration();
                AppendAscii(output, string.Create(
                    CultureInfo.InvariantCulture,
                    $"'{(span < TimeSpan.Zero ? "-" : "")}{(long)abs.TotalHours}:{abs.Minutes:00}:{abs.Seconds:00}.{abs.Ticks % TimeSpan.TicksPerSecond / 10:000000}'"));
                break;
            case Enum e:
                AppendAscii(output, Convert.ToDecimal(e, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture));
                break;
            default:
                throw new NotSupportedException(
                    $"Parameter '{parameter.ParameterName}' has a value of type {value.GetType().FullName}, which the MariaDB test provider cannot send.");
        }
    }

    private static string FormatFloating(MariaDbTestParameter parameter, object value, bool finite, string text) =>
        finite
            ? text
            : throw new NotSupportedException(
                $"Parameter '{parameter.ParameterName}' is {value}; MariaDB has no literal for a non-finite floating-point value.");

    private static void AppendQuoted(ArrayBufferWriter<byte> output, string value, StringEscaper escape)
    {
        byte[] utf8;
        try
        {
            utf8 = StrictUtf8.GetBytes(value);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException("A string parameter contains an unpaired surrogate and cannot be sent as UTF-8.", nameof(value), e);
        }

        output.Write("'"u8);
        escape(utf8, output);
        output.Write("'"u8);
    }

    private static void AppendHex(ArrayBufferWriter<byte> output, ReadOnlySpan<byte> bytes)
    {
        output.Write("X'"u8);
        AppendAscii(output, Convert.ToHexString(bytes));
        output.Write("'"u8);
    }

    private static void AppendAscii(ArrayBufferWriter<byte> output, string text) => Encoding.ASCII.GetBytes(text, output);

    private static void AppendText(ArrayBufferWriter<byte> output, ReadOnlySpan<char> text) => StrictUtf8.GetBytes(text, output);

    private static int SkipQuoted(string sql, int start, char quote, bool backslashEscapes)
    {
        var i = start + 1;
        while (i < sql.Length)
        {
            var c = sql[i];
            if (backslashEscapes && c == '\\')
            {
                i += 2;
                continue;
            }

            if (c == quote)
            {
                // A doubled quote is an escaped quote; the loop then continues inside the literal.
                if (i + 1 < sql.Length && sql[i + 1] == quote)
                {
                    i += 2;
                    continue;
                }

                return i + 1;
            }

            i++;
        }

        return sql.Length;
    }

    private static int SkipToEndOfLine(string sql, int start)
    {
        var end = sql.IndexOf('\n', start);
        return end < 0 ? sql.Length : end + 1;
    }

    private static bool IsNameChar(char c) =>
        char.IsAsciiLetterOrDigit(c) || c is '_' or '$' or '.' || c >= '\u0080';
}
