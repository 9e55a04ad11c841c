using Cdc.Checkpoint.Cursors;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Cursors;

public sealed class CursorCheckpointTests
{
    [Fact]
    public void NotStarted_PositionZero_IsStillToBeDelivered()
    {
        var fresh = CursorCheckpoint.NotStarted("consumer");
        fresh.Started.ShouldBeFalse();
        fresh.Position.ShouldBe(0ul);
        fresh.NextPosition.ShouldBe(0ul);
        fresh.HasDelivered(0).ShouldBeFalse();
    }

    [Fact]
    public void At_PositionZero_HasDeliveredZeroAndResumesAtOne()
    {
        var atZero = CursorCheckpoint.At(0, "consumer");
        atZero.Started.ShouldBeTrue();
        atZero.HasDelivered(0).ShouldBeTrue();
        atZero.HasDelivered(1).ShouldBeFalse();
        atZero.NextPosition.ShouldBe(1ul);
    }

    [Fact]
    public void At_MaxValue_HasNoNextPosition() =>
        CursorCheckpoint.At(ulong.MaxValue, "consumer").NextPosition.ShouldBeNull();

    [Fact]
    public void CompareProgress_OrdersNotStartedBeforeZeroBeforeOne()
    {
        var fresh = CursorCheckpoint.NotStarted("c");
        var zero = CursorCheckpoint.At(0, "c");
        var one = fresh.AdvanceTo(1);
        fresh.CompareProgress(zero).ShouldBeLessThan(0);
        zero.CompareProgress(one).ShouldBeLessThan(0);
        one.CompareProgress(fresh).ShouldBeGreaterThan(0);
        zero.CompareProgress(CursorCheckpoint.At(0, "other")).ShouldBe(0);
    }

    [Fact]
    public void AdvanceTo_KeepsIdentityAndStarts()
    {
        var advanced = CursorCheckpoint.NotStarted("consumer").AdvanceTo(5);
        advanced.ShouldBe(CursorCheckpoint.At(5, "consumer"));
        advanced.DescribePosition().ShouldBe("position 5");
        CursorCheckpoint.NotStarted("c").DescribePosition().ShouldBe("not started");
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    public void Factories_BlankIdentity_Throw(string identity)
    {
        Should.Throw<ArgumentException>(() => CursorCheckpoint.NotStarted(identity));
        Should.Throw<ArgumentException>(() => CursorCheckpoint.At(1, identity));
    }

    [Fact]
    public void Factories_OverlongIdentity_Throw() =>
        Should.Throw<ArgumentException>(() => CursorCheckpoint.At(1, new string('x', CursorCheckpoint.MaxIdentityLength + 1)));
}
