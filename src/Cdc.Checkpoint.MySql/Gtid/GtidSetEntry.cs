using System.Collections.Immutable;

namespace Cdc.Checkpoint.MySql.Gtid;

/// <summary>
/// The transactions of one transaction source in a <see cref="GtidSet"/>: a source UUID, an optional tag (MySQL 8.3+),
/// and the sorted, coalesced intervals of transaction numbers.
/// </summary>
/// <remarks>Immutable and thread-safe.</remarks>
public sealed class GtidSetEntry
{
    internal GtidSetEntry(UInt128 key, Guid sourceId, string tag, ImmutableArray<GtidInterval> intervals)
    {
        Key = key;
        SourceId = sourceId;
        Tag = tag;
        Intervals = intervals;
    }

    /// <summary>The source UUID (the <c>server_uuid</c> of the server where the transactions originated).</summary>
    public Guid SourceId { get; }

    /// <summary>The tag in lower case, or the empty string for untagged transactions.</summary>
    public string Tag { get; }

    /// <summary>The intervals of transaction numbers: sorted, disjoint, never adjacent, never empty.</summary>
    public ImmutableArray<GtidInterval> Intervals { get; }

    /// <summary>How many transactions the entry holds.</summary>
    public UInt128 TransactionCount
    {
        get
        {
            UInt128 count = 0;
            foreach (var interval in Intervals)
            {
                count += interval.Count;
            }

            return count;
        }
    }

    /// <summary>The UUID as a big-endian number: orders entries the way MySQL prints them (by UUID text).</summary>
    internal UInt128 Key { get; }

    /// <summary>The entry as MySQL prints it: <c>uuid:1-5:7</c> or <c>uuid:tag:1-5</c>.</summary>
    /// <returns>The text form.</returns>
    public override string ToString()
    {
        var builder = new System.Text.StringBuilder();
        builder.Append(SourceId.ToString("D"));
        GtidSet.AppendTagAndIntervals(builder, this);
        return builder.ToString();
    }

    internal int CompareKey(UInt128 key, string tag)
    {
        var byKey = Key.CompareTo(key);
        return byKey != 0 ? byKey : string.CompareOrdinal(Tag, tag);
    }

    internal int CompareKey(GtidSetEntry other) => CompareKey(other.Key, other.Tag);
}
