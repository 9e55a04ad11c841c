using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Streaming;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Streaming;

public sealed class StreamCheckpointManagerTests
{
    private static readonly DateTimeOffset Start = new(2024, 1, 28, 0, 0, 0, TimeSpan.Zero);

    private static StreamCheckpointManager Enabled(StreamCheckpointOptions? options = null, TimeProvider? time = null) =>
        new(options ?? new StreamCheckpointOptions { Interval = TimeSpan.FromSeconds(1) }, time ?? new FakeTimeProvider(Start));

    // -- Options / disabled --

    [Fact]
    public void Constructor_DefaultOptions_IsEnabledAndInMemory()
    {
        var manager = new StreamCheckpointManager(new StreamCheckpointOptions());
        manager.IsEnabled.ShouldBeTrue();
        manager.Changelog.ShouldBeNull();
        manager.Options.DataDirectory.ShouldBeNull();
    }

    [Fact]
    public void CreateDisabled_EveryOperation_IsANoOp()
    {
        var manager = StreamCheckpointManager.CreateDisabled();
        manager.IsEnabled.ShouldBeFalse();
        var handle = manager.RegisterSource("src1");
        handle.IsTracked.ShouldBeFalse();
        handle.IncrementSequence().ShouldBe(1ul);
        manager.RegisterSink("sink1", 5);
        manager.SetOperatorState("op", [1]);

        manager.Trigger().ShouldBeNull();
        manager.TriggerIfDue().ShouldBeNull();
        manager.LastCheckpointId.ShouldBeNull();
        manager.GetCheckpoint(1).ShouldBeNull();
        manager.TryRestore().ShouldBeNull();
        manager.Epoch.ShouldBe(0ul);
        manager.RetainedCheckpointCount.ShouldBe(0);
        manager.GetRetainedCheckpoints().ShouldBeEmpty();
        manager.TryGetSource("src1", out _).ShouldBeFalse();
        manager.Changelog.ShouldBeNull();
    }

    [Fact]
    public void CreateDisabled_CheckpointAndRestore_ThrowInvalidOperation()
    {
        var manager = StreamCheckpointManager.CreateDisabled();
        Should.Throw<InvalidOperationException>(() => manager.Checkpoint()).Message.ShouldContain("disabled");
        Should.Throw<InvalidOperationException>(() => manager.Restore()).Message.ShouldContain("disabled");
    }

    [Fact]
    public void Trigger_Disabled_AllocatesNothing()
    {
        var manager = new StreamCheckpointManager(new StreamCheckpointOptions { Enabled = false, ChangelogCapacity = 16 });
        manager.Trigger();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            manager.Trigger().ShouldBeNull();
            manager.TriggerIfDue().ShouldBeNull();
        }

        (GC.GetAllocatedBytesForCurrentThread() - before).ShouldBe(0);
        manager.Changelog.ShouldBeNull();
    }

    [Fact]
    public void Constructor_DataDirectory_ThrowsPointingToOpenAsync()
    {
        var ex = Should.Throw<ArgumentException>(() => new StreamCheckpointManager(new StreamCheckpointOptions { DataDirectory = "/tmp/test" }));
        ex.Message.ShouldContain("OpenAsync");
    }

    [Fact]
    public void Options_InvalidValues_AreRejectedWhenSet()
    {
        Should.Throw<ArgumentOutOfRangeException>(() => new StreamCheckpointOptions { ChangelogCapacity = 0 });
        Should.Throw<ArgumentOutOfRangeException>(() => new StreamCheckpointOptions { MaxRetainedCheckpoints = 0 });
        Should.Throw<ArgumentOutOfRangeException>(() => new StreamCheckpointOptions { MaxRetainedCheckpoints = -3 });
        Should.Throw<ArgumentOutOfRangeException>(() => new StreamCheckpointOptions { Interval = TimeSpan.Zero });
        Should.Throw<ArgumentOutOfRangeException>(() => new StreamCheckpointOptions { OverflowPolicy = (ChangelogOverflowPolicy)7 });
        Should.Throw<ArgumentOutOfRangeException>(() => new StreamCheckpointOptions { MaxSnapshotBytes = 10 });
        Should.Throw<ArgumentException>(() => new StreamCheckpointOptions { DataDirectory = " " });
    }

    [Fact]
    public void Options_Defaults_AreDocumentedValues()
    {
        var options = new StreamCheckpointOptions();
        options.Enabled.ShouldBeTrue();
        options.Interval.ShouldBeNull();
        options.DataDirectory.ShouldBeNull();
        options.ChangelogCapacity.ShouldBeNull();
        options.MaxRetainedCheckpoints.ShouldBeNull();
        options.OverflowPolicy.ShouldBe(ChangelogOverflowPolicy.DropNew);
        options.MaxSnapshotBytes.ShouldBe(64L * 1024 * 1024);
    }

    [Fact]
    public void Constructor_ChangelogCapacity_CreatesBufferWithPolicy()
    {
        var manager = Enabled(new StreamCheckpointOptions { ChangelogCapacity = 8, OverflowPolicy = ChangelogOverflowPolicy.OverwriteOldest });
        manager.Changelog.ShouldNotBeNull();
        manager.Changelog.Capacity.ShouldBe(8);
        manager.Changelog.OverflowPolicy.ShouldBe(ChangelogOverflowPolicy.OverwriteOldest);
    }

    // -- Sources --

    [Fact]
    public void RegisterSource_NewName_ReturnsTrackedHandleWithCompactIds()
    {
        var manager = Enabled();
        var trades = manager.RegisterSource("trades");
        var quotes = manager.RegisterSource("quotes", initialSequence: 10, initialWatermark: 99);
        trades.IsTracked.ShouldBeTrue();
        trades.Id.ShouldBe((ushort)0);
        quotes.Id.ShouldBe((ushort)1);
        quotes.Sequence.ShouldBe(10ul);
        quotes.Watermark.ShouldBe(99);
        trades.Watermark.ShouldBe(long.MinValue);
        manager.TryGetSource("trades", out var found).ShouldBeTrue();
        found.ShouldBeSameAs(trades);
    }

    [Fact]
    public void RegisterSource_DuplicateOrInvalidName_Throws()
    {
        var manager = Enabled();
        manager.RegisterSource("trades");
        Should.Throw<ArgumentException>(() => manager.RegisterSource("trades")).Message.ShouldContain("TryGetSource");
        Should.Throw<ArgumentException>(() => manager.RegisterSource(""));
        Should.Throw<ArgumentException>(() => manager.RegisterSource("x\uDC00"));
    }

    [Fact]
    public void IncrementSequence_ThreeTimes_CountsThree()
    {
        var handle = Enabled().RegisterSource("src");
        handle.Sequence.ShouldBe(0ul);
        handle.IncrementSequence();
        handle.IncrementSequence();
        handle.IncrementSequence().ShouldBe(3ul);
        handle.Sequence.ShouldBe(3ul);
        handle.AddToSequence(7).ShouldBe(10ul);
    }

    [Fact]
    public void SourceHandle_SharedReference_SeesTheSameCounter()
    {
        var manager = Enabled();
        var handle = manager.RegisterSource("src");
        manager.TryGetSource("src", out var shared).ShouldBeTrue();
        handle.IncrementSequence();
        shared!.Sequence.ShouldBe(1ul);
        shared.AddToSequence(5);
        handle.Sequence.ShouldBe(6ul);
    }

    [Fact]
    public async Task IncrementSequence_FromManyThreads_LosesNoIncrement()
    {
        var handle = Enabled().RegisterSource("src");
        const int Threads = 4;
        const int PerThread = 100_000;
        await Task.WhenAll(Enumerable.Range(0, Threads).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < PerThread; i++)
            {
                handle.IncrementSequence();
            }
        }, TestContext.Current.CancellationToken)));
        handle.Sequence.ShouldBe((ulong)(Threads * PerThread));
    }

    [Fact]
    public void IncrementSequence_HotPath_AllocatesNothing()
    {
        var handle = Enabled().RegisterSource("src");
        handle.IncrementSequence();
        handle.IncrementSequenceSingleWriter();
        handle.PublishSequence(handle.Sequence + 1);
        handle.AdvanceWatermark(1);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100_000; i++)
        {
            handle.IncrementSequence();
            handle.IncrementSequenceSingleWriter();
            handle.PublishSequence(handle.Sequence + 1);
            handle.AdvanceWatermark(i);
        }

        (GC.GetAllocatedBytesForCurrentThread() - before).ShouldBe(0);
        handle.Sequence.ShouldBe(300_003ul);
    }

    [Fact]
    public async Task IncrementSequenceSingleWriter_OneWriterThread_EveryIncrementSeenInOrderByAnotherThread()
    {
        var manager = Enabled();
        var handle = manager.RegisterSource("src");
        const int Increments = 200_000;
        using var done = new CancellationTokenSource();
        var observed = new List<ulong>();
        var reader = Task.Run(() =>
        {
            ulong last = 0;
            while (!done.IsCancellationRequested)
            {
                var seen = handle.Sequence;
                seen.ShouldBeGreaterThanOrEqualTo(last); // a reader never sees the sequence go back
                last = seen;
                if (observed.Count < 1_000 && manager.GetCheckpoint(manager.Checkpoint()) is { } checkpoint)
                {
                    observed.Add(checkpoint.SourceSequences["src"]);
                }
            }
        }, TestContext.Current.CancellationToken);

        var writer = Task.Run(() =>
        {
            for (var i = 1; i <= Increments; i++)
            {
                handle.IncrementSequenceSingleWriter().ShouldBe((ulong)i);
            }
        }, TestContext.Current.CancellationToken);

        await writer;
        await done.CancelAsync();
        await reader;
        handle.Sequence.ShouldBe((ulong)Increments);
        observed.ShouldBe(observed.Order()); // checkpoints taken on another thread never go back either
        manager.GetCheckpoint(manager.Checkpoint())!.SourceSequences["src"].ShouldBe((ulong)Increments);
    }

    [Fact]
    public void PublishSequence_Backwards_IsRefused()
    {
        var handle = Enabled().RegisterSource("src");
        handle.PublishSequence(10);
        handle.PublishSequence(10);
        Should.Throw<ArgumentOutOfRangeException>(() => handle.PublishSequence(9)).Message.ShouldContain("from 10 to 9");
        handle.Sequence.ShouldBe(10ul);
    }

    [Fact]
    public void AdvanceWatermark_OnlyMovesForward()
    {
        var handle = Enabled().RegisterSource("src");
        handle.AdvanceWatermark(100).ShouldBeTrue();
        handle.AdvanceWatermark(50).ShouldBeFalse();
        handle.AdvanceWatermark(100).ShouldBeFalse();
        handle.Watermark.ShouldBe(100);
    }

    [Fact]
    public async Task AdvanceWatermark_ConcurrentWriters_EndsAtMaximum()
    {
        var handle = Enabled().RegisterSource("src");
        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 50_000; i++)
            {
                handle.AdvanceWatermark((i * 4) + t);
            }
        }, TestContext.Current.CancellationToken)));
        handle.Watermark.ShouldBe((49_999 * 4) + 3);
    }

    // -- Trigger / capture --

    [Fact]
    public void Trigger_Twice_ReturnsGrowingIdsAndEpochs()
    {
        var manager = Enabled();
        manager.Trigger().ShouldBe(1ul);
        manager.Epoch.ShouldBe(1ul);
        manager.Trigger().ShouldBe(2ul);
        manager.Epoch.ShouldBe(2ul);
        manager.LastCheckpointId.ShouldBe(2ul);
        manager.Checkpoint().ShouldBe(3ul);
    }

    [Fact]
    public void Trigger_CapturesSequences()
    {
        var manager = Enabled();
        var handle = manager.RegisterSource("src1");
        handle.PublishSequence(42);
        var id = manager.Trigger()!.Value;
        manager.GetCheckpoint(id)!.SourceSequences["src1"].ShouldBe(42ul);
    }

    [Fact]
    public void Trigger_CapturesWatermarks()
    {
        var manager = Enabled();
        manager.RegisterSource("src1", initialWatermark: 5000);
        var id = manager.Trigger()!.Value;
        manager.GetCheckpoint(id)!.Watermarks["src1"].ShouldBe(5000);
    }

    [Fact]
    public void Trigger_CapturesSinksOperatorStatesAndCreationTime()
    {
        var time = new FakeTimeProvider(Start);
        var manager = Enabled(time: time);
        manager.RegisterSink("sink1", 50);
        manager.RegisterSink("sink1", 60);
        manager.SetOperatorState("agg", [1, 2, 3]);
        time.Advance(TimeSpan.FromMilliseconds(1234));
        var checkpoint = manager.GetCheckpoint(manager.Trigger()!.Value)!;
        checkpoint.SinkPositions["sink1"].ShouldBe(60ul);
        checkpoint.OperatorStates["agg"].ToArray().ShouldBe(new byte[] { 1, 2, 3 });
        checkpoint.CreatedAt.ShouldBe(Start.AddMilliseconds(1234));
    }

    [Fact]
    public void RegisterSink_Backwards_IsRefused()
    {
        var manager = Enabled();
        manager.RegisterSink("sink1", 50);
        Should.Throw<ArgumentOutOfRangeException>(() => manager.RegisterSink("sink1", 49));
    }

    [Fact]
    public void Trigger_LaterChanges_DoNotAlterEarlierCheckpoints()
    {
        var manager = Enabled();
        var handle = manager.RegisterSource("src");
        handle.PublishSequence(1);
        var first = manager.Trigger()!.Value;
        handle.PublishSequence(2);
        manager.SetOperatorState("op", [9]);
        manager.Trigger();
        var checkpoint = manager.GetCheckpoint(first)!;
        checkpoint.SourceSequences["src"].ShouldBe(1ul);
        checkpoint.OperatorStates.ShouldBeEmpty();
    }

    [Fact]
    public void Restore_AfterTrigger_ReturnsLatestCapturedState()
    {
        var manager = Enabled();
        manager.RegisterSource("src1", initialSequence: 10, initialWatermark: 1000);
        manager.Trigger();
        var restored = manager.Restore();
        restored.SourceSequences["src1"].ShouldBe(10ul);
        restored.Watermarks["src1"].ShouldBe(1000);
        manager.TryRestore().ShouldBeSameAs(restored);
    }

    [Fact]
    public void Restore_NoCheckpointYet_ThrowsAndTryRestoreReturnsNull()
    {
        var manager = Enabled();
        manager.TryRestore().ShouldBeNull();
        Should.Throw<InvalidOperationException>(manager.Restore).Message.ShouldContain("TryRestore");
    }

    [Fact]
    public void Trigger_MaxRetained_PrunesOldest()
    {
        var manager = Enabled(new StreamCheckpointOptions { Interval = TimeSpan.FromSeconds(1), MaxRetainedCheckpoints = 2 });
        manager.Trigger();
        manager.Trigger();
        manager.Trigger();
        manager.RetainedCheckpointCount.ShouldBe(2);
        manager.GetCheckpoint(1).ShouldBeNull();
        manager.GetCheckpoint(2).ShouldNotBeNull();
        manager.GetCheckpoint(3).ShouldNotBeNull();
        manager.GetRetainedCheckpoints().Select(c => c.Id).ShouldBe([2ul, 3ul]);
    }

    [Fact]
    public void TriggerIfDue_BeforeAndAfterInterval_TriggersOnlyWhenDue()
    {
        var time = new FakeTimeProvider(Start);
        var manager = Enabled(new StreamCheckpointOptions { Interval = TimeSpan.FromSeconds(10) }, time);
        manager.TriggerIfDue().ShouldBeNull();
        time.Advance(TimeSpan.FromSeconds(9));
        manager.TriggerIfDue().ShouldBeNull();
        time.Advance(TimeSpan.FromSeconds(1));
        manager.TriggerIfDue().ShouldBe(1ul);
        manager.TriggerIfDue().ShouldBeNull();
        time.Advance(TimeSpan.FromSeconds(3));
        manager.Trigger().ShouldBe(2ul); // a manual checkpoint restarts the interval
        time.Advance(TimeSpan.FromSeconds(9));
        manager.TriggerIfDue().ShouldBeNull();
        time.Advance(TimeSpan.FromSeconds(1));
        manager.TriggerIfDue().ShouldBe(3ul);
    }

    [Fact]
    public void TriggerIfDue_NotDue_AllocatesNothing()
    {
        var manager = Enabled(new StreamCheckpointOptions { Interval = TimeSpan.FromMinutes(1) });
        manager.TriggerIfDue();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            manager.TriggerIfDue().ShouldBeNull();
        }

        (GC.GetAllocatedBytesForCurrentThread() - before).ShouldBe(0);
        manager.RetainedCheckpointCount.ShouldBe(0);
    }

    [Fact]
    public void TriggerIfDue_ManualOnly_NeverTriggers()
    {
        var time = new FakeTimeProvider(Start);
        var manager = Enabled(new StreamCheckpointOptions(), time);
        time.Advance(TimeSpan.FromDays(1));
        manager.TriggerIfDue().ShouldBeNull();
    }

    [Fact]
    public async Task Trigger_ConcurrentWithHotPath_EachCheckpointSeesMonotonicSequences()
    {
        var manager = Enabled();
        var handle = manager.RegisterSource("src");
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                handle.IncrementSequence();
            }
        }, TestContext.Current.CancellationToken);
        var ids = new List<ulong>();
        for (var i = 0; i < 200; i++)
        {
            ids.Add(manager.Trigger()!.Value);
        }

        await stop.CancelAsync();
        await writer;
        var sequences = ids.Select(id => manager.GetCheckpoint(id)!.SourceSequences["src"]).ToList();
        sequences.ShouldBe(sequences.Order().ToList());
        ids.ShouldBe(ids.Order().Distinct().ToList());
    }
}
