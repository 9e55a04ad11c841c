using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.Offsets;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Gtid;

public sealed class GtidPropertyTests
{
    private static readonly Config Many = Config.QuickThrowOnFailure.WithMaxTest(500);

    private static void Check<T>(Gen<T> gen, Func<T, bool> property) =>
        FsCheck.Check.One(Many, Prop.ForAll(Arb.From(gen), property));

    [Fact]
    public void GtidSet_ParseOfToString_RoundTrips()
    {
        Check(GtidGenerators.WideSet, set =>
        {
            var text = set.ToString();
            var parsed = GtidSet.Parse(text);
            return parsed.Equals(set) && parsed.ToString() == text && parsed.GetHashCode() == set.GetHashCode();
        });
    }

    [Fact]
    public void GtidSet_ParseOfMessyText_EqualsTheSetBuiltFromThePieces()
    {
        var gen =
            from pieces in GtidGenerators.Pieces(GtidGenerators.WidePiece)
            from text in GtidGenerators.MessyText(pieces)
            select (pieces, text);

        Check(gen, sample =>
        {
            var parsed = GtidSet.Parse(sample.text);
            var built = GtidGenerators.Build(sample.pieces);
            return parsed.Equals(built) && GtidSet.Parse(parsed.ToString()).Equals(parsed);
        });
    }

    [Fact]
    public void GtidSet_Operations_AgreeWithTheBruteForceModel()
    {
        Check(GtidGenerators.SmallPiecePairs, pair =>
        {
            var a = GtidGenerators.Build(pair.Left);
            var b = GtidGenerators.Build(pair.Right);
            var ma = GtidGenerators.Model(pair.Left);
            var mb = GtidGenerators.Model(pair.Right);

            var union = new HashSet<(Guid, string, long)>(ma);
            union.UnionWith(mb);
            var intersection = new HashSet<(Guid, string, long)>(ma);
            intersection.IntersectWith(mb);
            var difference = new HashSet<(Guid, string, long)>(ma);
            difference.ExceptWith(mb);

            return GtidGenerators.Model(a).SetEquals(ma)
                && GtidGenerators.Model(a.Union(b)).SetEquals(union)
                && GtidGenerators.Model(a.Intersect(b)).SetEquals(intersection)
                && GtidGenerators.Model(a.Subtract(b)).SetEquals(difference)
                && a.IsSubsetOf(b) == ma.IsSubsetOf(mb)
                && a.Overlaps(b) == ma.Overlaps(mb)
                && a.Equals(b) == ma.SetEquals(mb)
                && a.TransactionCount == (UInt128)ma.Count
                && ma.All(t => a.Contains(t.Item1, t.Item2, t.Item3))
                && mb.Where(t => !ma.Contains(t)).All(t => !a.Contains(t.Item1, t.Item2, t.Item3));
        });
    }

    [Fact]
    public void GtidSet_Entries_AreInNormalForm()
    {
        Check(GtidGenerators.WideSet, set =>
            set.Entries.Zip(set.Entries.Skip(1)).All(p => p.First.CompareKey(p.Second) < 0)
            && set.Entries.All(e =>
                !e.Intervals.IsEmpty
                && e.Intervals.Zip(e.Intervals.Skip(1)).All(p => p.First.Last + 1 < p.Second.First)));
    }

    [Fact]
    public void Union_IsCommutativeAssociativeAndIdempotent()
    {
        var gen =
            from a in GtidGenerators.WideSet
            from b in GtidGenerators.WideSet
            from c in GtidGenerators.WideSet
            select (a, b, c);

        Check(gen, t =>
            t.a.Union(t.b).Equals(t.b.Union(t.a))
            && t.a.Union(t.b).Union(t.c).Equals(t.a.Union(t.b.Union(t.c)))
            && t.a.Union(t.a).Equals(t.a)
            && t.a.Union(GtidSet.Empty).Equals(t.a));
    }

    [Fact]
    public void Union_ContainsBothOperands()
    {
        Check(GtidGenerators.RelatedPair, p =>
            p.A.IsSubsetOf(p.A.Union(p.B)) && p.B.IsSubsetOf(p.A.Union(p.B)) && p.A.Union(p.B).IsSupersetOf(p.A));
    }

    [Fact]
    public void Subtract_LeavesNothingOfTheSubtrahend()
    {
        Check(GtidGenerators.RelatedPair, p =>
            p.A.Subtract(p.B).Intersect(p.B).IsEmpty
            && !p.A.Subtract(p.B).Overlaps(p.B)
            && p.A.Subtract(p.B).IsSubsetOf(p.A));
    }

    [Fact]
    public void Subset_IsEquivalentToUnionBeingTheLargerSet()
    {
        Check(GtidGenerators.RelatedPair, p => p.A.IsSubsetOf(p.B) == p.A.Union(p.B).Equals(p.B));
    }

    [Fact]
    public void Subset_IsAntisymmetric()
    {
        Check(GtidGenerators.RelatedPair, p => !(p.A.IsSubsetOf(p.B) && p.B.IsSubsetOf(p.A)) || p.A.Equals(p.B));
    }

    [Fact]
    public void SubtractThenUnion_RestoresTheSuperset()
    {
        Check(GtidGenerators.RelatedPair, p =>
        {
            var superset = p.A.Union(p.B);
            return superset.Subtract(p.A).Union(p.A).Equals(superset)
                && p.A.Subtract(p.B).Union(p.B).Equals(superset);
        });
    }

    [Fact]
    public void Intersect_IsTheSubtractionOfTheDifference()
    {
        Check(GtidGenerators.RelatedPair, p =>
            p.A.Intersect(p.B).Equals(p.A.Subtract(p.A.Subtract(p.B)))
            && p.A.Intersect(p.B).Equals(p.B.Intersect(p.A)));
    }

    [Fact]
    public void CompareTo_IsConsistentWithSubsets()
    {
        Check(GtidGenerators.RelatedPair, p =>
        {
            var order = p.A.CompareTo(p.B);
            var reverse = p.B.CompareTo(p.A);
            var aInB = p.A.IsSubsetOf(p.B);
            var bInA = p.B.IsSubsetOf(p.A);
            return (order == OffsetOrder.Same) == (aInB && bInA)
                && (order == OffsetOrder.After) == (bInA && !aInB)
                && (order == OffsetOrder.Before) == (aInB && !bInA)
                && (order == OffsetOrder.Diverged) == (!aInB && !bInA)
                && reverse == order switch
                {
                    OffsetOrder.After => OffsetOrder.Before,
                    OffsetOrder.Before => OffsetOrder.After,
                    _ => order,
                };
        });
    }

    [Fact]
    public void MariaDbGtidPosition_ParseOfToString_RoundTrips()
    {
        Check(GtidGenerators.MariaDbPosition, position =>
        {
            var parsed = MariaDbGtidPosition.Parse(position.ToString());
            var spaced = MariaDbGtidPosition.Parse(" " + string.Join(" ,\n ", position.Gtids.Reverse()) + "\t");
            return parsed.Equals(position) && spaced.Equals(position) && parsed.ToString() == position.ToString()
                && parsed.GetHashCode() == position.GetHashCode();
        });
    }

    [Fact]
    public void MariaDbGtidPosition_CompareTo_IsAntisymmetricAndReflexive()
    {
        var gen =
            from a in GtidGenerators.SmallMariaDbPosition
            from b in GtidGenerators.SmallMariaDbPosition
            select (a, b);

        Check(gen, p =>
        {
            var order = p.a.CompareTo(p.b);
            var reverse = p.b.CompareTo(p.a);
            return p.a.CompareTo(p.a) == OffsetOrder.Same
                && (order == OffsetOrder.Same) == p.a.Equals(p.b)
                && reverse == order switch
                {
                    OffsetOrder.After => OffsetOrder.Before,
                    OffsetOrder.Before => OffsetOrder.After,
                    _ => order,
                };
        });
    }

    [Fact]
    public void MariaDbGtidPosition_With_NeverMovesBackwardsWhenTheSequenceGrows()
    {
        var gen =
            from position in GtidGenerators.MariaDbPosition
            from domain in Gen.Choose(0, 6)
            from server in Gen.Elements(1u, 9u)
            select (position, domain, server);

        Check(gen, t =>
        {
            var current = t.position.TryGetGtid((uint)t.domain, out var gtid) ? gtid.SequenceNumber : 0UL;
            if (current == ulong.MaxValue)
            {
                return true;
            }

            var next = t.position.With(new MariaDbGtid((uint)t.domain, t.server, current + 1));
            return next.CompareTo(t.position) == OffsetOrder.After && t.position.CompareTo(next) == OffsetOrder.Before;
        });
    }

    [Fact]
    public void BinlogPosition_ParseOfToString_RoundTrips()
    {
        Check(GtidGenerators.Binlog, binlog =>
        {
            var parsed = BinlogPosition.Parse(binlog.ToString());
            return parsed.Equals(binlog)
                && parsed.BaseName == binlog.BaseName
                && parsed.FileSequence == binlog.FileSequence
                && parsed.CompareTo(binlog) == OffsetOrder.Same
                && parsed.GetHashCode() == binlog.GetHashCode();
        });
    }

    [Fact]
    public void Parse_RandomText_ThrowsOnlyFormatException()
    {
        var seeds = new[]
        {
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7-9,\n4e11fa47-71ca-11e1-9e33-c80aa9429562:tag:3",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:9223372036854775806",
            "0-1-100, 1-2-5",
            "4294967295-4294967295-18446744073709551615",
            "mysql-bin.000123:4",
            "binlog.18446744073709551615:18446744073709551615",
            string.Empty,
        };

        Check(GtidGenerators.FuzzText(seeds), text =>
        {
            AcceptsOrRejectsCleanly(text, GtidSet.Parse, t => GtidSet.TryParse(t, out _));
            AcceptsOrRejectsCleanly(text, MariaDbGtidPosition.Parse, t => MariaDbGtidPosition.TryParse(t, out _));
            AcceptsOrRejectsCleanly(text, MariaDbGtid.Parse, t => MariaDbGtid.TryParse(t, out _));
            AcceptsOrRejectsCleanly(text, BinlogPosition.Parse, t => BinlogPosition.TryParse(t, out _));

            // Whatever is accepted also survives a trip through the offset JSON.
            if (BinlogPosition.TryParse(text, out var binlog) || GtidSet.TryParse(text, out _))
            {
                var offset = new MySqlOffset(GtidSet.TryParse(text, out var set) ? set : null, binlog);
                var read = MySqlOffsetCodec.Instance.Read("mysql", offset.ToJsonElement(), 2);
                if (!read.Equals(offset))
                {
                    throw new InvalidOperationException($"{offset} did not survive JSON: {read}");
                }
            }

            return true;
        });
    }

    private static void AcceptsOrRejectsCleanly<T>(string text, Func<string, T> parse, Func<string, bool> tryParse)
    {
        // TryParse must not throw at all, and must agree with Parse.
        var accepted = tryParse(text);
        try
        {
            var value = parse(text);
            if (!accepted)
            {
                throw new InvalidOperationException($"TryParse refused {text} but Parse accepted it as {value}.");
            }

            // Whatever is accepted formats to text that parses back to the same value.
            if (!Equals(parse(value!.ToString()!), value))
            {
                throw new InvalidOperationException($"{text} parsed to {value}, which does not parse back to itself.");
            }
        }
        catch (FormatException ex)
        {
            if (accepted)
            {
                throw new InvalidOperationException($"TryParse accepted {text} but Parse threw: {ex.Message}");
            }

            if (!ex.Message.Contains(text.Length <= 200 ? text : text[..200], StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"The message does not quote the input {text}: {ex.Message}");
            }
        }
    }
}
