using System.Diagnostics;
using Cdc.Checkpoint.Cursors;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Streaming;
using Cdc.Checkpoint.Tests.Streaming;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Cursors;

/// <summary>
/// The pull cursor over the streaming changelog. The first five tests port the behaviour pinned by the seed's cursor
/// tests (batpak 004): zero-width overlaps, blocking to the deadline, the visibility epoch, parking, and the empty arm.
/// </summary>
public sealed class ChangelogCursorTests
{
    private const string Identity = "orders-projector";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static StreamChangelogEntry Entry(ulong sequence) => new(0, StreamChangeOp.Insert, sequence, long.MinValue);

    private static void PushRange(StreamChangelogBuffer buffer, ulong from, ulong to)
    {
        for (var s = from; s < to; s++)
        {
            buffer.TryPush(Entry(s), out var position).ShouldBeTrue();
            position.ShouldBe(s);
        }
    }

    private static ulong[] Positions(ChangelogBatch batch) => [.. batch.Records.Select(r => r.Position)];

    // Seed: record_gap_intersects_with_a_half_open_range_excluding_zero_width_overlaps.
    [Fact]
    public void Poll_GapWithCancelledRangeTouchingItsBoundary_ReportsOnlyTheRealOverlap()
    {
        var buffer = new StreamChangelogBuffer(16, ChangelogOverflowPolicy.OverwriteOldest);
        var cursor = new ChangelogCursor(buffer, CursorCheckpoint.NotStarted(Identity));
        PushRange(buffer, 0, 1);
        Positions(cursor.Poll(8)).ShouldBe([0UL]);

        buffer.Cancel(0, 1);    // [0, 1) ends exactly where the next gap starts (expected 1): a zero-width overlap
        PushRange(buffer, 1, 2);
        buffer.Clear();         // position 1 is lost
        PushRange(buffer, 2, 4);
        buffer.Cancel(2, 4);    // a real overlap
        PushRange(buffer, 4, 5);
        buffer.Clear();         // position 4 is lost (2 and 3 were cancelled anyway)
        PushRange(buffer, 5, 6);

        var batch = cursor.Poll(8);
        Positions(batch).ShouldBe([5UL]);
        var gap = batch.Gaps.ShouldHaveSingleItem();
        gap.ExpectedPosition.ShouldBe(1UL);
        gap.DeliveredPosition.ShouldBe(5UL);
        gap.CancelledRanges.ShouldBe([new ChangelogRange(2, 4)]);
        gap.LostCount.ShouldBe(2UL);
    }

    // The same rule on the gap observer itself, with the seed's numbers: (2,4) overlaps [1,5), (5,7) only touches 5.
    [Fact]
    public void Observe_SeedRanges_KeepsTheGenuineOverlapAndDropsTheZeroWidthTouch()
    {
        var gap = ChangelogGap.Observe(1, 5, [new ChangelogRange(2, 4), new ChangelogRange(5, 7)]).ShouldNotBeNull();
        gap.ShouldBe(new ChangelogGap(1, 5, [new ChangelogRange(2, 4)]));
        ChangelogGap.Observe(5, 5, [new ChangelogRange(2, 4)]).ShouldBeNull();
        ChangelogGap.Observe(3, 4, [new ChangelogRange(1, 3), new ChangelogRange(4, 9)]).ShouldBe(new ChangelogGap(3, 4, []));
    }

    // Seed: pull_batch_blocks_until_the_deadline_before_reporting_empty.
    [Fact]
    public async Task PollBatchAsync_NoData_BlocksUntilTheDeadlineThenReportsEmpty()
    {
        var time = new FakeTimeProvider();
        var buffer = new StreamChangelogBuffer(8);
        var cursor = new ChangelogCursor(buffer, CursorCheckpoint.NotStarted(Identity), time);

        var poll = cursor.PollBatchAsync(8, TimeSpan.FromMilliseconds(50), Ct).AsTask();
        await Task.Yield();
        poll.IsCompleted.ShouldBeFalse();
        time.Advance(TimeSpan.FromMilliseconds(49));
        await Task.Delay(20, Ct); // real time for any (wrong) wake-up to run; the fake clock has not reached the deadline
        poll.IsCompleted.ShouldBeFalse("the poll returned before its deadline");

        time.Advance(TimeSpan.FromMilliseconds(1));
        var batch = await poll.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        batch.IsEmpty.ShouldBeTrue();
        cursor.Checkpoint.ShouldBe(CursorCheckpoint.NotStarted(Identity));
    }

    // Seed: visibility_epoch_advances_with_each_publish.
    [Fact]
    public void VisibilityEpoch_GrowsByOneWithEachPublish()
    {
        var buffer = new StreamChangelogBuffer(1, ChangelogOverflowPolicy.DropNew);
        var cursor = new ChangelogCursor(buffer, CursorCheckpoint.NotStarted(Identity));
        cursor.VisibilityEpoch.ShouldBe(0UL);
        buffer.TryPush(Entry(1)).ShouldBeTrue();
        cursor.VisibilityEpoch.ShouldBe(1UL);
        buffer.TryPop(out _).ShouldBeTrue();
        buffer.TryPush(Entry(2)).ShouldBeTrue();
        cursor.VisibilityEpoch.ShouldBe(2UL);

        // A dropped push publishes nothing: the epoch stays, the position is used up.
        buffer.TryPush(Entry(3), out var dropped).ShouldBeFalse();
        dropped.ShouldBe(2UL);
        cursor.VisibilityEpoch.ShouldBe(2UL);
        buffer.NextPosition.ShouldBe(3UL);
    }

    // Seed: park_for_data_blocks_until_the_timeout_when_no_publish_races.
    [Fact]
    public async Task WaitForPublish_NoPublish_BlocksUntilTheTimeout_AndAStaleEpochReturnsAtOnce()
    {
        var time = new FakeTimeProvider();
        var buffer = new StreamChangelogBuffer(8);

        var park = buffer.WaitForPublishAsync(buffer.VisibilityEpoch, TimeSpan.FromMilliseconds(50), time, Ct).AsTask();
        await Task.Delay(20, Ct);
        park.IsCompleted.ShouldBeFalse();
        time.Advance(TimeSpan.FromMilliseconds(50));
        (await park.WaitAsync(TimeSpan.FromSeconds(10), Ct)).ShouldBeFalse();

        // A publish that raced ahead of the park (the epoch already moved) is never missed.
        var before = buffer.VisibilityEpoch;
        buffer.TryPush(Entry(1)).ShouldBeTrue();
        var raced = buffer.WaitForPublishAsync(before, TimeSpan.FromMilliseconds(50), time, Ct);
        raced.IsCompleted.ShouldBeTrue();
        (await raced).ShouldBeTrue();
    }

    // Seed: pull_batch_returns_empty_not_many_when_no_data_arrives.
    [Fact]
    public async Task PollBatchAsync_NoDataArrives_ReturnsAnEmptyBatchWithoutGaps()
    {
        var time = new FakeTimeProvider();
        var cursor = new ChangelogCursor(new StreamChangelogBuffer(8), CursorCheckpoint.NotStarted(Identity), time);
        var poll = cursor.PollBatchAsync(8, TimeSpan.FromMilliseconds(30), Ct).AsTask();
        time.Advance(TimeSpan.FromMilliseconds(30));
        var batch = await poll.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        batch.IsEmpty.ShouldBeTrue();
        batch.Count.ShouldBe(0);
        batch.Records.ShouldBeEmpty();
        batch.Gaps.ShouldBeEmpty();
        batch.LastPosition.ShouldBeNull();
    }

    [Fact]
    public async Task PollBatchAsync_Parked_ReturnsAtTheDeadlineAfterParkingOnce()
    {
        var time = new FakeTimeProvider();
        var cursor = new ChangelogCursor(new StreamChangelogBuffer(8), CursorCheckpoint.NotStarted(Identity), time);
        var poll = cursor.PollBatchAsync(8, TimeSpan.FromSeconds(5), Ct).AsTask();

        // Let real time pass: a busy loop would poll (and park) again and again; a parked poll does nothing.
        await Task.Delay(100, Ct);
        poll.IsCompleted.ShouldBeFalse();
        cursor.ParkCount.ShouldBe(1);

        time.Advance(TimeSpan.FromSeconds(5));
        (await poll.WaitAsync(TimeSpan.FromSeconds(10), Ct)).IsEmpty.ShouldBeTrue();
        cursor.ParkCount.ShouldBe(1, "one park, woken by the deadline, and no other wake-up");
    }

    [Fact]
    public async Task PollBatchAsync_Parked_APublishWakesItPromptly()
    {
        var time = new FakeTimeProvider(); // never advanced: only the publish can end the wait
        var buffer = new StreamChangelogBuffer(8);
        var cursor = new ChangelogCursor(buffer, CursorCheckpoint.NotStarted(Identity), time);
        var poll = cursor.PollBatchAsync(8, TimeSpan.FromMinutes(10), Ct).AsTask();
        await Task.Delay(50, Ct);
        poll.IsCompleted.ShouldBeFalse();

        var watch = Stopwatch.StartNew();
        buffer.TryPush(Entry(7)).ShouldBeTrue();
        var batch = await poll.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        watch.Stop();

        Positions(batch).ShouldBe([0UL]);
        batch.Records[0].Entry.Sequence.ShouldBe(7UL);
        watch.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(1));
        cursor.ParkCount.ShouldBe(1);
        cursor.Checkpoint.ShouldBe(CursorCheckpoint.At(0, Identity));
    }

    [Fact]
    public void Poll_RingOverwroteUnreadEntries_ReportsTheExactLostRange()
    {
        var buffer = new StreamChangelogBuffer(4, ChangelogOverflowPolicy.OverwriteOldest);
        var logs = new ListLoggerFactory();
        var cursor = new ChangelogCursor(buffer, CursorCheckpoint.NotStarted(Identity), loggerFactory: logs);
        PushRange(buffer, 0, 2);
        Positions(cursor.Poll(10)).ShouldBe([0UL, 1UL]);

        PushRange(buffer, 2, 10); // the ring keeps 6..9; 2..5 were overwritten before the cursor read them
        var batch = cursor.Poll(10);
        Positions(batch).ShouldBe([6UL, 7UL, 8UL, 9UL]);
        batch.Gaps.ShouldBe([new ChangelogGap(2, 6, [])]);
        batch.Gaps[0].LostCount.ShouldBe(4UL);
        buffer.OverflowCount.ShouldBe(6UL);
        logs.Entries.ShouldContain(e => e.EventId == CdcEventId.CursorGap && e.Message.Contains("positions 2 to 6"));
    }

    [Fact]
    public void Poll_DropNewDroppedEntries_ReportsThemAsAGapBetweenDeliveredRecords()
    {
        var buffer = new StreamChangelogBuffer(2, ChangelogOverflowPolicy.DropNew);
        var cursor = new ChangelogCursor(buffer, CursorCheckpoint.NotStarted(Identity));
        PushRange(buffer, 0, 2);
        buffer.TryPush(Entry(2)).ShouldBeFalse(); // position 2 dropped
        buffer.TryPush(Entry(3)).ShouldBeFalse(); // position 3 dropped
        buffer.TryPop(out _).ShouldBeTrue();       // position 0 consumed by a popping reader
        buffer.TryPush(Entry(4), out var stored).ShouldBeTrue();
        stored.ShouldBe(4UL);

        var batch = cursor.Poll(10);
        Positions(batch).ShouldBe([1UL, 4UL]);
        batch.Gaps.ShouldBe([new ChangelogGap(0, 1, []), new ChangelogGap(2, 4, [])]);
    }

    [Fact]
    public void Poll_CancelledEntriesStillBuffered_AreNotDeliveredAndReportedAsCancelled()
    {
        var buffer = new StreamChangelogBuffer(16, ChangelogOverflowPolicy.OverwriteOldest);
        var cursor = new ChangelogCursor(buffer, CursorCheckpoint.NotStarted(Identity));
        PushRange(buffer, 0, 8);
        buffer.Cancel(2, 5); // an aborted streamed transaction

        var batch = cursor.Poll(16);
        Positions(batch).ShouldBe([0UL, 1UL, 5UL, 6UL, 7UL]);
        var gap = batch.Gaps.ShouldHaveSingleItem();
        gap.ShouldBe(new ChangelogGap(2, 5, [new ChangelogRange(2, 5)]));
        gap.LostCount.ShouldBe(0UL);
        gap.CancelledCount.ShouldBe(3UL);
    }

    [Fact]
    public void Cancel_AdjacentAndOverlappingRanges_AreMergedAndEmptyRangesIgnored()
    {
        var buffer = new StreamChangelogBuffer(32, ChangelogOverflowPolicy.OverwriteOldest);
        PushRange(buffer, 0, 20);
        buffer.Cancel(3, 3);
        buffer.Cancel(10, 12);
        buffer.Cancel(2, 4);
        buffer.Cancel(4, 6);
        buffer.Cancel(11, 15);
        Should.Throw<ArgumentOutOfRangeException>(() => buffer.Cancel(19, 21));

        var cursor = new ChangelogCursor(buffer, CursorCheckpoint.At(0, Identity));
        var batch = cursor.Poll(32);
        Positions(batch).ShouldBe([1UL, 6UL, 7UL, 8UL, 9UL, 15UL, 16UL, 17UL, 18UL, 19UL]);
        batch.Gaps.ShouldBe([new ChangelogGap(2, 6, [new ChangelogRange(2, 6)]), new ChangelogGap(10, 15, [new ChangelogRange(10, 15)])]);
    }

    [Fact]
    public void Poll_InOrderAtLeastOnce_RespectsMaxAndResumesAfterTheLastDelivered()
    {
        var buffer = new StreamChangelogBuffer(64, ChangelogOverflowPolicy.OverwriteOldest);
        PushRange(buffer, 0, 10);
        var cursor = new ChangelogCursor(buffer, CursorCheckpoint.NotStarted(Identity));
        Positions(cursor.Poll(4)).ShouldBe([0UL, 1UL, 2UL, 3UL]);
        Positions(cursor.Poll(4)).ShouldBe([4UL, 5UL, 6UL, 7UL]);
        cursor.Checkpoint.ShouldBe(CursorCheckpoint.At(7, Identity));
        cursor.Poll(0).IsEmpty.ShouldBeTrue();
        Positions(cursor.Poll(4)).ShouldBe([8UL, 9UL]);
        cursor.Poll(4).IsEmpty.ShouldBeTrue();

        // A second cursor resuming after position 3 reads the same buffer independently; nothing was consumed.
        var other = new ChangelogCursor(buffer, CursorCheckpoint.At(3, Identity));
        Positions(other.Poll(100)).ShouldBe([4UL, 5UL, 6UL, 7UL, 8UL, 9UL]);
        buffer.Count.ShouldBe(10);
    }

    [Fact]
    public async Task PollBatchAsync_ConcurrentPollOfOneCursor_IsRefused()
    {
        var time = new FakeTimeProvider();
        var cursor = new ChangelogCursor(new StreamChangelogBuffer(8), CursorCheckpoint.NotStarted(Identity), time);
        var parked = cursor.PollBatchAsync(1, TimeSpan.FromSeconds(1), Ct).AsTask();
        Should.Throw<InvalidOperationException>(() => cursor.Poll(1));
        await Should.ThrowAsync<InvalidOperationException>(async () => await cursor.PollBatchAsync(1, TimeSpan.Zero, Ct));
        time.Advance(TimeSpan.FromSeconds(1));
        (await parked.WaitAsync(TimeSpan.FromSeconds(10), Ct)).IsEmpty.ShouldBeTrue();
        cursor.Poll(1).IsEmpty.ShouldBeTrue(); // free again
    }

    [Fact]
    public async Task PollBatchAsync_Cancelled_ThrowsOperationCanceledAndKeepsThePosition()
    {
        var buffer = new StreamChangelogBuffer(8);
        var cursor = new ChangelogCursor(buffer, CursorCheckpoint.NotStarted(Identity), new FakeTimeProvider());
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var poll = cursor.PollBatchAsync(8, Timeout.InfiniteTimeSpan, cts.Token).AsTask();
        await cts.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(() => poll.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        cursor.Checkpoint.Started.ShouldBeFalse();
        await Should.ThrowAsync<ArgumentOutOfRangeException>(async () => await cursor.PollBatchAsync(1, TimeSpan.FromMilliseconds(-5), Ct));
    }

    [Fact]
    public async Task PollBatchAsync_WriterOnAnotherThread_DeliversEveryPositionOnceInOrder()
    {
        const int Total = 200_000;
        var buffer = new StreamChangelogBuffer(1024, ChangelogOverflowPolicy.OverwriteOldest);
        var cursor = new ChangelogCursor(buffer, CursorCheckpoint.NotStarted(Identity));
        var writer = Task.Run(
            () =>
            {
                for (ulong s = 0; s < Total; s++)
                {
                    buffer.TryPush(Entry(s));
                }
            },
            Ct);

        ulong delivered = 0, lost = 0, expected = 0;
        while (expected < Total)
        {
            var batch = await cursor.PollBatchAsync(256, TimeSpan.FromSeconds(30), Ct);
            batch.IsEmpty.ShouldBeFalse("the writer stalled or a publish was missed");
            lost += batch.Gaps.Aggregate(0UL, (sum, g) => sum + g.LostCount);
            foreach (var record in batch.Records)
            {
                record.Position.ShouldBeGreaterThanOrEqualTo(expected);
                record.Entry.Sequence.ShouldBe(record.Position); // the entry stored at that position, never a torn or stale slot
                expected = record.Position + 1;
                delivered++;
            }
        }

        await writer;
        (delivered + lost).ShouldBe((ulong)Total, "every position is delivered once or reported lost, never both");
    }
}
