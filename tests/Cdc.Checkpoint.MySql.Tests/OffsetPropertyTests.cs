using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Tests.Gtid;
using Cdc.Checkpoint.Offsets;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests;

public sealed class OffsetPropertyTests
{
    private static readonly Config Many = Config.QuickThrowOnFailure.WithMaxTest(300);

    private static readonly Gen<ulong> SkipCounts = Gen.OneOf(Gen.Choose(0, 3).Select(x => (ulong)x), Gen.Constant(ulong.MaxValue));

    internal static readonly Gen<MySqlOffset> AnyMySqlOffset =
        from kind in Gen.Choose(0, 2)
        from set in GtidGenerators.WideSet
        from binlog in GtidGenerators.Binlog
        from hasUuid in Gen.Elements(true, false)
        from uuid in Gen.Elements(GtidGenerators.Uuids)
        from id in Gen.Elements<uint?>(null, 0u, 1u, uint.MaxValue)
        from events in SkipCounts
        from rows in SkipCounts
        from snapshot in Gen.Elements(false, false, true)
        select new MySqlOffset(
            kind == 1 ? null : set,
            kind == 0 ? null : binlog,
            hasUuid ? uuid : null,
            id,
            events,
            rows,
            snapshot ? MySqlOffset.SnapshotSourceType : MySqlOffset.DefaultSourceType);

    internal static readonly Gen<MariaDbOffset> AnyMariaDbOffset =
        from kind in Gen.Choose(0, 2)
        from position in GtidGenerators.MariaDbPosition
        from binlog in GtidGenerators.Binlog
        from id in Gen.Elements<uint?>(null, 0u, 7u)
        from events in SkipCounts
        from rows in SkipCounts
        select new MariaDbOffset(kind == 1 ? null : position, kind == 0 ? null : binlog, id, events, rows);

    [Fact]
    public void MySqlOffset_JsonRoundTrip_GivesAnEqualOffset()
    {
        Check.One(Many, Prop.ForAll(Arb.From(AnyMySqlOffset), offset =>
        {
            var read = OffsetCodecRegistry.Empty.WithMySql().Read(offset.SourceType, offset.ToJsonElement(), 2);
            return read is MySqlOffset && read.Equals(offset) && read.ToJsonString() == offset.ToJsonString()
                && read.CompareTo(offset) == OffsetOrder.Same;
        }));
    }

    [Fact]
    public void MariaDbOffset_JsonRoundTrip_GivesAnEqualOffset()
    {
        Check.One(Many, Prop.ForAll(Arb.From(AnyMariaDbOffset), offset =>
        {
            var read = OffsetCodecRegistry.Empty.WithMySql().Read(offset.SourceType, offset.ToJsonElement(), 2);
            return read is MariaDbOffset && read.Equals(offset) && read.CompareTo(offset) == OffsetOrder.Same;
        }));
    }

    [Fact]
    public void MySqlOffset_CompareTo_FollowsTheGtidSetsWhateverTheServer()
    {
        var gen =
            from pair in GtidGenerators.RelatedPair
            from uuids in Gen.Two(Gen.Elements(GtidGenerators.Uuids))
            from binlogs in Gen.Two(GtidGenerators.Binlog)
            select (pair, uuids, binlogs);

        Check.One(Many, Prop.ForAll(Arb.From(gen), t =>
        {
            var left = new MySqlOffset(t.pair.A, t.binlogs.Item1, t.uuids.Item1);
            var right = new MySqlOffset(t.pair.B, t.binlogs.Item2, t.uuids.Item2);
            var order = left.CompareTo(right);
            var superset = t.pair.A.IsSupersetOf(t.pair.B);
            var subset = t.pair.A.IsSubsetOf(t.pair.B);
            return (order == OffsetOrder.After) == (superset && !subset)
                && (order == OffsetOrder.Before) == (subset && !superset)
                && (order == OffsetOrder.Same) == (subset && superset)
                && (order == OffsetOrder.Diverged) == (!subset && !superset);
        }));
    }
}
