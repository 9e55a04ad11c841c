using Cdc.Checkpoint.Cursors;
using Cdc.Checkpoint.Streaming;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Cursors;

/// <summary>How the changelog numbers pushes, and where a cursor starts relative to the buffer's first position.</summary>
public sealed class ChangelogPositionTests
{
    private const string Identity = "orders-projector";

    private static StreamChangelogEntry Entry(ulong sequence) => new(0, StreamChangeOp.Insert, sequence, 0);

    [Fact]
    public void TryPush_FromFirstPosition_NumbersEveryPushAndNeverWraps()
    {
        var buffer = new StreamChangelogBuffer(4, ChangelogOverflowPolicy.OverwriteOldest, firstPosition: ulong.MaxValue - 2);
        buffer.FirstPosition.ShouldBe(ulong.MaxValue - 2);
        buffer.TryPush(Entry(1), out var first).ShouldBeTrue();
        buffer.TryPush(Entry(2), out var second).ShouldBeTrue();
        first.ShouldBe(ulong.MaxValue - 2);
        second.ShouldBe(ulong.MaxValue - 1);
        buffer.NextPosition.ShouldBe(ulong.MaxValue);

        var ex = Should.Throw<InvalidOperationException>(() => buffer.TryPush(Entry(3)));
        ex.Message.ShouldContain("never wrap");
        buffer.Count.ShouldBe(2);
        buffer.VisibilityEpoch.ShouldBe(2UL);
    }

    [Fact]
    public void Poll_NotStartedCursorOnARenumberedBuffer_StartsAtItsFirstPositionWithoutAGap()
    {
        var buffer = new StreamChangelogBuffer(8, ChangelogOverflowPolicy.OverwriteOldest, firstPosition: 1000);
        buffer.TryPush(Entry(1));
        buffer.TryPush(Entry(2));
        var batch = new ChangelogCursor(buffer, CursorCheckpoint.NotStarted(Identity)).Poll(8);
        batch.Records.Select(r => r.Position).ShouldBe([1000UL, 1001UL]);
        batch.Gaps.ShouldBeEmpty();
    }

    [Fact]
    public void Poll_ResumedCursorBehindTheBuffersFirstPosition_ReportsTheNeverReplayedRangeAsLost()
    {
        // The writer replayed from a later point than the cursor had reached: positions 11..19 never came back.
        var buffer = new StreamChangelogBuffer(8, ChangelogOverflowPolicy.OverwriteOldest, firstPosition: 20);
        buffer.TryPush(Entry(20));
        var batch = new ChangelogCursor(buffer, CursorCheckpoint.At(10, Identity)).Poll(8);
        batch.Records.Select(r => r.Position).ShouldBe([20UL]);
        batch.Gaps.ShouldBe([new ChangelogGap(11, 20, [])]);
        batch.Gaps[0].LostCount.ShouldBe(9UL);
    }

    [Fact]
    public void Poll_CursorAheadOfTheBuffer_WaitsForThoseReplayedPositionsAndSkipsWhatItDelivered()
    {
        var buffer = new StreamChangelogBuffer(8, ChangelogOverflowPolicy.OverwriteOldest, firstPosition: 5);
        var cursor = new ChangelogCursor(buffer, CursorCheckpoint.At(7, Identity));
        cursor.Poll(8).IsEmpty.ShouldBeTrue();
        for (ulong s = 5; s < 10; s++)
        {
            buffer.TryPush(Entry(s));
        }

        var batch = cursor.Poll(8);
        batch.Records.Select(r => r.Position).ShouldBe([8UL, 9UL]);
        batch.Gaps.ShouldBeEmpty();
    }

    [Fact]
    public void DrainAndClear_KeepPositions_SoACursorSeesWhatWasRemovedAsLost()
    {
        var buffer = new StreamChangelogBuffer(8);
        for (ulong s = 0; s < 5; s++)
        {
            buffer.TryPush(Entry(s));
        }

        Span<StreamChangelogEntry> drained = stackalloc StreamChangelogEntry[3];
        buffer.Drain(3, drained).ShouldBe(3);
        var list = new List<StreamChangelogEntry>();
        buffer.DrainAll(list).ShouldBe(2);
        list.Select(e => e.Sequence).ShouldBe([3UL, 4UL]);
        buffer.TryPush(Entry(5), out var position).ShouldBeTrue();
        position.ShouldBe(5UL);

        var batch = new ChangelogCursor(buffer, CursorCheckpoint.At(1, Identity)).Poll(8);
        batch.Records.Select(r => r.Position).ShouldBe([5UL]);
        batch.Gaps.ShouldBe([new ChangelogGap(2, 5, [])]);
    }
}
