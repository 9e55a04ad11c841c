using System.Collections.Immutable;
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Offsets;
using Shouldly;
using Xunit;
using static Cdc.Checkpoint.Tests.Manifests.Manifests;

namespace Cdc.Checkpoint.Tests.Manifests;

public sealed class CheckpointCoordinatorTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static TestSeqOffset Seq(string stream, ulong seq) => new(stream, seq);

    private static ulong SeqOf(CheckpointManifest manifest, string source) =>
        manifest.SourceOffsets[source].Offset.ShouldBeOfType<TestSeqOffset>().Seq;

    [Fact]
    public async Task StartAsync_EmptyStore_StartsFreshAndTheFirstCommitIsCheckpointOne()
    {
        await using var coordinator = await CheckpointCoordinator.StartAsync(Store(_dir), cancellationToken: Ct);

        coordinator.RestoredFrom.ShouldBeNull();
        coordinator.LastCommitted.ShouldBeNull();
        var manifest = await coordinator.CommitAsync(Ct);

        manifest.CheckpointId.ShouldBe(1UL);
        manifest.Epoch.ShouldBe(1UL);
        manifest.SourceOffsets.ShouldBeEmpty();
    }

    [Fact]
    public async Task CommitAsync_ReportedOffsets_AreInTheDurableManifest()
    {
        var time = new FakeTimeProvider(T0);
        await using (var coordinator = await CheckpointCoordinator.StartAsync(Store(_dir), timeProvider: time, cancellationToken: Ct))
        {
            coordinator.ReportOffset("orders", Seq("orders", 42)).ShouldBeTrue();
            coordinator.ReportOffset("kafka", GenericOffset.Parse("kafka", """{"p0":7}""")).ShouldBeTrue();
            coordinator.ReportSinkEpoch("warehouse", 3).ShouldBeTrue();
            coordinator.ReportSinkStatus("warehouse", SinkCommitStatus.Pending);
            coordinator.ReportTableOffset("public.orders", TableOffset.FromText("pk>10"));
            coordinator.ReportWatermark(1_000).ShouldBeTrue();

            var manifest = await coordinator.CommitAsync(Ct);

            manifest.CreatedAt.ShouldBe(T0);
            coordinator.LastCommitted.ShouldBeSameAs(manifest);
        }

        var loaded = (await Store(_dir).LoadLatestAsync(Ct))!;
        SeqOf(loaded, "orders").ShouldBe(42UL);
        loaded.SourceOffsets["kafka"].Offset.ToJsonString().ShouldBe("""{"p0":7}""");
        loaded.SinkEpochs["warehouse"].ShouldBe(3UL);
        loaded.SinkCommitStatuses["warehouse"].ShouldBe(SinkCommitStatus.Pending);
        loaded.TableOffsets["public.orders"].Text.ShouldBe("pk>10");
        loaded.Watermark.ShouldBe(1_000);
    }

    [Fact]
    public async Task CommitAsync_RequestsArrivingDuringAWrite_AreCoalescedIntoOneWrite()
    {
        var store = new InstrumentedStore(Store(_dir, retain: 0));
        var firstWriteEntered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseFirstWrite = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.BeforeSave = async manifest =>
        {
            if (manifest.CheckpointId == 1)
            {
                firstWriteEntered.TrySetResult();
                await releaseFirstWrite.Task;
            }
        };
        var batchSizes = new ConcurrentBag<long>();
        using var listener = ListenTo("cdc.checkpoint.manifest.commit.batch_size", batchSizes);
        await using var coordinator = await CheckpointCoordinator.StartAsync(store, cancellationToken: Ct);

        coordinator.ReportOffset("s0", Seq("s0", 1));
        var first = coordinator.CommitAsync(Ct).AsTask();
        await firstWriteEntered.Task.WaitAsync(Ct);
        var waiters = new List<Task<CheckpointManifest>>();
        for (var i = 1; i <= 15; i++)
        {
            coordinator.ReportOffset($"s{i}", Seq($"s{i}", (ulong)i));
            waiters.Add(coordinator.CommitAsync(Ct).AsTask());
        }

        waiters.ShouldAllBe(w => !w.IsCompleted);
        releaseFirstWrite.SetResult();
        var firstManifest = await first;
        var coalesced = await Task.WhenAll(waiters);

        store.Saves.ShouldBe(2);
        firstManifest.CheckpointId.ShouldBe(1UL);
        firstManifest.SourceOffsets.Keys.ShouldBe(["s0"]);
        coalesced.Select(m => m.CheckpointId).Distinct().ShouldBe([2UL]);
        coalesced[0].SourceOffsets.Count.ShouldBe(16);
        batchSizes.ShouldContain(15L);
    }

    [Fact]
    public async Task CommitAsync_SixteenConcurrentSources_WritesAreSharedAndEveryAcknowledgedOffsetIsDurable()
    {
        const int Sources = 16;
        const int CommitsPerSource = 40;

        // How much the writes are shared depends on scheduling (a busy machine runs fewer sources at once), so this
        // test only asserts that sharing happens at all; the deterministic coalescing test above pins the rule, and
        // eng/bench.sh measures the gain (docs/BENCHMARKS.md, row c). Each write takes at least 2 ms here so that the
        // other sources are certainly queued behind it.
        var store = new InstrumentedStore(Store(_dir, retain: 0)) { BeforeSave = _ => Task.Delay(2, Ct) };
        var acknowledged = new ConcurrentBag<(string Source, ulong Seq, ulong CheckpointId)>();
        await using (var coordinator = await CheckpointCoordinator.StartAsync(store, cancellationToken: Ct))
        {
            await Task.WhenAll(Enumerable.Range(0, Sources).Select(s => Task.Run(
                async () =>
                {
                    var name = $"source-{s:D2}";
                    for (ulong seq = 1; seq <= CommitsPerSource; seq++)
                    {
                        coordinator.ReportOffset(name, Seq(name, seq));
                        var manifest = await coordinator.CommitAsync(Ct);
                        SeqOf(manifest, name).ShouldBeGreaterThanOrEqualTo(seq);
                        acknowledged.Add((name, seq, manifest.CheckpointId));
                    }
                },
                Ct)));
        }

        const int Commits = Sources * CommitsPerSource;
        TestContext.Current.TestOutputHelper?.WriteLine($"{Commits} commits were served by {store.Saves} durable manifest writes.");
        acknowledged.Count.ShouldBe(Commits);
        store.Saves.ShouldBeLessThan(Commits, $"{store.Saves} durable writes served {Commits} commits");

        // Reload from disk with a new store: every acknowledgement is backed by a durable manifest holding its offset.
        var reloaded = Store(_dir, retain: 0);
        var manifests = new Dictionary<ulong, CheckpointManifest>();
        foreach (var (source, seq, id) in acknowledged)
        {
            if (!manifests.TryGetValue(id, out var manifest))
            {
                manifest = (await reloaded.LoadAsync(id, Ct)).ShouldNotBeNull();
                manifests[id] = manifest;
            }

            SeqOf(manifest, source).ShouldBeGreaterThanOrEqualTo(seq);
        }

        var latest = (await reloaded.LoadLatestAsync(Ct))!;
        for (var s = 0; s < Sources; s++)
        {
            SeqOf(latest, $"source-{s:D2}").ShouldBe((ulong)CommitsPerSource);
        }
    }

    [Fact]
    public async Task CommitAsync_WriteFails_EveryWaiterOfTheBatchSeesTheErrorAndTheNextCommitUsesANewId()
    {
        var store = new InstrumentedStore(Store(_dir));
        var firstWriteEntered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseFirstWrite = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.BeforeSave = async manifest =>
        {
            if (manifest.CheckpointId == 1)
            {
                firstWriteEntered.TrySetResult();
                await releaseFirstWrite.Task;
            }
            else if (manifest.CheckpointId == 2)
            {
                throw new CheckpointException(CheckpointErrorCode.WriteFailed, "injected fsync failure");
            }
        };
        await using var coordinator = await CheckpointCoordinator.StartAsync(store, cancellationToken: Ct);
        coordinator.ReportOffset("a", Seq("a", 1));
        var first = coordinator.CommitAsync(Ct).AsTask();
        await firstWriteEntered.Task.WaitAsync(Ct);
        var failing = Enumerable.Range(0, 5).Select(i =>
        {
            coordinator.ReportOffset($"b{i}", Seq($"b{i}", 1));
            return coordinator.CommitAsync(Ct).AsTask();
        }).ToList();
        releaseFirstWrite.SetResult();

        (await first).CheckpointId.ShouldBe(1UL);
        foreach (var waiter in failing)
        {
            var ex = await Should.ThrowAsync<CheckpointException>(waiter);
            ex.ErrorCode.ShouldBe(CheckpointErrorCode.WriteFailed);
        }

        coordinator.LastCommitted!.CheckpointId.ShouldBe(1UL);
        var retried = await coordinator.CommitAsync(Ct);
        retried.CheckpointId.ShouldBe(3UL);
        retried.SourceOffsets.Count.ShouldBe(6);
    }

    [Fact]
    public async Task CommitAsync_OneWaiterCancelled_OthersStillGetTheWrite()
    {
        var store = new InstrumentedStore(Store(_dir));
        var firstWriteEntered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseFirstWrite = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.BeforeSave = async manifest =>
        {
            if (manifest.CheckpointId == 1)
            {
                firstWriteEntered.TrySetResult();
                await releaseFirstWrite.Task;
            }
        };
        await using var coordinator = await CheckpointCoordinator.StartAsync(store, cancellationToken: Ct);
        var first = coordinator.CommitAsync(Ct).AsTask();
        await firstWriteEntered.Task.WaitAsync(Ct);
        using var cts = new CancellationTokenSource();
        coordinator.ReportOffset("a", Seq("a", 1));
        var cancelled = coordinator.CommitAsync(cts.Token).AsTask();
        var patient = coordinator.CommitAsync(Ct).AsTask();

        await cts.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(cancelled);
        releaseFirstWrite.SetResult();

        await first;
        SeqOf(await patient, "a").ShouldBe(1UL);
        store.Saves.ShouldBe(2);
    }

    [Fact]
    public async Task CommitAsync_NothingChangedSinceTheLastWrite_ReturnsItWithoutWriting()
    {
        var store = new InstrumentedStore(Store(_dir));
        await using var coordinator = await CheckpointCoordinator.StartAsync(store, cancellationToken: Ct);
        coordinator.ReportOffset("a", Seq("a", 1));
        var written = await coordinator.CommitAsync(Ct);

        coordinator.ReportOffset("a", Seq("a", 1)).ShouldBeFalse();
        var again = await coordinator.CommitAsync(Ct);

        again.ShouldBeSameAs(written);
        store.Saves.ShouldBe(1);
    }

    [Fact]
    public async Task ReportOffset_BehindTheCurrentOffset_IsRefusedAndTheOffsetKept()
    {
        await using var coordinator = await CheckpointCoordinator.StartAsync(Store(_dir), cancellationToken: Ct);
        coordinator.ReportOffset("a", Seq("a", 10));
        await coordinator.CommitAsync(Ct);

        var ex = Should.Throw<CheckpointException>(() => coordinator.ReportOffset("a", Seq("a", 9)));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        ex.Message.ShouldContain("a#9");
        ex.Message.ShouldContain("a#10");
        coordinator.GetSourcePosition("a")!.Offset.ShouldBe(Seq("a", 10));
    }

    [Fact]
    public async Task ReportOffset_UncommittedLaterOffset_IsAlsoTheBaseline()
    {
        await using var coordinator = await CheckpointCoordinator.StartAsync(Store(_dir), cancellationToken: Ct);
        coordinator.ReportOffset("a", Seq("a", 10));

        Should.Throw<CheckpointException>(() => coordinator.ReportOffset("a", Seq("a", 5))).ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        coordinator.ReportOffset("a", Seq("a", 11)).ShouldBeTrue();
    }

    [Theory]
    [InlineData("other-stream", TestSeqOffset.Type)]
    [InlineData("a", "test_seq_snapshot")]
    public async Task ReportOffset_DivergedOrOtherSourceType_IsRefusedAsDiverged(string stream, string sourceType)
    {
        await using var coordinator = await CheckpointCoordinator.StartAsync(Store(_dir), cancellationToken: Ct);
        coordinator.ReportOffset("a", Seq("a", 10));

        var ex = Should.Throw<CheckpointException>(() => coordinator.ReportOffset("a", new TestSeqOffset(stream, 11, sourceType)));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetDiverged);
    }

    [Fact]
    public async Task ReportOffset_WithEventCounts_AppliesTheProgressGuard()
    {
        await using var coordinator = await CheckpointCoordinator.StartAsync(Store(_dir), cancellationToken: Ct);
        var a = GenericOffset.Parse("kafka", """{"p":1}""");
        var b = GenericOffset.Parse("kafka", """{"p":2}""");
        coordinator.ReportOffset("k", a, 10).ShouldBeTrue();

        coordinator.ReportOffset("k", a, 10).ShouldBeFalse();
        Should.Throw<CheckpointException>(() => coordinator.ReportOffset("k", b, 10)).ErrorCode.ShouldBe(CheckpointErrorCode.ConflictingOffset);
        Should.Throw<CheckpointException>(() => coordinator.ReportOffset("k", b, 9)).ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        coordinator.ReportOffset("k", b, 11).ShouldBeTrue();

        var manifest = await coordinator.CommitAsync(Ct);
        manifest.SourceOffsets["k"].ShouldBe(new SourcePosition(b, 11));
    }

    [Fact]
    public async Task ReportOffset_InvalidSourceName_ThrowsArgumentException()
    {
        await using var coordinator = await CheckpointCoordinator.StartAsync(Store(_dir), cancellationToken: Ct);

        Should.Throw<ArgumentException>(() => coordinator.ReportOffset("bad\nname", Seq("a", 1))).Message.ShouldContain("bad");
        Should.Throw<ArgumentException>(() => coordinator.ReportOffset(string.Empty, Seq("a", 1)));
    }

    [Fact]
    public async Task RewindSource_MovesBackAndIsCommitted()
    {
        await using var coordinator = await CheckpointCoordinator.StartAsync(Store(_dir), cancellationToken: Ct);
        coordinator.ReportOffset("a", Seq("a", 10), 10);
        await coordinator.CommitAsync(Ct);

        coordinator.RewindSource("a", Seq("a", 3), 3, "replay after a bad deploy");
        var manifest = await coordinator.CommitAsync(Ct);

        manifest.SourceOffsets["a"].ShouldBe(new SourcePosition(Seq("a", 3), 3));
        Should.Throw<ArgumentException>(() => coordinator.RewindSource("a", Seq("a", 1), 1, " "));
    }

    [Fact]
    public async Task StartAsync_NewestCheckpointCorrupt_RestoresTheNewestValidAndTakesHigherIds()
    {
        await using (var first = await CheckpointCoordinator.StartAsync(Store(_dir), cancellationToken: Ct))
        {
            first.ReportOffset("a", Seq("a", 5));
            await first.CommitAsync(Ct);
            first.ReportOffset("a", Seq("a", 7));
            await first.CommitAsync(Ct);
        }

        WritePrivate(ManifestPath(_dir, 2), "{ torn");

        await using var second = await CheckpointCoordinator.StartAsync(Store(_dir), cancellationToken: Ct);

        second.RestoredFrom!.CheckpointId.ShouldBe(1UL);
        second.SkippedOnStart.ShouldHaveSingleItem().CheckpointId.ShouldBe(2UL);
        second.GetSourcePosition("a")!.Offset.ShouldBe(Seq("a", 5));
        Should.Throw<CheckpointException>(() => second.ReportOffset("a", Seq("a", 4))).ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        second.ReportOffset("a", Seq("a", 6));
        var next = await second.CommitAsync(Ct);
        next.CheckpointId.ShouldBe(3UL);
        next.Epoch.ShouldBe(3UL);
    }

    [Fact]
    public async Task StartAsync_RestoredAndUnchanged_CommitReturnsTheRestoredManifestWithoutWriting()
    {
        await using (var first = await CheckpointCoordinator.StartAsync(Store(_dir), cancellationToken: Ct))
        {
            first.ReportOffset("a", Seq("a", 5));
            await first.CommitAsync(Ct);
        }

        var store = new InstrumentedStore(Store(_dir));
        await using var second = await CheckpointCoordinator.StartAsync(store, cancellationToken: Ct);

        (await second.CommitAsync(Ct)).CheckpointId.ShouldBe(1UL);
        store.Saves.ShouldBe(0);
    }

    [Fact]
    public async Task StartAsync_EveryCheckpointCorrupt_ThrowsInsteadOfStartingFresh()
    {
        await using (var first = await CheckpointCoordinator.StartAsync(Store(_dir), cancellationToken: Ct))
        {
            first.ReportOffset("a", Seq("a", 5));
            await first.CommitAsync(Ct);
        }

        WritePrivate(ManifestPath(_dir, 1), "garbage");

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await CheckpointCoordinator.StartAsync(Store(_dir), cancellationToken: Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
    }

    [Fact]
    public async Task SetOperatorState_LargeStateGoesToTheSidecarAndBothAreRestored()
    {
        var options = new CheckpointCoordinatorOptions { InlineStateLimitBytes = 8 };
        var big = Enumerable.Range(0, 100).Select(i => (byte)i).ToArray();
        await using (var first = await CheckpointCoordinator.StartAsync(Store(_dir), options, cancellationToken: Ct))
        {
            first.SetOperatorState("small", [1, 2, 3, 4]);
            first.SetOperatorState("big", big);
            var manifest = await first.CommitAsync(Ct);

            manifest.OperatorStates["small"].IsInSidecar.ShouldBeFalse();
            manifest.OperatorStates["big"].IsInSidecar.ShouldBeTrue();
            manifest.StateSidecar!.SizeBytes.ShouldBe(100);
        }

        await using var second = await CheckpointCoordinator.StartAsync(Store(_dir), options, cancellationToken: Ct);
        second.TryGetOperatorState("small", out var small).ShouldBeTrue();
        small.ToArray().ShouldBe(new byte[] { 1, 2, 3, 4 });
        second.TryGetOperatorState("big", out var restored).ShouldBeTrue();
        restored.ToArray().ShouldBe(big);
        second.TryGetOperatorState("none", out _).ShouldBeFalse();
    }

    [Fact]
    public async Task ReportSinkEpoch_Lower_IsRefusedAndWatermarkOnlyAdvances()
    {
        await using var coordinator = await CheckpointCoordinator.StartAsync(Store(_dir), cancellationToken: Ct);

        coordinator.ReportSinkEpoch("pg", 5).ShouldBeTrue();
        coordinator.ReportSinkEpoch("pg", 5).ShouldBeFalse();
        Should.Throw<CheckpointException>(() => coordinator.ReportSinkEpoch("pg", 4)).ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        coordinator.ReportWatermark(10).ShouldBeTrue();
        coordinator.ReportWatermark(5).ShouldBeFalse();
        coordinator.ReportWatermark(11).ShouldBeTrue();

        var manifest = await coordinator.CommitAsync(Ct);
        manifest.SinkEpochs["pg"].ShouldBe(5UL);
        manifest.Watermark.ShouldBe(11);
    }

    [Fact]
    public async Task ReportTableOffset_TypedPositionBehind_IsRefused()
    {
        await using var coordinator = await CheckpointCoordinator.StartAsync(Store(_dir), cancellationToken: Ct);
        coordinator.ReportTableOffset("t", TableOffset.FromOffset(Seq("t", 5)));

        Should.Throw<CheckpointException>(() => coordinator.ReportTableOffset("t", TableOffset.FromOffset(Seq("t", 4))))
            .ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        coordinator.ReportTableOffset("t", TableOffset.FromText("done"));
        (await coordinator.CommitAsync(Ct)).TableOffsets["t"].Text.ShouldBe("done");
    }

    [Fact]
    public async Task CommitAsync_UsesTheInjectedClock()
    {
        var time = new FakeTimeProvider(T0);
        await using var coordinator = await CheckpointCoordinator.StartAsync(Store(_dir), timeProvider: time, cancellationToken: Ct);
        coordinator.ReportOffset("a", Seq("a", 1));
        (await coordinator.CommitAsync(Ct)).CreatedAt.ShouldBe(T0);

        time.Advance(TimeSpan.FromHours(1));
        coordinator.ReportOffset("a", Seq("a", 2));

        (await coordinator.CommitAsync(Ct)).CreatedAt.ShouldBe(T0.AddHours(1));
    }

    [Fact]
    public async Task DisposeAsync_WaitsForTheWriteAndThenRefusesNewWork()
    {
        var store = new InstrumentedStore(Store(_dir));
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.BeforeSave = _ => release.Task;
        var coordinator = await CheckpointCoordinator.StartAsync(store, cancellationToken: Ct);
        coordinator.ReportOffset("a", Seq("a", 1));
        var pending = coordinator.CommitAsync(Ct).AsTask();

        var disposing = coordinator.DisposeAsync().AsTask();
        disposing.IsCompleted.ShouldBeFalse();
        release.SetResult();
        await disposing;

        (await pending).CheckpointId.ShouldBe(1UL);
        await Should.ThrowAsync<ObjectDisposedException>(async () => await coordinator.CommitAsync(Ct));
        Should.Throw<ObjectDisposedException>(() => coordinator.ReportOffset("a", Seq("a", 2)));
    }

    [Fact]
    public async Task CommitAsync_RecordsRequestsAndWritesMetrics()
    {
        var writes = new ConcurrentBag<long>();
        using var listener = ListenTo("cdc.checkpoint.manifest.writes", writes);
        await using var coordinator = await CheckpointCoordinator.StartAsync(Store(_dir), cancellationToken: Ct);
        coordinator.ReportOffset("a", Seq("a", 1));

        await coordinator.CommitAsync(Ct);

        writes.ShouldNotBeEmpty();
    }

    [Fact]
    public void Options_OutOfRange_ThrowArgumentOutOfRange()
    {
        Should.Throw<ArgumentOutOfRangeException>(() => new CheckpointCoordinatorOptions { MaxCommitDelay = TimeSpan.FromSeconds(2) });
        Should.Throw<ArgumentOutOfRangeException>(() => new CheckpointCoordinatorOptions { MaxCommitDelay = TimeSpan.FromTicks(-1) });
        Should.Throw<ArgumentOutOfRangeException>(() => new CheckpointCoordinatorOptions { InlineStateLimitBytes = -1 });
        Should.Throw<ArgumentOutOfRangeException>(() => new FileManifestStoreOptions { RetainCount = -1 });
        Should.Throw<ArgumentOutOfRangeException>(() => new FileManifestStoreOptions { MaxManifestBytes = 10 });
        new CheckpointCoordinatorOptions().MaxCommitDelay.ShouldBe(TimeSpan.FromMilliseconds(1));
        new FileManifestStoreOptions().RetainCount.ShouldBe(10);
    }

    private static MeterListener ListenTo(string instrument, ConcurrentBag<long> values)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (i, l) =>
            {
                if (i.Meter.Name == CheckpointMetrics.MeterName && i.Name == instrument)
                {
                    l.EnableMeasurementEvents(i);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => values.Add(value));
        listener.Start();
        return listener;
    }

    [Fact]
    public async Task CommitAsync_LastIdIsUlongMaxValue_LimitReachedNeverWrapsToAnUsedId()
    {
        // Before: Math.Max(id, epoch) + 1 wrapped to 0, and the next checkpoint got id 0 / epoch 0.
        var store = Store(_dir);
        await store.SaveAsync(
            new CheckpointManifest
            {
                CheckpointId = ulong.MaxValue,
                Epoch = ulong.MaxValue,
                CreatedAt = DateTimeOffset.UnixEpoch,
                SourceOffsets = ImmutableSortedDictionary<string, SourcePosition>.Empty,
            },
            cancellationToken: Ct);
        await using var coordinator = await CheckpointCoordinator.StartAsync(store, cancellationToken: Ct);
        coordinator.ReportOffset("orders", Seq("orders", 1)).ShouldBeTrue();

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await coordinator.CommitAsync(Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.LimitReached);
        (await store.ListAsync(Ct)).Count.ShouldBe(1);
    }
}
