using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.MySql.Gtid;

/// <summary>
/// A MySQL GTID set such as <c>gtid_executed</c> or <c>gtid_purged</c>: for each transaction source (a source UUID
/// and, since MySQL 8.3, an optional tag) the set of transaction numbers. Immutable, with a strict parser, a canonical
/// formatter and set algebra.
/// </summary>
/// <remarks>
/// <para>
/// <b>Text form.</b> <see cref="Parse"/> reads what MySQL prints, for example
/// <c>3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:7-9,\n4e11fa47-71ca-11e1-9e33-c80aa9429562:1-3</c> and tagged GTIDs
/// (<c>uuid:tag:1-5</c>, <c>uuid:1-5:tag:7</c>): whitespace (including new lines) is allowed around every separator,
/// UUIDs and tags are case-insensitive, repeated UUIDs and tags are merged, overlapping or adjacent intervals are
/// coalesced, and the empty string is the empty set. <see cref="ToString"/> prints the canonical form: lower case,
/// sources sorted by UUID and then tag (untagged first), one comma and no whitespace between sources, coalesced
/// intervals, for example <c>3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7-9:batch:1-3,4e11fa47-71ca-11e1-9e33-c80aa9429562:1-3</c>.
/// Parsing the canonical form gives back an equal set.
/// </para>
/// <para>
/// <b>Strictness.</b> Transaction numbers are decimal, 1..<see cref="MaxTransactionNumber"/> (2^63-2, the largest
/// GNO MySQL accepts), without leading zeros (MySQL's own parser would read <c>010</c> as octal 8). Tags are 1-32
/// characters, start with a letter or underscore and continue with letters, digits or underscores. A UUID or tag
/// must be followed by at least one interval, intervals must not be inverted (<c>5-3</c>), and empty elements
/// (<c>a:1,,b:2</c>) and the <c>+</c> prefix of <c>SET gtid_purged</c> are refused. Anything else is a
/// <see cref="FormatException"/> that quotes the input.
/// </para>
/// <para>
/// <b>Algebra.</b> Each source keeps a sorted, coalesced interval list, so <see cref="Union"/>,
/// <see cref="Intersect"/>, <see cref="Subtract"/> and <see cref="IsSubsetOf"/> run in one linear pass. Two sets are
/// equal when they hold the same transactions, whatever text they were parsed from.
/// </para>
/// <para>Instances are immutable and thread-safe.</para>
/// </remarks>
public sealed class GtidSet : IEquatable<GtidSet>, IParsable<GtidSet>
{
    /// <summary>The largest transaction number (GNO) MySQL accepts: 2^63-2 (MySQL's <c>GNO_END</c> is 2^63-1, exclusive).</summary>
    public const long MaxTransactionNumber = long.MaxValue - 1;

    /// <summary>The longest GTID tag, in characters.</summary>
    public const int MaxTagLength = 32;

    private static readonly SearchValues<char> TagChars =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");

    private readonly ImmutableArray<GtidSetEntry> _entries;
    private string? _text;
    private int _hashCode;

    private GtidSet(ImmutableArray<GtidSetEntry> entries) => _entries = entries;

    /// <summary>The empty set (MySQL prints it as the empty string).</summary>
    public static GtidSet Empty { get; } = new(ImmutableArray<GtidSetEntry>.Empty);

    /// <summary>The sources in the set, sorted by UUID and then tag (untagged first); each has at least one interval.</summary>
    public ImmutableArray<GtidSetEntry> Entries => _entries;

    /// <summary>Whether the set holds no transactions.</summary>
    public bool IsEmpty => _entries.IsEmpty;

    /// <summary>
    /// How many transactions the set holds. A 128-bit count cannot overflow: one source holds fewer than 2^63
    /// transactions, and a set cannot hold 2^64 sources.
    /// </summary>
    public UInt128 TransactionCount
    {
        get
        {
            UInt128 count = 0;
            foreach (var entry in _entries)
            {
                count += entry.TransactionCount;
            }

            return count;
        }
    }

    /// <summary>Parses a GTID set in the form MySQL prints (see the remarks on <see cref="GtidSet"/>).</summary>
    /// <param name="text">The text, for example the value of <c>@@GLOBAL.gtid_executed</c>.</param>
    /// <returns>The set.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is <see langword="null"/>.</exception>
    /// <exception cref="FormatException">The text is not a valid GTID set; the message quotes it and says what is wrong where.</exception>
    public static GtidSet Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return GtidSetParser.TryParse(text, out var result, out var error)
            ? result
            : throw new FormatException(
                $"Invalid MySQL GTID set {OffsetJsonText.Quote(text)}: {error}. Expected the form MySQL prints for gtid_executed, such as '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,4e11fa47-71ca-11e1-9e33-c80aa9429562:tag:1-3', or the empty string for the empty set.");
    }

    /// <summary>Parses a GTID set without throwing.</summary>
    /// <param name="text">The text; <see langword="null"/> fails.</param>
    /// <param name="result">The set, when the text is valid.</param>
    /// <returns><see langword="true"/> when the text is a valid GTID set.</returns>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out GtidSet? result)
    {
        if (text is null)
        {
            result = null;
            return false;
        }

        return GtidSetParser.TryParse(text, out result, out _);
    }

    /// <inheritdoc />
    static GtidSet IParsable<GtidSet>.Parse(string s, IFormatProvider? provider) => Parse(s);

    /// <inheritdoc />
    static bool IParsable<GtidSet>.TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, [MaybeNullWhen(false)] out GtidSet result) =>
        TryParse(s, out result);

    /// <summary>Whether the set holds the untagged transaction <paramref name="sourceId"/>:<paramref name="transactionNumber"/>.</summary>
    /// <param name="sourceId">The source UUID.</param>
    /// <param name="transactionNumber">The transaction number (GNO).</param>
    /// <returns><see langword="true"/> when the transaction is in the set.</returns>
    public bool Contains(Guid sourceId, long transactionNumber) => Contains(sourceId, null, transactionNumber);

    /// <summary>Whether the set holds the transaction <paramref name="sourceId"/>:<paramref name="tag"/>:<paramref name="transactionNumber"/>.</summary>
    /// <param name="sourceId">The source UUID.</param>
    /// <param name="tag">The tag (case-insensitive), or <see langword="null"/> or empty for an untagged transaction.</param>
    /// <param name="transactionNumber">The transaction number (GNO); numbers outside 1..<see cref="MaxTransactionNumber"/> are never contained.</param>
    /// <returns><see langword="true"/> when the transaction is in the set.</returns>
    /// <exception cref="ArgumentException"><paramref name="tag"/> is not a valid GTID tag.</exception>
    public bool Contains(Guid sourceId, string? tag, long transactionNumber)
    {
        var normalizedTag = NormalizeTagArgument(tag);
        var index = IndexOf(KeyOf(sourceId), normalizedTag);
        return index >= 0 && IntervalMath.Contains(_entries[index].Intervals, transactionNumber);
    }

    /// <summary>Returns the set with the untagged transaction <paramref name="sourceId"/>:<paramref name="transactionNumber"/> added.</summary>
    /// <param name="sourceId">The source UUID.</param>
    /// <param name="transactionNumber">The transaction number, 1..<see cref="MaxTransactionNumber"/>.</param>
    /// <returns>The new set (or this one when the transaction is already in it).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="transactionNumber"/> is outside the GNO range.</exception>
    public GtidSet Add(Guid sourceId, long transactionNumber) => Add(sourceId, null, new GtidInterval(transactionNumber, transactionNumber));

    /// <summary>Returns the set with the transactions <paramref name="sourceId"/>:<paramref name="tag"/>:<paramref name="interval"/> added.</summary>
    /// <param name="sourceId">The source UUID.</param>
    /// <param name="tag">The tag (case-insensitive), or <see langword="null"/> or empty for untagged transactions.</param>
    /// <param name="interval">The transaction numbers to add.</param>
    /// <returns>The new set (or this one when the transactions are already in it).</returns>
    /// <exception cref="ArgumentException"><paramref name="tag"/> is not a valid GTID tag, or <paramref name="interval"/> is the default value.</exception>
    public GtidSet Add(Guid sourceId, string? tag, GtidInterval interval)
    {
        if (interval.First == 0)
        {
            throw new ArgumentException("The interval is the default value; create it with new GtidInterval(first, last).", nameof(interval));
        }

        var normalizedTag = NormalizeTagArgument(tag);
        var single = new GtidSet([new GtidSetEntry(KeyOf(sourceId), sourceId, normalizedTag, [interval])]);
        var union = Union(single);
        return union.Equals(this) ? this : union;
    }

    /// <summary>The transactions in this set or in <paramref name="other"/>.</summary>
    /// <param name="other">The other set.</param>
    /// <returns>The union.</returns>
    public GtidSet Union(GtidSet other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.IsEmpty)
        {
            return this;
        }

        if (IsEmpty)
        {
            return other;
        }

        var result = ImmutableArray.CreateBuilder<GtidSetEntry>(_entries.Length + other._entries.Length);
        int i = 0, j = 0;
        while (i < _entries.Length || j < other._entries.Length)
        {
            var order = i >= _entries.Length ? 1 : j >= other._entries.Length ? -1 : _entries[i].CompareKey(other._entries[j]);
            if (order < 0)
            {
                result.Add(_entries[i++]);
            }
            else if (order > 0)
            {
                result.Add(other._entries[j++]);
            }
            else
            {
                var left = _entries[i++];
                var right = other._entries[j++];
                result.Add(WithIntervals(left, IntervalMath.Union(left.Intervals, right.Intervals)));
            }
        }

        return new GtidSet(result.DrainToImmutable());
    }

    /// <summary>The transactions in both this set and <paramref name="other"/>.</summary>
    /// <param name="other">The other set.</param>
    /// <returns>The intersection.</returns>
    public GtidSet Intersect(GtidSet other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var result = ImmutableArray.CreateBuilder<GtidSetEntry>();
        int i = 0, j = 0;
        while (i < _entries.Length && j < other._entries.Length)
        {
            var order = _entries[i].CompareKey(other._entries[j]);
            if (order < 0)
            {
                i++;
            }
            else if (order > 0)
            {
                j++;
            }
            else
            {
                var left = _entries[i++];
                var intervals = IntervalMath.Intersect(left.Intervals, other._entries[j++].Intervals);
                if (!intervals.IsEmpty)
                {
                    result.Add(WithIntervals(left, intervals));
                }
            }
        }

        return result.Count == 0 ? Empty : new GtidSet(result.DrainToImmutable());
    }

    /// <summary>
    /// The transactions in this set that are not in <paramref name="other"/> (MySQL's <c>GTID_SUBTRACT(this, other)</c>).
    /// For example <c>executed.Subtract(checkpoint)</c> is what a consumer resuming from <c>checkpoint</c> still needs.
    /// </summary>
    /// <param name="other">The transactions to remove.</param>
    /// <returns>The difference.</returns>
    public GtidSet Subtract(GtidSet other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (IsEmpty || other.IsEmpty)
        {
            return this;
        }

        var result = ImmutableArray.CreateBuilder<GtidSetEntry>(_entries.Length);
        var j = 0;
        foreach (var entry in _entries)
        {
            while (j < other._entries.Length && other._entries[j].CompareKey(entry) < 0)
            {
                j++;
            }

            if (j < other._entries.Length && other._entries[j].CompareKey(entry) == 0)
            {
                var intervals = IntervalMath.Subtract(entry.Intervals, other._entries[j].Intervals);
                if (!intervals.IsEmpty)
                {
                    result.Add(WithIntervals(entry, intervals));
                }
            }
            else
            {
                result.Add(entry);
            }
        }

        return result.Count == 0 ? Empty : new GtidSet(result.DrainToImmutable());
    }

    /// <summary>Whether every transaction in this set is in <paramref name="other"/> (MySQL's <c>GTID_SUBSET(this, other)</c>).</summary>
    /// <param name="other">The other set.</param>
    /// <returns><see langword="true"/> when this set is a subset of (or equal to) <paramref name="other"/>.</returns>
    public bool IsSubsetOf(GtidSet other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var j = 0;
        foreach (var entry in _entries)
        {
            while (j < other._entries.Length && other._entries[j].CompareKey(entry) < 0)
            {
                j++;
            }

            if (j == other._entries.Length
                || other._entries[j].CompareKey(entry) != 0
                || !IntervalMath.IsSubset(entry.Intervals, other._entries[j].Intervals))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether every transaction in <paramref name="other"/> is in this set.</summary>
    /// <param name="other">The other set.</param>
    /// <returns><see langword="true"/> when this set is a superset of (or equal to) <paramref name="other"/>.</returns>
    public bool IsSupersetOf(GtidSet other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return other.IsSubsetOf(this);
    }

    /// <summary>Whether this set and <paramref name="other"/> share at least one transaction.</summary>
    /// <param name="other">The other set.</param>
    /// <returns><see langword="true"/> when the intersection is not empty.</returns>
    public bool Overlaps(GtidSet other)
    {
        ArgumentNullException.ThrowIfNull(other);
        int i = 0, j = 0;
        while (i < _entries.Length && j < other._entries.Length)
        {
            var order = _entries[i].CompareKey(other._entries[j]);
            if (order < 0)
            {
                i++;
            }
            else if (order > 0)
            {
                j++;
            }
            else if (IntervalMath.Overlaps(_entries[i++].Intervals, other._entries[j++].Intervals))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Where this set stands relative to <paramref name="other"/> in the order of progress: <see cref="OffsetOrder.Same"/>
    /// when equal, <see cref="OffsetOrder.After"/> when a strict superset, <see cref="OffsetOrder.Before"/> when a
    /// strict subset, and <see cref="OffsetOrder.Diverged"/> when each holds a transaction the other lacks.
    /// </summary>
    /// <param name="other">The other set.</param>
    /// <returns>The order.</returns>
    public OffsetOrder CompareTo(GtidSet other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (Equals(other))
        {
            return OffsetOrder.Same;
        }

        if (other.IsSubsetOf(this))
        {
            return OffsetOrder.After;
        }

        return IsSubsetOf(other) ? OffsetOrder.Before : OffsetOrder.Diverged;
    }

    /// <inheritdoc />
    public bool Equals(GtidSet? other)
    {
        if (other is null)
        {
            return false;
        }

        if (ReferenceEquals(this, other))
        {
            return true;
        }

        if (_entries.Length != other._entries.Length || (_hashCode != 0 && other._hashCode != 0 && _hashCode != other._hashCode))
        {
            return false;
        }

        for (var i = 0; i < _entries.Length; i++)
        {
            var left = _entries[i];
            var right = other._entries[i];
            if (left.CompareKey(right) != 0 || !left.Intervals.AsSpan().SequenceEqual(right.Intervals.AsSpan()))
            {
                return false;
            }
        }

        return true;
    }

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as GtidSet);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        if (_hashCode == 0)
        {
            var hash = default(HashCode);
            foreach (var entry in _entries)
            {
                hash.Add(entry.Key);
                hash.Add(entry.Tag, StringComparer.Ordinal);
                foreach (var interval in entry.Intervals)
                {
                    hash.Add(interval.First);
                    hash.Add(interval.Last);
                }
            }

            var value = hash.ToHashCode();
            _hashCode = value == 0 ? 1 : value;
        }

        return _hashCode;
    }

    /// <summary>The canonical text form (see the remarks on <see cref="GtidSet"/>); the empty string for the empty set.</summary>
    /// <returns>The canonical text.</returns>
    public override string ToString() => _text ??= Format();

    /// <summary>Equality by content.</summary>
    public static bool operator ==(GtidSet? left, GtidSet? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Inequality by content.</summary>
    public static bool operator !=(GtidSet? left, GtidSet? right) => !(left == right);

    internal static GtidSet FromSortedEntries(ImmutableArray<GtidSetEntry> entries) => entries.IsEmpty ? Empty : new GtidSet(entries);

    /// <summary>The UUID as a big-endian 128-bit number, so numeric order is the order of the UUID text.</summary>
    internal static UInt128 KeyOf(Guid sourceId)
    {
        Span<byte> bytes = stackalloc byte[16];
        sourceId.TryWriteBytes(bytes, bigEndian: true, out _);
        return BinaryPrimitives.ReadUInt128BigEndian(bytes);
    }

    internal static bool IsTagStart(char c) => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or '_';

    internal static bool IsTagPart(char c) => IsTagStart(c) || c is >= '0' and <= '9';

    internal static void AppendTagAndIntervals(StringBuilder builder, GtidSetEntry entry)
    {
        if (entry.Tag.Length > 0)
        {
            builder.Append(':').Append(entry.Tag);
        }

        foreach (var interval in entry.Intervals)
        {
            builder.Append(':').Append(interval.First.ToString(CultureInfo.InvariantCulture));
            if (interval.Last != interval.First)
            {
                builder.Append('-').Append(interval.Last.ToString(CultureInfo.InvariantCulture));
            }
        }
    }

    private static string NormalizeTagArgument(string? tag)
    {
        if (string.IsNullOrEmpty(tag))
        {
            return string.Empty;
        }

        if (tag.Length > MaxTagLength || !IsTagStart(tag[0]) || tag.AsSpan(1).ContainsAnyExcept(TagChars))
        {
            throw new ArgumentException(
                $"Invalid GTID tag {OffsetJsonText.Quote(tag)}: use 1-{MaxTagLength} letters, digits or '_', starting with a letter or '_'.",
                nameof(tag));
        }

        return tag.ToLowerInvariant();
    }

    private static GtidSetEntry WithIntervals(GtidSetEntry entry, ImmutableArray<GtidInterval> intervals) =>
        new(entry.Key, entry.SourceId, entry.Tag, intervals);

    private int IndexOf(UInt128 key, string tag)
    {
        int low = 0, high = _entries.Length - 1;
        while (low <= high)
        {
            var mid = low + ((high - low) >> 1);
            var order = _entries[mid].CompareKey(key, tag);
            if (order < 0)
            {
                low = mid + 1;
            }
            else if (order > 0)
            {
                high = mid - 1;
            }
            else
            {
                return mid;
            }
        }

        return -1;
    }

    private string Format()
    {
        if (IsEmpty)
        {
            return string.Empty;
        }

        var builder = new StringBuilder();
        for (var i = 0; i < _entries.Length; i++)
        {
            var entry = _entries[i];
            if (i == 0 || _entries[i - 1].Key != entry.Key)
            {
                if (i > 0)
                {
                    builder.Append(',');
                }

                builder.Append(entry.SourceId.ToString("D"));
            }

            AppendTagAndIntervals(builder, entry);
        }

        return builder.ToString();
    }
}
