using Cdc.Checkpoint.Manifests;
using FsCheck;
using FsCheck.Fluent;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Manifests;

public sealed class ContiguousPrefixTrackerTests
{
    [Fact]
    public void Complete_OutOfOrder_ReportsOnlyTheFinishedPrefix()
    {
        var tracker = new ContiguousPrefixTracker<string>();
        tracker.Begin(10, "a");
        tracker.Begin(11, "b");
        tracker.Begin(12, "c");

        tracker.Complete(12).ShouldBeFalse();
        tracker.TryGetCheckpointable(out _, out _).ShouldBeFalse();
        tracker.Complete(10).ShouldBeTrue();
        tracker.TryGetCheckpointable(out var offset, out var sequence).ShouldBeTrue();
        (offset, sequence).ShouldBe(("a", 10UL));
        tracker.Complete(11).ShouldBeTrue();
        tracker.TryGetCheckpointable(out offset, out sequence).ShouldBeTrue();
        (offset, sequence).ShouldBe(("c", 12UL));
        tracker.Pending.ShouldBe(0);
        tracker.NextSequence.ShouldBe(13UL);
    }

    [Fact]
    public void Begin_SkippedSequence_ThrowsSoAMissedEventCannotBeSkipped()
    {
        var tracker = new ContiguousPrefixTracker<int>(firstSequence: 1);
        tracker.Begin(1, 1);

        var ex = Should.Throw<ArgumentException>(() => tracker.Begin(3, 3));

        ex.Message.ShouldContain("must be 2");
    }

    [Fact]
    public void Complete_Twice_Throws()
    {
        var tracker = new ContiguousPrefixTracker<int>();
        tracker.Begin(1, 1);
        tracker.Begin(2, 2);
        tracker.Complete(2);

        Should.Throw<InvalidOperationException>(() => tracker.Complete(2));
        tracker.Complete(1);
        Should.Throw<InvalidOperationException>(() => tracker.Complete(1));
    }

    [Fact]
    public void Complete_NeverBegun_ThrowsArgumentException()
    {
        var tracker = new ContiguousPrefixTracker<int>();
        Should.Throw<ArgumentException>(() => tracker.Complete(1));
        tracker.Begin(5, 5);
        Should.Throw<ArgumentException>(() => tracker.Complete(6));
    }

    [Fact]
    public void Begin_MaxValue_ThrowsArgumentOutOfRange()
    {
        Should.Throw<ArgumentOutOfRangeException>(() => new ContiguousPrefixTracker<int>().Begin(ulong.MaxValue, 0));
    }

    [Fact]
    public void Tracker_ManyInFlight_GrowsAndKeepsOrder()
    {
        var tracker = new ContiguousPrefixTracker<ulong>(0);
        for (ulong i = 0; i < 1000; i++)
        {
            tracker.Begin(i, i * 10);
        }

        for (ulong i = 999; i >= 1; i--)
        {
            tracker.Complete(i).ShouldBeFalse();
        }

        tracker.Complete(0).ShouldBeTrue();
        tracker.TryGetCheckpointable(out var offset, out _).ShouldBeTrue();
        offset.ShouldBe(9990UL);
    }

    [Fact]
    public void Property_RandomCompletionOrder_CheckpointableNeverPassesAnUnfinishedEventAndEndsAtTheMax()
    {
        var cases = Gen.Choose(1, 200).SelectMany(n => Gen.Shuffle(Enumerable.Range(0, n).ToArray()).Select(order => (N: n, Order: order)));

        Prop.ForAll(Arb.From(cases), c =>
        {
            // Interleave Begin and Complete: an event can complete only after it began, in a random order.
            var tracker = new ContiguousPrefixTracker<long>(firstSequence: 1000);
            var finished = new bool[c.N];
            var begun = 0;
            foreach (var index in c.Order)
            {
                while (begun <= index)
                {
                    tracker.Begin(1000UL + (ulong)begun, 7L * begun);
                    begun++;
                }

                tracker.Complete(1000UL + (ulong)index);
                finished[index] = true;
                if (tracker.TryGetCheckpointable(out var offset, out _))
                {
                    for (var i = 0; i < c.N; i++)
                    {
                        // Everything at or before the checkpointable offset finished; nothing unfinished is passed.
                        if (7L * i <= offset && !finished[i])
                        {
                            return false;
                        }
                    }
                }
                else if (finished[0])
                {
                    return false;
                }
            }

            return tracker.TryGetCheckpointable(out var last, out var sequence) && last == 7L * (c.N - 1) && sequence == 1000UL + (ulong)(c.N - 1) && tracker.Pending == 0;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public async Task Concurrent_ManyWorkers_EndsAtTheLastEvent()
    {
        var tracker = new ConcurrentContiguousPrefixTracker<int>(firstSequence: 0);
        const int Events = 10_000;
        for (var i = 0; i < Events; i++)
        {
            tracker.Begin((ulong)i, i);
        }

        var observed = new List<int>();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(worker => Task.Run(() =>
        {
            for (var i = worker; i < Events; i += 4)
            {
                tracker.Complete((ulong)i);
                if (tracker.TryGetCheckpointable(out var offset, out _))
                {
                    lock (observed)
                    {
                        observed.Add(offset);
                    }
                }
            }
        })));

        tracker.TryGetCheckpointable(out var final, out _).ShouldBeTrue();
        final.ShouldBe(Events - 1);
        tracker.Pending.ShouldBe(0);
        tracker.NextSequence.ShouldBe((ulong)Events);
        observed.ShouldNotBeEmpty();
    }
}
