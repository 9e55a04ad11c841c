using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.Offsets;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Gtid;

public sealed class GtidSetAlgebraTests
{
    private const string A = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    private const string B = "4e11fa47-71ca-11e1-9e33-c80aa9429562";

    private static GtidSet S(string text) => GtidSet.Parse(text);

    [Theory]
    [InlineData($"{A}:1-5", $"{A}:6-9", $"{A}:1-9")]
    [InlineData($"{A}:1-5", $"{A}:8-9", $"{A}:1-5:8-9")]
    [InlineData($"{A}:1-5", $"{B}:1", $"{A}:1-5,{B}:1")]
    [InlineData($"{A}:1-5:t:1", $"{A}:t:2-3", $"{A}:1-5:t:1-3")]
    [InlineData("", $"{A}:1", $"{A}:1")]
    [InlineData($"{A}:3-4:10", $"{A}:1-12", $"{A}:1-12")]
    public void Union_CombinesAndCoalesces(string left, string right, string expected)
    {
        S(left).Union(S(right)).ToString().ShouldBe(expected);
        S(right).Union(S(left)).ToString().ShouldBe(expected);
    }

    [Theory]
    [InlineData($"{A}:1-10", $"{A}:3-4", $"{A}:1-2:5-10")]
    [InlineData($"{A}:1-10", $"{A}:1-10", "")]
    [InlineData($"{A}:1-10:20-30", $"{A}:5-25", $"{A}:1-4:26-30")]
    [InlineData($"{A}:1-10,{B}:1-3", $"{B}:2", $"{A}:1-10,{B}:1:3")]
    [InlineData($"{A}:1-10:t:1-5", $"{A}:t:1-5", $"{A}:1-10")]
    [InlineData($"{A}:1-10", $"{B}:1-10", $"{A}:1-10")]
    [InlineData($"{A}:1-3:5-7:9-11", $"{A}:2:6:10", $"{A}:1:3:5:7:9:11")]
    public void Subtract_RemovesTransactions(string left, string right, string expected)
    {
        S(left).Subtract(S(right)).ToString().ShouldBe(expected);
    }

    [Theory]
    [InlineData($"{A}:1-10", $"{A}:5-15", $"{A}:5-10")]
    [InlineData($"{A}:1-10", $"{B}:1-10", "")]
    [InlineData($"{A}:1-3:7-9,{B}:1-5", $"{A}:2-8,{B}:5-6", $"{A}:2-3:7-8,{B}:5")]
    [InlineData($"{A}:t:1-10", $"{A}:1-10", "")]
    public void Intersect_KeepsCommonTransactions(string left, string right, string expected)
    {
        S(left).Intersect(S(right)).ToString().ShouldBe(expected);
        S(right).Intersect(S(left)).ToString().ShouldBe(expected);
    }

    [Theory]
    [InlineData($"{A}:1-5", $"{A}:1-5", OffsetOrder.Same)]
    [InlineData($"{A}:1-6", $"{A}:1-5", OffsetOrder.After)]
    [InlineData($"{A}:1-5", $"{A}:1-6", OffsetOrder.Before)]
    [InlineData($"{A}:1-5,{B}:1", $"{A}:1-5", OffsetOrder.After)]
    [InlineData($"{A}:1-5", $"{A}:1-4:6", OffsetOrder.Diverged)]
    [InlineData($"{A}:1-5", $"{B}:1-5", OffsetOrder.Diverged)]
    [InlineData("", "", OffsetOrder.Same)]
    [InlineData("", $"{A}:1", OffsetOrder.Before)]
    [InlineData($"{A}:1:t:1", $"{A}:1", OffsetOrder.After)]
    public void CompareTo_FollowsSubsetOrder(string left, string right, OffsetOrder expected)
    {
        S(left).CompareTo(S(right)).ShouldBe(expected);
    }

    [Fact]
    public void SubsetChecks_HandleTagsAndMissingSources()
    {
        S($"{A}:2-3").IsSubsetOf(S($"{A}:1-5")).ShouldBeTrue();
        S($"{A}:2-6").IsSubsetOf(S($"{A}:1-5")).ShouldBeFalse();
        S($"{A}:2-6").IsSubsetOf(S($"{A}:1-3:4-7")).ShouldBeTrue();
        S($"{A}:2-6").IsSubsetOf(S($"{A}:1-3:5-7")).ShouldBeFalse();
        S($"{A}:t:2").IsSubsetOf(S($"{A}:1-5")).ShouldBeFalse();
        S($"{B}:1").IsSubsetOf(S($"{A}:1-5")).ShouldBeFalse();
        GtidSet.Empty.IsSubsetOf(S($"{A}:1")).ShouldBeTrue();
        S($"{A}:1-5").IsSupersetOf(S($"{A}:5")).ShouldBeTrue();
        S($"{A}:1-5").Overlaps(S($"{A}:5-9")).ShouldBeTrue();
        S($"{A}:1-5").Overlaps(S($"{A}:6-9")).ShouldBeFalse();
        S($"{A}:1-5").Overlaps(S($"{A}:t:1-5")).ShouldBeFalse();
    }

    [Fact]
    public void ResumeCheck_CheckpointInsideExecutedAndNeededNotPurged_IsResumable()
    {
        // The server executed A:1-100 and B:1-20 and purged the binlogs holding A:1-40.
        var executed = S($"{A}:1-100,\n{B}:1-20");
        var purged = S($"{A}:1-40");
        var checkpoint = S($"{A}:1-50,{B}:1-20");

        checkpoint.IsSubsetOf(executed).ShouldBeTrue();
        var needed = executed.Subtract(checkpoint);
        needed.ToString().ShouldBe($"{A}:51-100");
        needed.Overlaps(purged).ShouldBeFalse();
        needed.TransactionCount.ShouldBe((UInt128)50);
    }

    [Fact]
    public void ResumeCheck_NeededTransactionsWerePurged_IsDetected()
    {
        var executed = S($"{A}:1-100");
        var purged = S($"{A}:1-40");
        var checkpoint = S($"{A}:1-30");

        checkpoint.IsSubsetOf(executed).ShouldBeTrue();
        var needed = executed.Subtract(checkpoint);
        needed.Intersect(purged).ToString().ShouldBe($"{A}:31-40");
    }

    [Fact]
    public void ResumeCheck_CheckpointHasTransactionsTheServerNeverExecuted_IsNotASubset()
    {
        // After a failover to a replica that missed B:5, or a restore from an old backup.
        var executed = S($"{A}:1-100,{B}:1-4");
        var checkpoint = S($"{A}:1-50,{B}:1-5");

        checkpoint.IsSubsetOf(executed).ShouldBeFalse();
        checkpoint.Subtract(executed).ToString().ShouldBe($"{B}:5");
        checkpoint.CompareTo(executed).ShouldBe(OffsetOrder.Diverged);
    }

    [Fact]
    public void Equality_IgnoresSpelling()
    {
        var first = S($"{A.ToUpperInvariant()}:1-3:4-5, {B}:1");
        var second = S($"{B}:1,{A}:1-5");

        first.ShouldBe(second);
        (first == second).ShouldBeTrue();
        (first != second).ShouldBeFalse();
        first.GetHashCode().ShouldBe(second.GetHashCode());
        first.Equals((object)second).ShouldBeTrue();
        first.ShouldNotBe(S($"{A}:1-5"));
        first.ShouldNotBe(S($"{A}:1-5,{B}:2"));
        first.ShouldNotBe(S($"{A}:1-5,{B}:t:1"));
        first.Equals(null).ShouldBeFalse();
    }

    [Fact]
    public void Operations_DoNotChangeTheirInputs()
    {
        var left = S($"{A}:1-10");
        var right = S($"{A}:5-20");

        _ = left.Union(right);
        _ = left.Subtract(right);
        _ = left.Intersect(right);

        left.ToString().ShouldBe($"{A}:1-10");
        right.ToString().ShouldBe($"{A}:5-20");
    }

    [Fact]
    public void Subtract_AtTheTopOfTheRange_DoesNotOverflow()
    {
        var all = S($"{A}:1-9223372036854775806");
        var top = S($"{A}:9223372036854775806");

        all.Subtract(top).ToString().ShouldBe($"{A}:1-9223372036854775805");
        all.Subtract(top).Union(top).ShouldBe(all);
        S($"{A}:9223372036854775805").Union(top).ToString().ShouldBe($"{A}:9223372036854775805-9223372036854775806");
    }
}
