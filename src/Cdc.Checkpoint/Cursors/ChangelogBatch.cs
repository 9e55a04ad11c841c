using System.Globalization;
using Cdc.Checkpoint.Streaming;

namespace Cdc.Checkpoint.Cursors;

/// <summary>What one poll of a <see cref="ChangelogCursor"/> delivered: records in position order and the gaps before them.</summary>
/// <remarks>Immutable and thread-safe.</remarks>
public sealed class ChangelogBatch
{
    private ChangelogBatch(ChangelogRecord[] records, ChangelogGap[] gaps, ulong visibilityEpoch)
    {
        Records = records;
        Gaps = gaps;
        VisibilityEpoch = visibilityEpoch;
    }

    /// <summary>The delivered records, in ascending position order; empty when the poll found nothing.</summary>
    public IReadOnlyList<ChangelogRecord> Records { get; }

    /// <summary>Positions skipped before or between <see cref="Records"/>, in order; never a gap of width 0.</summary>
    public IReadOnlyList<ChangelogGap> Gaps { get; }

    /// <summary>The changelog's visibility epoch when the batch was read.</summary>
    public ulong VisibilityEpoch { get; }

    /// <summary>The number of records.</summary>
    public int Count => Records.Count;

    /// <summary>Whether nothing was delivered (the poll's deadline passed with no data).</summary>
    public bool IsEmpty => Records.Count == 0;

    /// <summary>The position of the last record, or <see langword="null"/> when empty.</summary>
    public ulong? LastPosition => Records.Count == 0 ? null : Records[^1].Position;

    internal static ChangelogBatch Empty(ulong visibilityEpoch) => new([], [], visibilityEpoch);

    internal static ChangelogBatch Of(ChangelogRecord[] records, ChangelogGap[] gaps, ulong visibilityEpoch) => new(records, gaps, visibilityEpoch);

    /// <inheritdoc/>
    public override string ToString() => IsEmpty
        ? string.Create(CultureInfo.InvariantCulture, $"empty batch (epoch {VisibilityEpoch})")
        : string.Create(CultureInfo.InvariantCulture, $"{Count} records #{Records[0].Position}..#{LastPosition}, {Gaps.Count} gaps (epoch {VisibilityEpoch})");
}

/// <summary>
/// Positions a cursor skipped: it expected <see cref="ExpectedPosition"/> next but delivered
/// <see cref="DeliveredPosition"/>. The skipped entries were cancelled (<see cref="CancelledRanges"/>) or lost
/// (<see cref="LostCount"/>: overwritten by the ring, dropped when it was full, or popped before the cursor read them).
/// </summary>
/// <param name="ExpectedPosition">The first position not delivered.</param>
/// <param name="DeliveredPosition">The position delivered instead; the gap is [<paramref name="ExpectedPosition"/>, <paramref name="DeliveredPosition"/>).</param>
/// <param name="CancelledRanges">The non-empty parts of the gap that were cancelled (<see cref="StreamChangelogBuffer.Cancel"/>), ascending.</param>
public sealed record ChangelogGap(ulong ExpectedPosition, ulong DeliveredPosition, IReadOnlyList<ChangelogRange> CancelledRanges)
{
    /// <summary>The number of skipped positions; at least 1.</summary>
    public ulong Width => DeliveredPosition - ExpectedPosition;

    /// <summary>The number of positions cancelled on purpose.</summary>
    public ulong CancelledCount => CancelledRanges.Aggregate(0UL, (sum, range) => sum + range.Width);

    /// <summary>The number of positions lost: overwritten, dropped or popped before this cursor read them.</summary>
    public ulong LostCount => Width - CancelledCount;

    /// <summary>The skipped positions as a range.</summary>
    public ChangelogRange Range => new(ExpectedPosition, DeliveredPosition);

    /// <summary>Equal when both ranges and all cancelled parts are equal.</summary>
    /// <param name="other">Another gap.</param>
    /// <returns>Whether equal.</returns>
    public bool Equals(ChangelogGap? other) =>
        other is not null && ExpectedPosition == other.ExpectedPosition && DeliveredPosition == other.DeliveredPosition
        && CancelledRanges.SequenceEqual(other.CancelledRanges);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(ExpectedPosition, DeliveredPosition, CancelledRanges.Count);

    /// <inheritdoc/>
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"gap {Range}: {LostCount} lost, cancelled {(CancelledRanges.Count == 0 ? "none" : string.Join(", ", CancelledRanges))}");

    /// <summary>
    /// The gap between <paramref name="expected"/> and <paramref name="delivered"/> with its cancelled parts, or
    /// <see langword="null"/> when nothing was skipped. Overlaps of width 0 (a cancelled range that only touches a
    /// boundary) are not cancelled parts.
    /// </summary>
    internal static ChangelogGap? Observe(ulong expected, ulong delivered, ReadOnlySpan<ChangelogRange> cancelled)
    {
        if (delivered <= expected)
        {
            return null;
        }

        List<ChangelogRange>? parts = null;
        foreach (var range in cancelled)
        {
            var start = Math.Max(range.Start, expected);
            var end = Math.Min(range.End, delivered);
            if (start < end)
            {
                (parts ??= []).Add(new ChangelogRange(start, end));
            }
        }

        return new ChangelogGap(expected, delivered, parts is null ? [] : parts.ToArray());
    }
}
