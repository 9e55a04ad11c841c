using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.MySql.Gtid;

/// <summary>
/// One MariaDB global transaction id, <c>domain-server-sequence</c> such as <c>0-1-100</c>: the replication domain
/// (32-bit), the <c>server_id</c> of the server that wrote the transaction (32-bit), and the sequence number within
/// the domain (64-bit).
/// </summary>
/// <remarks>
/// Immutable and thread-safe. The text form is three decimal numbers joined by <c>-</c>; leading zeros are read as
/// decimal (as MariaDB does) and dropped by <see cref="ToString"/>.
/// </remarks>
/// <param name="domainId">The replication domain (<c>gtid_domain_id</c>).</param>
/// <param name="serverId">The <c>server_id</c> of the originating server.</param>
/// <param name="sequenceNumber">The sequence number within the domain.</param>
public readonly struct MariaDbGtid(uint domainId, uint serverId, ulong sequenceNumber) : IEquatable<MariaDbGtid>, IParsable<MariaDbGtid>
{
    /// <summary>The replication domain (<c>gtid_domain_id</c>).</summary>
    public uint DomainId { get; } = domainId;

    /// <summary>The <c>server_id</c> of the server that wrote the transaction. It identifies, it does not order.</summary>
    public uint ServerId { get; } = serverId;

    /// <summary>The sequence number within the domain; it orders transactions of one domain.</summary>
    public ulong SequenceNumber { get; } = sequenceNumber;

    /// <summary>Parses <c>domain-server-sequence</c>, for example <c>0-1-100</c>.</summary>
    /// <param name="text">The text; surrounding whitespace is allowed.</param>
    /// <returns>The GTID.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is <see langword="null"/>.</exception>
    /// <exception cref="FormatException">The text is not a MariaDB GTID; the message quotes it.</exception>
    public static MariaDbGtid Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text.AsSpan().Trim(), out var gtid, out var error)
            ? gtid
            : throw new FormatException($"Invalid MariaDB GTID {OffsetJsonText.Quote(text)}: {error}. Expected domain-server-sequence, such as '0-1-100'.");
    }

    /// <summary>Parses a MariaDB GTID without throwing.</summary>
    /// <param name="text">The text; <see langword="null"/> fails.</param>
    /// <param name="result">The GTID, when valid.</param>
    /// <returns><see langword="true"/> when the text is a MariaDB GTID.</returns>
    public static bool TryParse([NotNullWhen(true)] string? text, out MariaDbGtid result)
    {
        result = default;
        return text is not null && TryParse(text.AsSpan().Trim(), out result, out _);
    }

    /// <inheritdoc />
    static MariaDbGtid IParsable<MariaDbGtid>.Parse(string s, IFormatProvider? provider) => Parse(s);

    /// <inheritdoc />
    static bool IParsable<MariaDbGtid>.TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, out MariaDbGtid result) =>
        TryParse(s, out result);

    /// <inheritdoc />
    public bool Equals(MariaDbGtid other) =>
        DomainId == other.DomainId && ServerId == other.ServerId && SequenceNumber == other.SequenceNumber;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is MariaDbGtid other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(DomainId, ServerId, SequenceNumber);

    /// <summary>The GTID as MariaDB prints it: <c>domain-server-sequence</c>.</summary>
    /// <returns>The text form.</returns>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{DomainId}-{ServerId}-{SequenceNumber}");

    /// <summary>Equality of all three parts.</summary>
    public static bool operator ==(MariaDbGtid left, MariaDbGtid right) => left.Equals(right);

    /// <summary>Inequality of any part.</summary>
    public static bool operator !=(MariaDbGtid left, MariaDbGtid right) => !left.Equals(right);

    /// <summary>Parses exactly <c>domain-server-sequence</c> (no whitespace inside).</summary>
    internal static bool TryParse(ReadOnlySpan<char> text, out MariaDbGtid result, [NotNullWhen(false)] out string? error)
    {
        result = default;
        var pos = 0;
        if (!TryParseNumber(text, ref pos, uint.MaxValue, "domain id", out var domain, out error))
        {
            return false;
        }

        if (!Expect(text, ref pos, out error)
            || !TryParseNumber(text, ref pos, uint.MaxValue, "server id", out var server, out error)
            || !Expect(text, ref pos, out error)
            || !TryParseNumber(text, ref pos, ulong.MaxValue, "sequence number", out var sequence, out error))
        {
            return false;
        }

        if (pos != text.Length)
        {
            error = $"unexpected '{text[pos..]}' after the sequence number";
            return false;
        }

        result = new MariaDbGtid((uint)domain, (uint)server, sequence);
        return true;
    }

    private static bool Expect(ReadOnlySpan<char> text, ref int pos, [NotNullWhen(false)] out string? error)
    {
        if (pos < text.Length && text[pos] == '-')
        {
            pos++;
            error = null;
            return true;
        }

        error = pos < text.Length ? $"expected '-' but found '{text[pos]}'" : "expected '-' but the GTID ends";
        return false;
    }

    private static bool TryParseNumber(ReadOnlySpan<char> text, ref int pos, ulong max, string what, out ulong value, [NotNullWhen(false)] out string? error)
    {
        value = 0;
        var start = pos;
        while (pos < text.Length && text[pos] is >= '0' and <= '9')
        {
            var digit = (ulong)(text[pos] - '0');
            if (value > (max - digit) / 10)
            {
                error = $"the {what} is larger than {max}";
                return false;
            }

            value = (value * 10) + digit;
            pos++;
        }

        if (pos == start)
        {
            error = pos < text.Length ? $"expected the {what} (a decimal number) but found '{text[pos]}'" : $"expected the {what} but the GTID ends";
            return false;
        }

        error = null;
        return true;
    }
}
