using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.MySql.Gtid;

/// <summary>
/// A MariaDB GTID position such as <c>gtid_binlog_pos</c>, <c>gtid_slave_pos</c> or <c>gtid_current_pos</c>: the last
/// GTID applied in each replication domain, for example <c>0-1-100,1-2-5</c>.
/// </summary>
/// <remarks>
/// <para>
/// <b>Text form.</b> <see cref="Parse"/> reads comma-separated GTIDs with whitespace (including new lines) allowed
/// around each one; the empty string is the empty position. Each domain may appear once: a second GTID for the same
/// domain is a <see cref="FormatException"/>, as it is for MariaDB (<c>ER_DUPLICATE_GTID_DOMAIN</c>).
/// <see cref="ToString"/> prints the canonical form, sorted by domain, without whitespace.
/// </para>
/// <para>
/// <b>Order.</b> <see cref="CompareTo"/> compares domain by domain using the sequence number only: the server id
/// identifies who wrote a transaction and changes legitimately on failover, so it does not order. Within a domain,
/// equal sequence numbers with different server ids are two different transactions (alternative histories), which
/// makes the positions <see cref="OffsetOrder.Diverged"/>. A domain present on one side only counts as that side
/// being ahead in that domain: MariaDB adds a domain to <c>gtid_binlog_pos</c> when the first transaction of that
/// domain is binlogged, and a replica that lacks a domain receives that domain from its start. Then: every domain equal
/// is <see cref="OffsetOrder.Same"/>; ahead in at least one domain and behind in none is <see cref="OffsetOrder.After"/>;
/// behind in at least one and ahead in none is <see cref="OffsetOrder.Before"/>; ahead in one and behind in another is
/// <see cref="OffsetOrder.Diverged"/>.
/// </para>
/// <para>
/// <b>Strict mode.</b> With <c>gtid_strict_mode=ON</c> MariaDB refuses to binlog a GTID whose sequence number is not
/// larger than the last one of its domain, so "larger sequence number in a domain" really means "later in the binlog".
/// Without strict mode, a domain can receive out-of-order sequence numbers (two sources writing to one domain, or a
/// manual <c>gtid_seq_no</c>), and this order is only as reliable as the sequence numbers; run CDC sources with
/// <c>gtid_strict_mode=ON</c> and a distinct <c>gtid_domain_id</c> per independent writer.
/// </para>
/// <para>Instances are immutable and thread-safe.</para>
/// </remarks>
public sealed class MariaDbGtidPosition : IEquatable<MariaDbGtidPosition>, IParsable<MariaDbGtidPosition>
{
    private readonly ImmutableArray<MariaDbGtid> _gtids;
    private string? _text;

    /// <summary>Creates a position from one GTID per domain, in any order.</summary>
    /// <param name="gtids">The GTIDs.</param>
    /// <exception cref="ArgumentException">Two GTIDs share a domain.</exception>
    public MariaDbGtidPosition(IEnumerable<MariaDbGtid> gtids)
    {
        ArgumentNullException.ThrowIfNull(gtids);
        var sorted = gtids.OrderBy(static g => g.DomainId).ToImmutableArray();
        for (var i = 1; i < sorted.Length; i++)
        {
            if (sorted[i].DomainId == sorted[i - 1].DomainId)
            {
                throw new ArgumentException(
                    $"Domain {sorted[i].DomainId} appears twice ({sorted[i - 1]} and {sorted[i]}); a GTID position holds one GTID per domain.",
                    nameof(gtids));
            }
        }

        _gtids = sorted;
    }

    private MariaDbGtidPosition(ImmutableArray<MariaDbGtid> sortedGtids) => _gtids = sortedGtids;

    /// <summary>The empty position (no domain has any transaction).</summary>
    public static MariaDbGtidPosition Empty { get; } = new(ImmutableArray<MariaDbGtid>.Empty);

    /// <summary>The GTIDs, one per domain, sorted by domain.</summary>
    public ImmutableArray<MariaDbGtid> Gtids => _gtids;

    /// <summary>Whether the position holds no GTID.</summary>
    public bool IsEmpty => _gtids.IsEmpty;

    /// <summary>Parses a GTID position such as <c>0-1-100,1-2-5</c> (see the remarks on <see cref="MariaDbGtidPosition"/>).</summary>
    /// <param name="text">The text, for example the value of <c>@@GLOBAL.gtid_binlog_pos</c>.</param>
    /// <returns>The position.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is <see langword="null"/>.</exception>
    /// <exception cref="FormatException">The text is not a GTID position, or repeats a domain; the message quotes it.</exception>
    public static MariaDbGtidPosition Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParseCore(text, out var result, out var error)
            ? result
            : throw new FormatException(
                $"Invalid MariaDB GTID position {OffsetJsonText.Quote(text)}: {error}. Expected comma-separated domain-server-sequence GTIDs with one per domain, such as '0-1-100,1-2-5', or the empty string.");
    }

    /// <summary>Parses a GTID position without throwing.</summary>
    /// <param name="text">The text; <see langword="null"/> fails.</param>
    /// <param name="result">The position, when valid.</param>
    /// <returns><see langword="true"/> when the text is a valid GTID position.</returns>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out MariaDbGtidPosition? result)
    {
        result = null;
        return text is not null && TryParseCore(text, out result, out _);
    }

    /// <inheritdoc />
    static MariaDbGtidPosition IParsable<MariaDbGtidPosition>.Parse(string s, IFormatProvider? provider) => Parse(s);

    /// <inheritdoc />
    static bool IParsable<MariaDbGtidPosition>.TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, [MaybeNullWhen(false)] out MariaDbGtidPosition result) =>
        TryParse(s, out result);

    /// <summary>The GTID of <paramref name="domainId"/>, if the position has one.</summary>
    /// <param name="domainId">The domain.</param>
    /// <param name="gtid">The GTID, when found.</param>
    /// <returns><see langword="true"/> when the domain is in the position.</returns>
    public bool TryGetGtid(uint domainId, out MariaDbGtid gtid)
    {
        var index = IndexOf(domainId);
        gtid = index >= 0 ? _gtids[index] : default;
        return index >= 0;
    }

    /// <summary>
    /// Returns the position with <paramref name="gtid"/> as the last GTID of its domain (replacing the domain's previous
    /// GTID), which is how a position moves forward as transactions are applied.
    /// </summary>
    /// <param name="gtid">The GTID just applied.</param>
    /// <returns>The new position.</returns>
    public MariaDbGtidPosition With(MariaDbGtid gtid)
    {
        var index = IndexOf(gtid.DomainId);
        if (index >= 0)
        {
            return _gtids[index] == gtid ? this : new MariaDbGtidPosition(_gtids.SetItem(index, gtid));
        }

        return new MariaDbGtidPosition(_gtids.Insert(~index, gtid));
    }

    /// <summary>
    /// Where this position stands relative to <paramref name="other"/> in the order of progress (see the remarks on
    /// <see cref="MariaDbGtidPosition"/>).
    /// </summary>
    /// <param name="other">The other position.</param>
    /// <returns>The order.</returns>
    public OffsetOrder CompareTo(MariaDbGtidPosition other)
    {
        ArgumentNullException.ThrowIfNull(other);
        bool ahead = false, behind = false;
        int i = 0, j = 0;
        while (i < _gtids.Length || j < other._gtids.Length)
        {
            if (j >= other._gtids.Length || (i < _gtids.Length && _gtids[i].DomainId < other._gtids[j].DomainId))
            {
                ahead = true;
                i++;
            }
            else if (i >= _gtids.Length || other._gtids[j].DomainId < _gtids[i].DomainId)
            {
                behind = true;
                j++;
            }
            else
            {
                var mine = _gtids[i++];
                var theirs = other._gtids[j++];
                if (mine.SequenceNumber > theirs.SequenceNumber)
                {
                    ahead = true;
                }
                else if (mine.SequenceNumber < theirs.SequenceNumber)
                {
                    behind = true;
                }
                else if (mine.ServerId != theirs.ServerId)
                {
                    return OffsetOrder.Diverged;
                }
            }
        }

        return (ahead, behind) switch
        {
            (false, false) => OffsetOrder.Same,
            (true, false) => OffsetOrder.After,
            (false, true) => OffsetOrder.Before,
            _ => OffsetOrder.Diverged,
        };
    }

    /// <inheritdoc />
    public bool Equals(MariaDbGtidPosition? other) =>
        other is not null && (ReferenceEquals(this, other) || _gtids.AsSpan().SequenceEqual(other._gtids.AsSpan()));

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as MariaDbGtidPosition);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = default(HashCode);
        foreach (var gtid in _gtids)
        {
            hash.Add(gtid);
        }

        return hash.ToHashCode();
    }

    /// <summary>The canonical text form: GTIDs sorted by domain, joined by <c>,</c>; the empty string for the empty position.</summary>
    /// <returns>The canonical text.</returns>
    public override string ToString() => _text ??= string.Join(',', _gtids);

    /// <summary>Equality by content.</summary>
    public static bool operator ==(MariaDbGtidPosition? left, MariaDbGtidPosition? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Inequality by content.</summary>
    public static bool operator !=(MariaDbGtidPosition? left, MariaDbGtidPosition? right) => !(left == right);

    private static bool TryParseCore(string text, [NotNullWhen(true)] out MariaDbGtidPosition? result, [NotNullWhen(false)] out string? error)
    {
        result = null;
        var span = text.AsSpan();
        var pos = GtidSetParser.SkipWhitespace(span, 0);
        if (pos == span.Length)
        {
            result = Empty;
            error = null;
            return true;
        }

        var gtids = new List<MariaDbGtid>();
        while (true)
        {
            var start = pos;
            while (pos < span.Length && span[pos] != ',' && !GtidSetParser.IsWhitespace(span[pos]))
            {
                pos++;
            }

            if (start == pos)
            {
                error = GtidSetParser.Describe(span, pos, "empty element (two commas, or a comma at the start or end)");
                return false;
            }

            if (!MariaDbGtid.TryParse(span[start..pos], out var gtid, out var problem))
            {
                error = GtidSetParser.Describe(span, start, $"'{span[start..pos]}' is not a GTID: {problem}");
                return false;
            }

            gtids.Add(gtid);
            pos = GtidSetParser.SkipWhitespace(span, pos);
            if (pos == span.Length)
            {
                break;
            }

            if (span[pos] != ',')
            {
                error = GtidSetParser.Describe(span, pos, "expected ',' or the end of the text");
                return false;
            }

            pos = GtidSetParser.SkipWhitespace(span, pos + 1);
        }

        gtids.Sort(static (a, b) => a.DomainId.CompareTo(b.DomainId));
        for (var i = 1; i < gtids.Count; i++)
        {
            if (gtids[i].DomainId == gtids[i - 1].DomainId)
            {
                error = $"domain {gtids[i].DomainId} appears twice ({gtids[i - 1]} and {gtids[i]}); a position holds one GTID per domain";
                return false;
            }
        }

        result = new MariaDbGtidPosition(gtids.ToImmutableArray());
        error = null;
        return true;
    }

    private int IndexOf(uint domainId)
    {
        int low = 0, high = _gtids.Length - 1;
        while (low <= high)
        {
            var mid = low + ((high - low) >> 1);
            var d = _gtids[mid].DomainId;
            if (d < domainId)
            {
                low = mid + 1;
            }
            else if (d > domainId)
            {
                high = mid - 1;
            }
            else
            {
                return mid;
            }
        }

        return ~low;
    }
}
