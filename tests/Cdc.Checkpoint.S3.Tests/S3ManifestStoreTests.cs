using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Text;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.S3;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.S3.Tests;

/// <summary>The manifest-store contract and the laminar seed's <c>test_obj_*</c> behaviours, against a real Ceph RGW.</summary>
public sealed class S3ManifestStoreTests(RgwFixture rgw)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private S3ManifestStore NewStore(out string prefix, int retain = 10)
    {
        prefix = RgwFixture.NewPrefix();
        return new S3ManifestStore(rgw.Options(prefix, retain));
    }

    [Fact]
    public async Task SaveAsync_ThenLoadLatest_ReturnsTheManifest()
    {
        using var store = NewStore(out _);
        await store.SaveAsync(RgwFixture.Manifest(1, 10), cancellationToken: Ct);
        await store.SaveAsync(RgwFixture.Manifest(2, 20), cancellationToken: Ct);

        var latest = (await store.LoadLatestAsync(Ct)).ShouldNotBeNull();
        latest.CheckpointId.ShouldBe(2UL);
        latest.Epoch.ShouldBe(20UL);
        latest.SourceOffsets["kafka-src"].CommittedEventCount.ShouldBe(2UL);
    }

    [Fact]
    public async Task LoadLatestAsync_EmptyPrefix_ReturnsNullAndRecoveryIsAFreshStart()
    {
        using var store = NewStore(out _);
        (await store.LoadLatestAsync(Ct)).ShouldBeNull();
        (await store.LoadAsync(1, Ct)).ShouldBeNull();
        (await store.ListAsync(Ct)).ShouldBeEmpty();
        (await store.RecoverLatestValidAsync(Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task LoadAsync_ById_ReturnsThatCheckpoint()
    {
        using var store = NewStore(out _);
        for (ulong id = 1; id <= 3; id++)
        {
            await store.SaveAsync(RgwFixture.Manifest(id, id * 10), cancellationToken: Ct);
        }

        (await store.LoadAsync(2, Ct)).ShouldNotBeNull().Epoch.ShouldBe(20UL);
        (await store.LoadAsync(99, Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task ListAsync_ReturnsAscendingIds_AndReportsUnreadableOnes()
    {
        using var store = NewStore(out _);
        foreach (var id in new ulong[] { 3, 1, 2 })
        {
            await store.SaveAsync(RgwFixture.Manifest(id, id), cancellationToken: Ct);
        }

        await rgw.PutRawAsync(store.GetManifestKey(4), "{ not json"u8.ToArray());

        var list = await store.ListAsync(Ct);
        list.Select(e => e.CheckpointId).ShouldBe([1UL, 2UL, 3UL, 4UL]);
        list.Take(3).ShouldAllBe(e => e.IsReadable);
        list[3].IsReadable.ShouldBeFalse();
        list[3].Problem.ShouldNotBeNull().ShouldContain(store.GetManifestKey(4));
    }

    [Fact]
    public async Task PruneAsync_KeepsTheNewest()
    {
        using var store = NewStore(out _, retain: 0);
        for (ulong id = 1; id <= 5; id++)
        {
            await store.SaveAsync(RgwFixture.Manifest(id, id), "state"u8.ToArray(), Ct);
        }

        (await store.PruneAsync(2, Ct)).ShouldBe(3);
        (await store.ListAsync(Ct)).Select(e => e.CheckpointId).ShouldBe([4UL, 5UL]);
        (await rgw.ExistsAsync(store.GetSidecarKey(1))).ShouldBeFalse();
        (await rgw.ExistsAsync(store.GetSidecarKey(4))).ShouldBeTrue();
    }

    [Fact]
    public async Task SaveAsync_WithRetainCount_PrunesAutomatically()
    {
        using var store = NewStore(out _, retain: 3);
        for (ulong id = 1; id <= 6; id++)
        {
            await store.SaveAsync(RgwFixture.Manifest(id, id), cancellationToken: Ct);
        }

        (await store.ListAsync(Ct)).Select(e => e.CheckpointId).ShouldBe([4UL, 5UL, 6UL]);
    }

    [Fact]
    public async Task SaveAsync_WithSidecar_LoadsItBackAndResolvesOperatorStates()
    {
        using var store = NewStore(out _);
        var manifest = RgwFixture.Manifest(1, 1) is var m
            ? new CheckpointManifest
            {
                CheckpointId = m.CheckpointId,
                Epoch = m.Epoch,
                CreatedAt = m.CreatedAt,
                OperatorStates = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [
                    KeyValuePair.Create("join", OperatorState.InSidecar(0, 10)),
                    KeyValuePair.Create("small", OperatorState.FromInline("inline"u8))]),
            }
            : throw new InvalidOperationException();
        var saved = await store.SaveAsync(manifest, "state-blob"u8.ToArray(), Ct);
        saved.StateSidecar.ShouldNotBeNull().SizeBytes.ShouldBe(10);

        (await store.LoadSidecarAsync(1, Ct)).ShouldBe("state-blob"u8.ToArray());
        var states = await store.LoadOperatorStatesAsync((await store.LoadAsync(1, Ct))!, Ct);
        Encoding.ASCII.GetString(states["join"].Span).ShouldBe("state-blob");
        Encoding.ASCII.GetString(states["small"].Span).ShouldBe("inline");
    }

    [Fact]
    public async Task LoadSidecarAsync_NoSidecarOrNoCheckpoint_ReturnsNull()
    {
        using var store = NewStore(out _);
        await store.SaveAsync(RgwFixture.Manifest(1, 1), cancellationToken: Ct);
        (await store.LoadSidecarAsync(1, Ct)).ShouldBeNull();
        (await store.LoadSidecarAsync(2, Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task Layout_UsesPrefixManifestsStateAndLatestJson()
    {
        using var store = NewStore(out var prefix);
        await store.SaveAsync(RgwFixture.Manifest(5, 50), "s"u8.ToArray(), Ct);

        store.GetManifestKey(5).ShouldBe(prefix + "manifests/manifest-000005.json");
        store.GetSidecarKey(5).ShouldBe(prefix + "checkpoints/state-000005.bin");
        store.LatestPointerKey.ShouldBe(prefix + "manifests/latest.json");
        (await rgw.ExistsAsync(store.GetManifestKey(5))).ShouldBeTrue();
        (await rgw.ExistsAsync(store.GetSidecarKey(5))).ShouldBeTrue();
        (await rgw.ReadTextAsync(store.LatestPointerKey)).ShouldBe("""{"checkpoint_id":5}""");
        (await rgw.ReadTextAsync(store.GetManifestKey(5))).ShouldContain("\"checkpoint_id\": 5");
    }

    [Fact]
    public async Task Stores_WithDifferentPrefixes_DoNotSeeEachOther()
    {
        using var a = NewStore(out _);
        using var b = NewStore(out _);
        await a.SaveAsync(RgwFixture.Manifest(1, 42), cancellationToken: Ct);
        (await a.LoadLatestAsync(Ct)).ShouldNotBeNull().Epoch.ShouldBe(42UL);
        (await b.LoadLatestAsync(Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task SaveAsync_SameIdTwice_IsATypedConflictAndNothingIsOverwritten()
    {
        using var store = NewStore(out _);
        await store.SaveAsync(RgwFixture.Manifest(1, 10), cancellationToken: Ct);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(RgwFixture.Manifest(1, 99), cancellationToken: Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.ConflictingOffset);
        ex.Message.ShouldContain(store.GetManifestKey(1));
        (await store.LoadAsync(1, Ct)).ShouldNotBeNull().Epoch.ShouldBe(10UL);
    }

    [Fact]
    public async Task UpdateSinkStatusesAsync_RewritesTheManifest()
    {
        using var store = NewStore(out _);
        await store.SaveAsync(
            new CheckpointManifest
            {
                CheckpointId = 1,
                Epoch = 10,
                CreatedAt = DateTimeOffset.UnixEpoch,
                SinkCommitStatuses = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("pg-sink", SinkCommitStatus.Pending), KeyValuePair.Create("other", SinkCommitStatus.Pending)]),
            },
            cancellationToken: Ct);

        await store.UpdateSinkStatusesAsync(1, new Dictionary<string, SinkCommitStatus> { ["pg-sink"] = SinkCommitStatus.Committed }, Ct);

        var loaded = (await store.LoadAsync(1, Ct)).ShouldNotBeNull();
        loaded.SinkCommitStatuses["pg-sink"].State.ShouldBe(SinkCommitState.Committed);
        loaded.SinkCommitStatuses["other"].State.ShouldBe(SinkCommitState.Pending);
        var missing = await Should.ThrowAsync<CheckpointException>(async () => await store.UpdateSinkStatusesAsync(7, new Dictionary<string, SinkCommitStatus>(), Ct));
        missing.ErrorCode.ShouldBe(CheckpointErrorCode.DirectoryNotFound);
    }

    [Fact]
    public async Task SaveAsync_OlderIdAfterNewer_DoesNotMoveTheLatestPointerBack()
    {
        using var store = NewStore(out _);
        await store.SaveAsync(RgwFixture.Manifest(10, 10), cancellationToken: Ct);
        await store.SaveAsync(RgwFixture.Manifest(5, 5), cancellationToken: Ct); // a delayed ex-leader

        (await store.LoadLatestAsync(Ct)).ShouldNotBeNull().CheckpointId.ShouldBe(10UL);
        (await rgw.ReadTextAsync(store.LatestPointerKey)).ShouldBe("""{"checkpoint_id":10}""");
    }

    [Fact]
    public async Task SaveAsync_PointerLostAndOlderIdSaved_PointsAtTheNewestManifest()
    {
        using var store = NewStore(out _);
        await store.SaveAsync(RgwFixture.Manifest(10, 10), cancellationToken: Ct);
        await rgw.Client.DeleteObjectAsync(rgw.Bucket, store.LatestPointerKey, Ct);
        await store.SaveAsync(RgwFixture.Manifest(5, 5), cancellationToken: Ct);

        (await rgw.ReadTextAsync(store.LatestPointerKey)).ShouldBe("""{"checkpoint_id":10}""");
    }

    [Fact]
    public async Task LoadLatestAsync_UnreadablePointer_FallsBackToTheNewestManifest()
    {
        using var store = NewStore(out _);
        await store.SaveAsync(RgwFixture.Manifest(1, 1), cancellationToken: Ct);
        await store.SaveAsync(RgwFixture.Manifest(2, 2), cancellationToken: Ct);
        await rgw.PutRawAsync(store.LatestPointerKey, "not json"u8.ToArray());

        (await store.LoadLatestAsync(Ct)).ShouldNotBeNull().CheckpointId.ShouldBe(2UL);
        await store.SaveAsync(RgwFixture.Manifest(3, 3), cancellationToken: Ct);
        (await rgw.ReadTextAsync(store.LatestPointerKey)).ShouldBe("""{"checkpoint_id":3}""");
    }

    [Fact]
    public async Task ValidateAsync_ValidMissingAndDamagedSidecar()
    {
        using var store = NewStore(out _);
        await store.SaveAsync(RgwFixture.Manifest(1, 1), "good-state"u8.ToArray(), Ct);
        await store.SaveAsync(RgwFixture.Manifest(2, 2), "good-state"u8.ToArray(), Ct);
        await rgw.PutRawAsync(store.GetSidecarKey(2), "evil-state"u8.ToArray()); // same size, other bytes

        (await store.ValidateAsync(1, Ct)).IsValid.ShouldBeTrue();
        var missing = await store.ValidateAsync(3, Ct);
        missing.IsValid.ShouldBeFalse();
        missing.FatalReason.ShouldContain("manifest not found");
        var damaged = await store.ValidateAsync(2, Ct);
        damaged.IsValid.ShouldBeFalse();
        damaged.FatalReason.ShouldContain("checksum mismatch");
    }

    [Fact]
    public async Task RecoverLatestValidAsync_CorruptLatestManifest_IsSkippedAndReported()
    {
        using var store = NewStore(out _);
        await store.SaveAsync(RgwFixture.Manifest(1, 1), cancellationToken: Ct);
        await store.SaveAsync(RgwFixture.Manifest(2, 2), cancellationToken: Ct);
        await rgw.PutRawAsync(store.GetManifestKey(2), "{\"checkpoint_id\": 2, truncated"u8.ToArray());

        var load = await Should.ThrowAsync<CheckpointException>(async () => await store.LoadLatestAsync(Ct));
        load.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);

        var recovery = (await store.RecoverLatestValidAsync(Ct)).ShouldNotBeNull();
        recovery.Manifest.CheckpointId.ShouldBe(1UL);
        recovery.Skipped.Select(s => s.CheckpointId).ShouldBe([2UL]);
        recovery.Skipped[0].Reason.ShouldContain("corrupt manifest");
        recovery.HighestCheckpointId.ShouldBe(2UL);
    }

    [Fact]
    public async Task RecoverLatestValidAsync_NothingValid_ThrowsInsteadOfAFreshStart()
    {
        using var store = NewStore(out _);
        await store.SaveAsync(RgwFixture.Manifest(1, 1), cancellationToken: Ct);
        await rgw.PutRawAsync(store.GetManifestKey(1), "garbage"u8.ToArray());

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.RecoverLatestValidAsync(Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain("not a fresh start");
    }

    [Fact]
    public async Task WriterKilledBetweenSidecarAndManifest_LeavesAnOrphanThatRecoveryIgnoresAndCleanupRemoves()
    {
        using var store = NewStore(out _);
        await store.SaveAsync(RgwFixture.Manifest(1, 1), cancellationToken: Ct);
        // What a writer killed after its sidecar PUT leaves: a sidecar for id 2 and no manifest. Then a newer save.
        await rgw.PutRawAsync(store.GetSidecarKey(2), "half-saved"u8.ToArray());

        var recovery = (await store.RecoverLatestValidAsync(Ct)).ShouldNotBeNull();
        recovery.Manifest.CheckpointId.ShouldBe(1UL);
        recovery.Skipped.ShouldBeEmpty();
        recovery.HighestCheckpointId.ShouldBe(2UL); // the next checkpoint must not reuse id 2

        // Id 2 is taken by the orphan: saving it with another sidecar is a conflict, never a replacement.
        var clash = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(RgwFixture.Manifest(2, 2), "other-state"u8.ToArray(), Ct));
        clash.ErrorCode.ShouldBe(CheckpointErrorCode.ConflictingOffset);

        await store.SaveAsync(RgwFixture.Manifest(3, 3), cancellationToken: Ct);
        var cleanup = await store.CleanupOrphansAsync(Ct);
        cleanup.RemovedCheckpointDirectories.ShouldBe([2UL]);
        (await rgw.ExistsAsync(store.GetSidecarKey(2))).ShouldBeFalse();
        (await store.ListAsync(Ct)).Select(e => e.CheckpointId).ShouldBe([1UL, 3UL]);
    }

    [Fact]
    public async Task SaveAsync_SixteenConcurrentCreatorsOfOneId_ExactlyOneWins()
    {
        var prefix = RgwFixture.NewPrefix();
        var stores = Enumerable.Range(0, 16).Select(_ => new S3ManifestStore(rgw.Options(prefix))).ToList();
        try
        {
            using var start = new Barrier(16);
            var outcomes = await Task.WhenAll(stores.Select((s, i) => Task.Run(
                async () =>
                {
                    start.SignalAndWait(Ct);
                    try
                    {
                        await s.SaveAsync(RgwFixture.Manifest(7, (ulong)i + 1), cancellationToken: Ct);
                        return (ulong?)((ulong)i + 1);
                    }
                    catch (CheckpointException ex) when (ex.ErrorCode == CheckpointErrorCode.ConflictingOffset)
                    {
                        return null;
                    }
                },
                Ct)));

            var winners = outcomes.Where(o => o is not null).ToList();
            winners.Count.ShouldBe(1);
            (await stores[0].LoadAsync(7, Ct)).ShouldNotBeNull().Epoch.ShouldBe(winners[0]!.Value);
        }
        finally
        {
            stores.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task SaveAsync_SixteenRacingPointerMoves_PointerNeverGoesBackwards()
    {
        var prefix = RgwFixture.NewPrefix();
        var stores = Enumerable.Range(0, 16).Select(_ => new S3ManifestStore(rgw.Options(prefix, retain: 0))).ToList();
        using var observer = new S3ManifestStore(rgw.Options(prefix, retain: 0));
        try
        {
            using var done = new CancellationTokenSource();
            var seen = new ConcurrentQueue<ulong>();
            var watch = Task.Run(
                async () =>
                {
                    while (!done.IsCancellationRequested)
                    {
                        if (await rgw.ExistsAsync(observer.LatestPointerKey))
                        {
                            var text = await rgw.ReadTextAsync(observer.LatestPointerKey);
                            seen.Enqueue(ulong.Parse(text.Split(':')[1].TrimEnd('}'), System.Globalization.CultureInfo.InvariantCulture));
                        }
                    }
                },
                Ct);

            using var start = new Barrier(16);
            await Task.WhenAll(stores.Select((s, i) => Task.Run(
                async () =>
                {
                    start.SignalAndWait(Ct);
                    await s.SaveAsync(RgwFixture.Manifest((ulong)i + 1, 1), cancellationToken: Ct);
                },
                Ct)));
            await done.CancelAsync();
            await watch;

            (await rgw.ReadTextAsync(observer.LatestPointerKey)).ShouldBe("""{"checkpoint_id":16}""");
            var observed = seen.ToArray();
            for (var i = 1; i < observed.Length; i++)
            {
                observed[i].ShouldBeGreaterThanOrEqualTo(observed[i - 1], $"the pointer moved back from {observed[i - 1]} to {observed[i]}");
            }
        }
        finally
        {
            stores.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task AnyCall_WrongCredentials_IsATypedErrorNamingBucketAndEndpoint()
    {
        const string WrongSecret = "definitely-not-the-secret";
        using var store = new S3ManifestStore(rgw.Options(RgwFixture.NewPrefix(), secret: WrongSecret));

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(RgwFixture.Manifest(1, 1), cancellationToken: Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.PermissionDenied);
        ex.Message.ShouldContain(rgw.Bucket);
        ex.Message.ShouldContain(rgw.Server.Endpoint.ToString());
        ex.Message.ShouldNotContain(WrongSecret);

        var read = await Should.ThrowAsync<CheckpointException>(async () => await store.LoadLatestAsync(Ct));
        read.ErrorCode.ShouldBe(CheckpointErrorCode.PermissionDenied);
    }

    [Fact]
    public async Task AnyCall_MissingBucket_IsMisconfigured()
    {
        using var store = new S3ManifestStore(new S3ManifestStoreOptions
        {
            BucketName = "no-such-bucket-" + Guid.NewGuid().ToString("N")[..8],
            ServiceUrl = rgw.Server.Endpoint,
            ForcePathStyle = true,
            AccessKeyId = rgw.Server.AccessKey,
            SecretAccessKey = rgw.Server.SecretKey,
        });

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.ListAsync(Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
        ex.Message.ShouldContain("does not exist");
    }

    [Fact]
    public void Constructor_InvalidOptions_Throws()
    {
        Should.Throw<ArgumentException>(() => new S3ManifestStore(new S3ManifestStoreOptions()));
        Should.Throw<ArgumentException>(() => new S3ManifestStore(new S3ManifestStoreOptions { BucketName = "b", AccessKeyId = "only-the-key" }));
        Should.Throw<ArgumentException>(() => new S3ManifestStore(new S3ManifestStoreOptions { BucketName = "b", Prefix = "/abs" }));
        Should.Throw<ArgumentException>(() => new S3ManifestStore(new S3ManifestStoreOptions { BucketName = "b", ServiceUrl = new Uri("ftp://x/") }));
        Should.Throw<ArgumentOutOfRangeException>(() => new S3ManifestStore(new S3ManifestStoreOptions { BucketName = "b", RetainCount = -1 }));
    }
}
