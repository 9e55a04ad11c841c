using System.Collections.Immutable;

namespace Cdc.Checkpoint.MySql.Gtid;

/// <summary>
/// Set operations on sorted, disjoint, non-adjacent interval lists (the normal form every <see cref="GtidSetEntry"/>
/// keeps). Each runs in one linear pass over both lists.
/// </summary>
/// <remarks>
/// Interval ends never exceed <see cref="GtidSet.MaxTransactionNumber"/> (2^63-2), so <c>Last + 1</c> cannot overflow.
/// </remarks>
internal static class IntervalMath
{
    /// <summary>Sorts and coalesces arbitrary intervals into the normal form.</summary>
    public static ImmutableArray<GtidInterval> Normalize(List<GtidInterval> intervals)
    {
        intervals.Sort(static (a, b) => a.First.CompareTo(b.First));
        var result = ImmutableArray.CreateBuilder<GtidInterval>(intervals.Count);
        foreach (var interval in intervals)
        {
            Append(result, interval);
        }

        return result.DrainToImmutable();
    }

    public static ImmutableArray<GtidInterval> Union(ImmutableArray<GtidInterval> a, ImmutableArray<GtidInterval> b)
    {
        var result = ImmutableArray.CreateBuilder<GtidInterval>(a.Length + b.Length);
        int i = 0, j = 0;
        while (i < a.Length || j < b.Length)
        {
            var next = j >= b.Length || (i < a.Length && a[i].First <= b[j].First) ? a[i++] : b[j++];
            Append(result, next);
        }

        return result.DrainToImmutable();
    }

    public static ImmutableArray<GtidInterval> Intersect(ImmutableArray<GtidInterval> a, ImmutableArray<GtidInterval> b)
    {
        var result = ImmutableArray.CreateBuilder<GtidInterval>();
        int i = 0, j = 0;
        while (i < a.Length && j < b.Length)
        {
            var first = Math.Max(a[i].First, b[j].First);
            var last = Math.Min(a[i].Last, b[j].Last);
            if (first <= last)
            {
                result.Add(new GtidInterval(first, last));
            }

            if (a[i].Last < b[j].Last)
            {
                i++;
            }
            else
            {
                j++;
            }
        }

        return result.DrainToImmutable();
    }

    public static ImmutableArray<GtidInterval> Subtract(ImmutableArray<GtidInterval> a, ImmutableArray<GtidInterval> b)
    {
        var result = ImmutableArray.CreateBuilder<GtidInterval>();
        var j = 0;
        foreach (var interval in a)
        {
            var first = interval.First;
            var last = interval.Last;

            // Skip the parts of b that end before this interval starts; they cannot touch later intervals of a either.
            while (j < b.Length && b[j].Last < first)
            {
                j++;
            }

            var k = j;
            while (k < b.Length && b[k].First <= last && first <= last)
            {
                if (b[k].First > first)
                {
                    result.Add(new GtidInterval(first, b[k].First - 1));
                }

                if (b[k].Last >= last)
                {
                    first = last + 1;
                    break;
                }

                first = b[k].Last + 1;
                k++;
            }

            if (first <= last)
            {
                result.Add(new GtidInterval(first, last));
            }
        }

        return result.DrainToImmutable();
    }

    /// <summary>Whether every transaction in <paramref name="a"/> is in <paramref name="b"/>.</summary>
    public static bool IsSubset(ImmutableArray<GtidInterval> a, ImmutableArray<GtidInterval> b)
    {
        // b is coalesced, so each interval of a must fit entirely inside a single interval of b.
        var j = 0;
        foreach (var interval in a)
        {
            while (j < b.Length && b[j].Last < interval.First)
            {
                j++;
            }

            if (j == b.Length || b[j].First > interval.First || b[j].Last < interval.Last)
            {
                return false;
            }
        }

        return true;
    }

    public static bool Overlaps(ImmutableArray<GtidInterval> a, ImmutableArray<GtidInterval> b)
    {
        int i = 0, j = 0;
        while (i < a.Length && j < b.Length)
        {
            if (a[i].Last < b[j].First)
            {
                i++;
            }
            else if (b[j].Last < a[i].First)
            {
                j++;
            }
            else
            {
                return true;
            }
        }

        return false;
    }

    public static bool Contains(ImmutableArray<GtidInterval> intervals, long transactionNumber)
    {
        int low = 0, high = intervals.Length - 1;
        while (low <= high)
        {
            var mid = low + ((high - low) >> 1);
            if (intervals[mid].Last < transactionNumber)
            {
                low = mid + 1;
            }
            else if (intervals[mid].First > transactionNumber)
            {
                high = mid - 1;
            }
            else
            {
                return true;
            }
        }

        return false;
    }

    private static void Append(ImmutableArray<GtidInterval>.Builder result, GtidInterval next)
    {
        // Callers append in order of First; merge with the previous interval when they overlap or touch.
        if (result.Count > 0)
        {
            var previous = result[^1];
            if (next.First <= previous.Last + 1)
            {
                if (next.Last > previous.Last)
                {
                    result[^1] = new GtidInterval(previous.First, next.Last);
                }

                return;
            }
        }

        result.Add(next);
    }
}
