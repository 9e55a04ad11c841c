using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;

namespace Cdc.Checkpoint.MySql.Gtid;

/// <summary>
/// The strict GTID set parser behind <see cref="GtidSet.Parse"/>. Grammar (whitespace allowed around every token):
/// <code>
/// set      := "" | element ("," element)*
/// element  := uuid (":" (tag | interval))+     -- the first item after the UUID and after each tag is an interval
/// interval := gno ("-" gno)?
/// </code>
/// Errors are returned as text (never thrown) so <see cref="GtidSet.TryParse"/> cannot throw.
/// </summary>
internal static class GtidSetParser
{
    private const int UuidLength = 36;

    public static bool TryParse(string text, [NotNullWhen(true)] out GtidSet? result, [NotNullWhen(false)] out string? error)
    {
        result = null;
        var groups = new Dictionary<(UInt128 Key, string Tag), (Guid SourceId, List<GtidInterval> Intervals)>();
        var span = text.AsSpan();
        var pos = SkipWhitespace(span, 0);
        if (pos == span.Length)
        {
            result = GtidSet.Empty;
            error = null;
            return true;
        }

        while (true)
        {
            if (!TryParseUuid(span, pos, out var sourceId))
            {
                error = Describe(span, pos, span[pos] == ',' ? "empty element (two commas, or a comma at the start)" : "expected a source UUID like 3e11fa47-71ca-11e1-9e33-c80aa9429562");
                return false;
            }

            var key = GtidSet.KeyOf(sourceId);
            var uuidText = span.Slice(pos, UuidLength).ToString();
            pos = SkipWhitespace(span, pos + UuidLength);

            // The intervals that follow belong to the untagged source until a tag switches to it.
            var tag = string.Empty;
            var needInterval = true;
            while (pos < span.Length && span[pos] == ':')
            {
                pos = SkipWhitespace(span, pos + 1);
                if (pos < span.Length && GtidSet.IsTagStart(span[pos]))
                {
                    if (needInterval && tag.Length > 0)
                    {
                        error = Describe(span, pos, $"tag '{tag}' of {uuidText} has no transaction numbers");
                        return false;
                    }

                    var start = pos;
                    while (pos < span.Length && GtidSet.IsTagPart(span[pos]))
                    {
                        pos++;
                    }

                    if (pos - start > GtidSet.MaxTagLength)
                    {
                        error = Describe(span, start, $"tag is {pos - start} characters long; GTID tags have at most {GtidSet.MaxTagLength}");
                        return false;
                    }

                    tag = span[start..pos].ToString().ToLowerInvariant();
                    needInterval = true;
                }
                else
                {
                    if (!TryParseNumber(span, ref pos, out var first, out error))
                    {
                        return false;
                    }

                    var last = first;
                    pos = SkipWhitespace(span, pos);
                    if (pos < span.Length && span[pos] == '-')
                    {
                        pos = SkipWhitespace(span, pos + 1);
                        var endStart = pos;
                        if (!TryParseNumber(span, ref pos, out last, out error))
                        {
                            return false;
                        }

                        if (last < first)
                        {
                            error = Describe(span, endStart, $"interval {first}-{last} is inverted (the end is below the start)");
                            return false;
                        }
                    }

                    if (!groups.TryGetValue((key, tag), out var group))
                    {
                        group = (sourceId, new List<GtidInterval>());
                        groups.Add((key, tag), group);
                    }

                    group.Intervals.Add(new GtidInterval(first, last));
                    needInterval = false;
                }

                pos = SkipWhitespace(span, pos);
            }

            if (needInterval)
            {
                error = Describe(
                    span,
                    pos,
                    tag.Length > 0 ? $"tag '{tag}' of {uuidText} has no transaction numbers" : $"{uuidText} has no transaction numbers (expected ':' and an interval such as 1-5)");
                return false;
            }

            if (pos == span.Length)
            {
                break;
            }

            if (span[pos] != ',')
            {
                error = Describe(span, pos, "expected ':', ',' or the end of the text");
                return false;
            }

            pos = SkipWhitespace(span, pos + 1);
            if (pos == span.Length)
            {
                error = Describe(span, pos, "the text ends with a comma");
                return false;
            }
        }

        var entries = ImmutableArray.CreateBuilder<GtidSetEntry>(groups.Count);
        foreach (var ((key, tag), (sourceId, intervals)) in groups)
        {
            entries.Add(new GtidSetEntry(key, sourceId, tag, IntervalMath.Normalize(intervals)));
        }

        entries.Sort(static (a, b) => a.CompareKey(b));
        result = GtidSet.FromSortedEntries(entries.DrainToImmutable());
        error = null;
        return true;
    }

    /// <summary>C's <c>isspace</c> in the "C" locale, which is what MySQL skips.</summary>
    internal static bool IsWhitespace(char c) => c is ' ' or '\t' or '\n' or '\r' or '\f' or '\v';

    internal static int SkipWhitespace(ReadOnlySpan<char> span, int pos)
    {
        while (pos < span.Length && IsWhitespace(span[pos]))
        {
            pos++;
        }

        return pos;
    }

    internal static string Describe(ReadOnlySpan<char> span, int pos, string problem)
    {
        if (pos >= span.Length)
        {
            return $"{problem} (at the end of the text)";
        }

        var near = span[pos..Math.Min(span.Length, pos + 24)].ToString();
        return $"{problem} (at character {pos + 1}, near '{near}')";
    }

    private static bool TryParseUuid(ReadOnlySpan<char> span, int pos, out Guid sourceId)
    {
        sourceId = default;
        if (span.Length - pos < UuidLength)
        {
            return false;
        }

        // Exactly 8-4-4-4-12 hex digits: MySQL prints no braces and no other spelling in a GTID set.
        Span<byte> bytes = stackalloc byte[16];
        var b = 0;
        for (var i = 0; i < UuidLength; i++)
        {
            var c = span[pos + i];
            if (i is 8 or 13 or 18 or 23)
            {
                if (c != '-')
                {
                    return false;
                }

                continue;
            }

            var high = HexValue(c);
            var low = HexValue(span[pos + i + 1]);
            if (high < 0 || low < 0)
            {
                return false;
            }

            bytes[b++] = (byte)((high << 4) | low);
            i++;
        }

        sourceId = new Guid(bytes, bigEndian: true);
        return true;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    private static bool TryParseNumber(ReadOnlySpan<char> span, ref int pos, out long value, [NotNullWhen(false)] out string? error)
    {
        value = 0;
        var start = pos;
        if (pos >= span.Length || span[pos] is < '0' or > '9')
        {
            error = Describe(span, pos, "expected a transaction number (a decimal number from 1) or a tag");
            return false;
        }

        ulong number = 0;
        while (pos < span.Length && span[pos] is >= '0' and <= '9')
        {
            var digit = (ulong)(span[pos] - '0');
            if (number > (GtidSet.MaxTransactionNumber - digit) / 10)
            {
                error = Describe(span, start, $"transaction number is larger than {GtidSet.MaxTransactionNumber}, the largest MySQL accepts");
                return false;
            }

            number = (number * 10) + digit;
            pos++;
        }

        if (number == 0)
        {
            error = Describe(span, start, "transaction numbers start at 1");
            return false;
        }

        if (span[start] == '0')
        {
            error = Describe(span, start, "transaction number has a leading zero, which MySQL would read as octal");
            return false;
        }

        value = (long)number;
        error = null;
        return true;
    }
}
