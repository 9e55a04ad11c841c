using System.Collections.Immutable;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Offsets;
using Shouldly;
using Xunit;
using static Cdc.Checkpoint.Tests.Manifests.Manifests;

namespace Cdc.Checkpoint.Tests.Manifests;

public sealed class FileManifestStoreTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SaveAsync_ThenLoadLatest_ReturnsTheManifest()
    {
        var store = Store(_dir, retain: 3);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);

        var loaded = await store.LoadLatestAsync(Ct);

        loaded.ShouldNotBeNull();
        loaded.CheckpointId.ShouldBe(1UL);
        loaded.Epoch.ShouldBe(1UL);
        loaded.CreatedAt.ShouldBe(T0.AddSeconds(1));
        loaded.FormatVersion.ShouldBe(CheckpointManifest.CurrentFormatVersion);
    }

    [Fact]
    public async Task LoadLatestAsync_EmptyStore_ReturnsNull()
    {
        (await Store(_dir).LoadLatestAsync(Ct)).ShouldBeNull();
        Directory.Exists(_dir.Combine("checkpoints")).ShouldBeFalse("reads must not create anything");
    }

    [Fact]
    public async Task LoadLatestAsync_AfterFiveSaves_ReturnsTheMostRecent()
    {
        var store = Store(_dir);
        for (ulong i = 1; i <= 5; i++)
        {
            await store.SaveAsync(Make(i, i), cancellationToken: Ct);
        }

        var latest = await store.LoadLatestAsync(Ct);
        latest!.CheckpointId.ShouldBe(5UL);
        latest.Epoch.ShouldBe(5UL);
        (await File.ReadAllTextAsync(store.LatestPointerPath, Ct)).ShouldBe("5\n");
    }

    [Fact]
    public async Task LoadAsync_ById_ReturnsEachAndNullForUnknown()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 10), cancellationToken: Ct);
        await store.SaveAsync(Make(2, 20), cancellationToken: Ct);

        (await store.LoadAsync(1, Ct))!.Epoch.ShouldBe(10UL);
        (await store.LoadAsync(2, Ct))!.Epoch.ShouldBe(20UL);
        (await store.LoadAsync(99, Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task LoadAsync_IdZero_ThrowsArgumentOutOfRange()
    {
        await Should.ThrowAsync<ArgumentOutOfRangeException>(async () => await Store(_dir).LoadAsync(0, Ct));
    }

    [Fact]
    public async Task ListAsync_SavedOutOfOrder_ListsAscendingWithEpochs()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 10), cancellationToken: Ct);
        await store.SaveAsync(Make(3, 30), cancellationToken: Ct);
        await store.SaveAsync(Make(2, 20), cancellationToken: Ct);

        var list = await store.ListAsync(Ct);

        list.Select(e => (e.CheckpointId, e.Epoch)).ShouldBe([(1UL, (ulong?)10UL), (2UL, 20UL), (3UL, 30UL)]);
        list.ShouldAllBe(e => e.IsReadable);
    }

    [Fact]
    public async Task ListAsync_CorruptManifest_IsListedWithItsProblem()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);
        await store.SaveAsync(Make(2, 2), cancellationToken: Ct);
        WritePrivate(ManifestPath(_dir, 2), "{ not json");

        var list = await store.ListAsync(Ct);

        list.Select(e => e.CheckpointId).ShouldBe([1UL, 2UL]);
        list[0].IsReadable.ShouldBeTrue();
        list[1].IsReadable.ShouldBeFalse();
        list[1].Epoch.ShouldBeNull();
        list[1].Problem.ShouldNotBeNull().ShouldContain(ManifestPath(_dir, 2));
    }

    [Fact]
    public async Task ListAsync_IgnoresNonCheckpointEntriesAndAliasNames()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(7, 7), cancellationToken: Ct);
        var checkpoints = _dir.Combine("checkpoints");
        WritePrivate(Path.Combine(checkpoints, "checkpoint_abc", "manifest.json"), "{}");
        WritePrivate(Path.Combine(checkpoints, "checkpoint_0000007", "manifest.json"), "{}");
        WritePrivate(Path.Combine(checkpoints, "checkpoint_000000", "manifest.json"), "{}");
        WritePrivate(Path.Combine(checkpoints, "checkpoint_000008"), "a file, not a directory");

        var list = await store.ListAsync(Ct);

        list.Select(e => e.CheckpointId).ShouldBe([7UL]);
    }

    [Fact]
    public async Task PruneAsync_KeepTwoOfFive_RemovesTheThreeOldest()
    {
        var store = Store(_dir, retain: 0);
        for (ulong i = 1; i <= 5; i++)
        {
            await store.SaveAsync(Make(i, i), cancellationToken: Ct);
        }

        var removed = await store.PruneAsync(2, Ct);

        removed.ShouldBe(3);
        (await store.ListAsync(Ct)).Select(e => e.CheckpointId).ShouldBe([4UL, 5UL]);
        Directory.Exists(Path.GetDirectoryName(ManifestPath(_dir, 1))).ShouldBeFalse();
    }

    [Fact]
    public async Task PruneAsync_UnderTheLimit_RemovesNothing()
    {
        var store = Store(_dir, retain: 0);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);

        (await store.PruneAsync(5, Ct)).ShouldBe(0);
        (await store.ListAsync(Ct)).Count.ShouldBe(1);
    }

    [Fact]
    public async Task PruneAsync_KeepZero_ThrowsArgumentOutOfRange()
    {
        await Should.ThrowAsync<ArgumentOutOfRangeException>(async () => await Store(_dir).PruneAsync(0, Ct));
    }

    [Fact]
    public async Task SaveAsync_RetainTwo_AutoPrunesToTheTwoNewest()
    {
        var store = Store(_dir, retain: 2);
        for (ulong i = 1; i <= 5; i++)
        {
            await store.SaveAsync(Make(i, i), cancellationToken: Ct);
        }

        (await store.ListAsync(Ct)).Select(e => e.CheckpointId).ShouldBe([4UL, 5UL]);
    }

    [Fact]
    public async Task PruneAsync_NewestAreCorrupt_KeepsEnoughUsableOlderOnes()
    {
        var store = Store(_dir, retain: 0);
        for (ulong i = 1; i <= 5; i++)
        {
            await store.SaveAsync(Make(i, i), cancellationToken: Ct);
        }

        WritePrivate(ManifestPath(_dir, 4), "corrupt");
        WritePrivate(ManifestPath(_dir, 5), "corrupt");
        var fresh = Store(_dir, retain: 0);

        var removed = await fresh.PruneAsync(2, Ct);

        removed.ShouldBe(1);
        (await fresh.ListAsync(Ct)).Select(e => e.CheckpointId).ShouldBe([2UL, 3UL, 4UL, 5UL]);
        (await fresh.RecoverLatestValidAsync(Ct))!.Manifest.CheckpointId.ShouldBe(3UL);
    }

    [Fact]
    public async Task PruneAsync_LatestPointerOnAnOldId_NeverPrunesIt()
    {
        var store = Store(_dir, retain: 0);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);
        await store.SaveAsync(Make(2, 2), cancellationToken: Ct);
        await store.SaveAsync(Make(3, 3), cancellationToken: Ct);
        WritePrivate(store.LatestPointerPath, "1\n");

        var removed = await store.PruneAsync(1, Ct);

        removed.ShouldBe(1);
        (await store.ListAsync(Ct)).Select(e => e.CheckpointId).ShouldBe([1UL, 3UL]);
    }

    [Fact]
    public async Task SaveAsync_WithSidecar_WritesItAndRecordsSha256AndSize()
    {
        var store = Store(_dir, retain: 3);
        var state = "state-data-for-checksum"u8.ToArray();

        var saved = await store.SaveAsync(Make(1, 1), state, Ct);

        var expected = Convert.ToHexStringLower(SHA256.HashData(state));
        saved.StateSidecar.ShouldBe(new StateSidecarInfo(expected, state.Length));
        var loaded = await store.LoadLatestAsync(Ct);
        loaded!.StateSidecar.ShouldBe(new StateSidecarInfo(expected, state.Length));
        (await store.LoadSidecarAsync(1, Ct)).ShouldBe(state);
    }

    [Fact]
    public async Task SaveAsync_WithoutSidecar_HasNoStateFile()
    {
        var store = Store(_dir);

        var saved = await store.SaveAsync(Make(1, 1), cancellationToken: Ct);

        saved.StateSidecar.ShouldBeNull();
        (await store.LoadLatestAsync(Ct))!.CheckpointId.ShouldBe(1UL);
        (await store.LoadSidecarAsync(1, Ct)).ShouldBeNull();
        File.Exists(Path.Combine(store.GetCheckpointDirectory(1), "state.bin")).ShouldBeFalse();
    }

    [Fact]
    public async Task LoadSidecarAsync_UnknownCheckpoint_ReturnsNull()
    {
        (await Store(_dir).LoadSidecarAsync(99, Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task SaveAsync_ManifestWriteFails_SidecarWasWrittenFirstAndLatestIsUnchanged()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);
        DurableFile.BeforeRenameHook = path =>
        {
            // The hook is process-wide: only this test's directory is affected.
            if (path.StartsWith(store.GetCheckpointDirectory(2), StringComparison.Ordinal) && Path.GetFileName(path).StartsWith("manifest.json", StringComparison.Ordinal))
            {
                throw new CheckpointException(CheckpointErrorCode.WriteFailed, "injected crash before the manifest rename");
            }
        };
        try
        {
            var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Make(2, 2), "blob"u8.ToArray(), Ct));
            ex.ErrorCode.ShouldBe(CheckpointErrorCode.WriteFailed);
        }
        finally
        {
            DurableFile.BeforeRenameHook = null;
        }

        File.Exists(Path.Combine(store.GetCheckpointDirectory(2), "state.bin")).ShouldBeTrue("the sidecar is written before the manifest");
        File.Exists(ManifestPath(_dir, 2)).ShouldBeFalse();
        (await store.LoadLatestAsync(Ct))!.CheckpointId.ShouldBe(1UL);
        (await store.ListAsync(Ct)).Select(e => e.CheckpointId).ShouldBe([1UL]);
        (await store.RecoverLatestValidAsync(Ct))!.Manifest.CheckpointId.ShouldBe(1UL);
        Directory.EnumerateFiles(store.GetCheckpointDirectory(2), "*.tmp").ShouldBeEmpty("a failed write removes its temp file");
    }

    [Fact]
    public async Task SaveAsync_OrphanedSidecarWithoutManifest_IsInvisible()
    {
        var store = Store(_dir);
        WritePrivate(Path.Combine(store.GetCheckpointDirectory(1), "state.bin"), "orphaned"u8.ToArray());

        (await store.LoadLatestAsync(Ct)).ShouldBeNull();
        (await store.ListAsync(Ct)).ShouldBeEmpty();
        (await store.RecoverLatestValidAsync(Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task SaveAsync_OverAnOrphanedSidecarWithoutNewState_RemovesTheStaleSidecar()
    {
        var store = Store(_dir);
        var stale = Path.Combine(store.GetCheckpointDirectory(1), "state.bin");
        WritePrivate(stale, "orphaned"u8.ToArray());

        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);

        File.Exists(stale).ShouldBeFalse();
        (await store.ValidateAsync(1, Ct)).Findings.ShouldBeEmpty();
    }

    [Fact]
    public async Task SaveAsync_FullManifest_RoundTripsEveryField()
    {
        var store = Store(_dir);
        var manifest = new CheckpointManifest
        {
            CheckpointId = 1,
            Epoch = 5,
            CreatedAt = T0,
            SourceOffsets = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, SourcePosition>
            {
                ["orders-db"] = new(new TestSeqOffset("orders", 1000), 17),
                ["kafka-src"] = new(GenericOffset.Parse("kafka", """{"0":1000,"1":2000}""")),
            }),
            SinkEpochs = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, ulong> { ["pg-sink"] = 4 }),
            SinkCommitStatuses = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, SinkCommitStatus>
            {
                ["pg-sink"] = SinkCommitStatus.Committed,
                ["s3-sink"] = SinkCommitStatus.Failed("bucket gone"),
            }),
            TableOffsets = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, TableOffset>
            {
                ["instruments"] = TableOffset.FromOffset(new TestSeqOffset("instruments", 171)),
                ["orders"] = TableOffset.FromText("pk>42"),
            }),
            OperatorStates = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, OperatorState>
            {
                ["window"] = OperatorState.FromInline("data"u8),
                ["join"] = OperatorState.InSidecar(2, 3),
            }),
            Watermark = 999_000,
        };

        await store.SaveAsync(manifest, "abcdefgh"u8.ToArray(), Ct);
        var loaded = (await Store(_dir).LoadLatestAsync(Ct))!;

        loaded.CheckpointId.ShouldBe(1UL);
        loaded.Epoch.ShouldBe(5UL);
        loaded.CreatedAt.ShouldBe(T0);
        loaded.Watermark.ShouldBe(999_000);
        loaded.SourceOffsets["orders-db"].ShouldBe(new SourcePosition(new TestSeqOffset("orders", 1000), 17));
        loaded.SourceOffsets["orders-db"].Offset.ShouldBeOfType<TestSeqOffset>().Seq.ShouldBe(1000UL);
        loaded.SourceOffsets["kafka-src"].Offset.ShouldBeOfType<GenericOffset>().ToJsonString().ShouldBe("""{"0":1000,"1":2000}""");
        loaded.SinkEpochs["pg-sink"].ShouldBe(4UL);
        loaded.SinkCommitStatuses["pg-sink"].ShouldBe(SinkCommitStatus.Committed);
        loaded.SinkCommitStatuses["s3-sink"].ShouldBe(SinkCommitStatus.Failed("bucket gone"));
        loaded.TableOffsets["instruments"].ShouldBe(TableOffset.FromOffset(new TestSeqOffset("instruments", 171)));
        loaded.TableOffsets["orders"].Text.ShouldBe("pk>42");
        loaded.OperatorStates["window"].Inline.ToArray().ShouldBe("data"u8.ToArray());
        var states = await store.LoadOperatorStatesAsync(loaded, Ct);
        states["window"].ToArray().ShouldBe("data"u8.ToArray());
        states["join"].ToArray().ShouldBe("cde"u8.ToArray());
    }

    [Fact]
    public async Task SaveAsync_SidecarRangeOutsideTheSidecar_ThrowsArgumentExceptionAndWritesNothing()
    {
        var store = Store(_dir);
        var manifest = new CheckpointManifest
        {
            CheckpointId = 1,
            Epoch = 1,
            CreatedAt = T0,
            OperatorStates = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("join", OperatorState.InSidecar(2, 10))]),
        };

        var ex = await Should.ThrowAsync<ArgumentException>(async () => await store.SaveAsync(manifest, "abc"u8.ToArray(), Ct));

        ex.Message.ShouldContain("outside");
        Directory.Exists(store.CheckpointsDirectory).ShouldBeFalse();
    }

    [Theory]
    [InlineData(0UL, 1UL, "checkpoint_id is 0")]
    [InlineData(1UL, 0UL, "epoch is 0")]
    public async Task SaveAsync_ZeroIdOrEpoch_ThrowsArgumentException(ulong id, ulong epoch, string expected)
    {
        var ex = await Should.ThrowAsync<ArgumentException>(async () => await Store(_dir).SaveAsync(Make(id, epoch), cancellationToken: Ct));
        ex.Message.ShouldContain(expected);
    }

    [Fact]
    public async Task SaveAsync_SameIdTwice_IsRefusedAndTheFirstManifestIsKept()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 10), "first"u8.ToArray(), Ct);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Make(1, 11), "second"u8.ToArray(), Ct));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.ConflictingOffset);
        ex.Message.ShouldContain("already exists");
        ex.Path.ShouldBe(ManifestPath(_dir, 1));
        (await store.LoadAsync(1, Ct))!.Epoch.ShouldBe(10UL);
        (await store.LoadSidecarAsync(1, Ct)).ShouldBe("first"u8.ToArray());
        (await store.ValidateAsync(1, Ct)).IsValid.ShouldBeTrue();
    }

    [Fact]
    public async Task SaveAsync_SameIdFromTwoStoreInstances_OnlyOneWins()
    {
        var a = Store(_dir);
        var b = Store(_dir);

        var results = await Task.WhenAll(
            Task.Run(async () => await Record(() => a.SaveAsync(Make(1, 100), cancellationToken: Ct))),
            Task.Run(async () => await Record(() => b.SaveAsync(Make(1, 200), cancellationToken: Ct))));

        results.Count(r => r is null).ShouldBe(1);
        results.Single(r => r is not null)!.ErrorCode.ShouldBe(CheckpointErrorCode.ConflictingOffset);
        (await a.LoadAsync(1, Ct))!.Epoch.ShouldBeOneOf(100UL, 200UL);

        static async Task<CheckpointException?> Record(Func<ValueTask<CheckpointManifest>> save)
        {
            try
            {
                await save();
                return null;
            }
            catch (CheckpointException ex)
            {
                return ex;
            }
        }
    }

    [Fact]
    public async Task SaveAsync_OlderIdAfterNewer_LatestPointerDoesNotMoveBack()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(10, 10), cancellationToken: Ct);

        await store.SaveAsync(Make(5, 5), cancellationToken: Ct);

        (await store.LoadLatestAsync(Ct))!.CheckpointId.ShouldBe(10UL);
        (await File.ReadAllTextAsync(store.LatestPointerPath, Ct)).ShouldBe("10\n");
        (await store.LoadAsync(5, Ct)).ShouldNotBeNull();
    }

    [Theory]
    [InlineData(null)]
    [InlineData("garbage")]
    public async Task SaveAsync_OlderIdWhilePointerMissingOrBroken_PointerNamesTheNewestManifest(string? pointerText)
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(10, 10), cancellationToken: Ct);
        if (pointerText is null)
        {
            File.Delete(store.LatestPointerPath);
        }
        else
        {
            WritePrivate(store.LatestPointerPath, pointerText);
        }

        await store.SaveAsync(Make(5, 5), cancellationToken: Ct);

        (await File.ReadAllTextAsync(store.LatestPointerPath, Ct)).ShouldBe("10\n");
    }

    [Fact]
    public async Task UpdateSinkStatusesAsync_PendingToCommitted_RewritesTheManifest()
    {
        var store = Store(_dir);
        var manifest = new CheckpointManifest
        {
            CheckpointId = 1,
            Epoch = 10,
            CreatedAt = T0,
            SinkCommitStatuses = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, SinkCommitStatus>
            {
                ["sink-a"] = SinkCommitStatus.Pending,
                ["sink-b"] = SinkCommitStatus.Pending,
            }),
        };
        await store.SaveAsync(manifest, cancellationToken: Ct);

        var updated = await store.UpdateSinkStatusesAsync(1, new Dictionary<string, SinkCommitStatus> { ["sink-a"] = SinkCommitStatus.Committed }, Ct);

        updated.SinkCommitStatuses["sink-a"].ShouldBe(SinkCommitStatus.Committed);
        var loaded = (await store.LoadAsync(1, Ct))!;
        loaded.SinkCommitStatuses["sink-a"].ShouldBe(SinkCommitStatus.Committed);
        loaded.SinkCommitStatuses["sink-b"].ShouldBe(SinkCommitStatus.Pending);
        loaded.Epoch.ShouldBe(10UL);
    }

    [Fact]
    public async Task UpdateSinkStatusesAsync_UnknownCheckpoint_ThrowsDirectoryNotFound()
    {
        var ex = await Should.ThrowAsync<CheckpointException>(async () =>
            await Store(_dir).UpdateSinkStatusesAsync(3, new Dictionary<string, SinkCommitStatus> { ["s"] = SinkCommitStatus.Committed }, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.DirectoryNotFound);
    }

    [Fact]
    public async Task UpdateSinkStatusesAsync_KeepsTheSidecarValid()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), "state"u8.ToArray(), Ct);

        await store.UpdateSinkStatusesAsync(1, new Dictionary<string, SinkCommitStatus> { ["s"] = SinkCommitStatus.Failed("disk full") }, Ct);

        var result = await store.ValidateAsync(1, Ct);
        result.IsValid.ShouldBeTrue();
        result.Findings.ShouldHaveSingleItem().Message.ShouldContain("disk full");
        (await store.LoadSidecarAsync(1, Ct)).ShouldBe("state"u8.ToArray());
    }

    [Fact]
    public async Task LoadLatestAsync_EmptyPointerWithoutCheckpoints_ReturnsNull()
    {
        var store = Store(_dir);
        WritePrivate(store.LatestPointerPath, string.Empty);

        (await store.LoadLatestAsync(Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task LoadLatestAsync_DanglingPointerWithoutCheckpoints_ReturnsNull()
    {
        var store = Store(_dir);
        WritePrivate(store.LatestPointerPath, "99\n");

        (await store.LoadLatestAsync(Ct)).ShouldBeNull();
    }

    [Theory]
    [InlineData("")]
    [InlineData("99\n")]
    [InlineData("checkpoint_000002")]
    [InlineData("-1")]
    public async Task LoadLatestAsync_BadPointerWithCheckpoints_FallsBackToTheNewestManifest(string pointerText)
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);
        await store.SaveAsync(Make(2, 2), cancellationToken: Ct);
        WritePrivate(store.LatestPointerPath, pointerText);

        (await store.LoadLatestAsync(Ct))!.CheckpointId.ShouldBe(2UL);
    }

    [Fact]
    public async Task SaveAsync_AfterGarbagePointer_RewritesThePointer()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);
        WritePrivate(store.LatestPointerPath, "garbage");

        await store.SaveAsync(Make(2, 2), cancellationToken: Ct);

        (await File.ReadAllTextAsync(store.LatestPointerPath, Ct)).ShouldBe("2\n");
    }

    [Fact]
    public async Task ValidateAsync_SavedCheckpoint_IsValidWithoutFindings()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);

        var result = await store.ValidateAsync(1, Ct);

        result.IsValid.ShouldBeTrue();
        result.Findings.ShouldBeEmpty();
        result.Manifest!.CheckpointId.ShouldBe(1UL);
    }

    [Fact]
    public async Task ValidateAsync_EpochZeroOnDisk_IsFatalAndNamesTheEpoch()
    {
        var store = Store(_dir);
        WritePrivate(ManifestPath(_dir, 1), """{"format_version":1,"checkpoint_id":1,"epoch":0,"created_at":"2025-01-01T00:00:00Z"}""");

        var result = await store.ValidateAsync(1, Ct);

        result.IsValid.ShouldBeFalse();
        result.Findings.ShouldHaveSingleItem().Severity.ShouldBe(ValidationSeverity.Fatal);
        result.Findings[0].Message.ShouldContain("epoch");
    }

    [Fact]
    public async Task ValidateAsync_MissingManifest_IsFatalNotFound()
    {
        var result = await Store(_dir).ValidateAsync(99, Ct);

        result.IsValid.ShouldBeFalse();
        result.Findings[0].Severity.ShouldBe(ValidationSeverity.Fatal);
        result.Findings[0].Message.ShouldContain("not found");
    }

    [Fact]
    public async Task ValidateAsync_CorruptJson_IsFatalCorruptManifest()
    {
        var store = Store(_dir);
        WritePrivate(ManifestPath(_dir, 1), "not valid json");

        var result = await store.ValidateAsync(1, Ct);

        result.IsValid.ShouldBeFalse();
        result.Findings[0].Message.ShouldContain("corrupt manifest");
        result.Findings[0].Message.ShouldContain(ManifestPath(_dir, 1));
    }

    [Fact]
    public async Task ValidateAsync_SidecarIntact_IsValid()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), "important operator state"u8.ToArray(), Ct);

        (await store.ValidateAsync(1, Ct)).IsValid.ShouldBeTrue();
    }

    [Fact]
    public async Task ValidateAsync_SidecarSameSizeDifferentBytes_IsFatalChecksumMismatch()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), "original state!!"u8.ToArray(), Ct);
        WritePrivate(Path.Combine(store.GetCheckpointDirectory(1), "state.bin"), "corrupted data!!"u8.ToArray());

        var result = await store.ValidateAsync(1, Ct);

        result.IsValid.ShouldBeFalse();
        result.Findings.ShouldContain(f => f.Severity == ValidationSeverity.Fatal && f.Message.Contains("checksum mismatch"));
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.LoadSidecarAsync(1, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
    }

    [Theory]
    [InlineData("short")]
    [InlineData("much longer than the original state")]
    public async Task ValidateAsync_SidecarOfAnotherSize_IsFatalSizeMismatch(string replacement)
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), "original state"u8.ToArray(), Ct);
        WritePrivate(Path.Combine(store.GetCheckpointDirectory(1), "state.bin"), replacement);

        var result = await store.ValidateAsync(1, Ct);

        result.IsValid.ShouldBeFalse();
        result.Findings.ShouldContain(f => f.Severity == ValidationSeverity.Fatal && f.Message.Contains("size mismatch"));
    }

    [Fact]
    public async Task ValidateAsync_SidecarDeleted_IsFatalNotFound()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), "state"u8.ToArray(), Ct);
        File.Delete(Path.Combine(store.GetCheckpointDirectory(1), "state.bin"));

        var result = await store.ValidateAsync(1, Ct);

        result.IsValid.ShouldBeFalse();
        result.Findings.ShouldContain(f => f.Severity == ValidationSeverity.Fatal && f.Message.Contains("not found"));
    }

    [Fact]
    public async Task ValidateAsync_PendingSink_IsAWarningOnly()
    {
        var store = Store(_dir);
        await store.SaveAsync(
            new CheckpointManifest
            {
                CheckpointId = 1,
                Epoch = 1,
                CreatedAt = T0,
                SinkCommitStatuses = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("pg", SinkCommitStatus.Pending)]),
            },
            cancellationToken: Ct);

        var result = await store.ValidateAsync(1, Ct);

        result.IsValid.ShouldBeTrue();
        result.Findings.ShouldHaveSingleItem().Severity.ShouldBe(ValidationSeverity.Warning);
        result.Findings[0].Message.ShouldContain("pending");
    }

    [Fact]
    public async Task ValidateAsync_StraySidecarNotDeclared_IsAWarning()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);
        WritePrivate(Path.Combine(store.GetCheckpointDirectory(1), "state.bin"), "stray");

        var result = await store.ValidateAsync(1, Ct);

        result.IsValid.ShouldBeTrue();
        result.Findings.ShouldHaveSingleItem().Severity.ShouldBe(ValidationSeverity.Warning);
    }

    [Fact]
    public async Task ValidateAsync_ManifestIsASymbolicLink_IsFatal()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);
        var real = _dir.Combine("elsewhere.json");
        File.Move(ManifestPath(_dir, 1), real);
        File.CreateSymbolicLink(ManifestPath(_dir, 1), real);

        var result = await store.ValidateAsync(1, Ct);

        result.IsValid.ShouldBeFalse();
        result.Findings[0].Message.ShouldContain("symbolic link");
        (await Should.ThrowAsync<CheckpointException>(async () => await store.LoadAsync(1, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.SymbolicLinkRefused);
    }

    [Fact]
    [UnsupportedOSPlatform("windows")]
    public async Task LoadAsync_ManifestReadableByOthers_ThrowsInsecurePermissions()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);
        File.SetUnixFileMode(ManifestPath(_dir, 1), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.LoadAsync(1, Ct));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.InsecurePermissions);
    }

    [Fact]
    public async Task LoadAsync_ManifestOfAnotherId_IsCorrupt()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);
        Directory.CreateDirectory(store.GetCheckpointDirectory(2));
        File.Copy(ManifestPath(_dir, 1), ManifestPath(_dir, 2));

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.LoadAsync(2, Ct));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain("does not match its directory");
    }

    [Fact]
    [UnsupportedOSPlatform("windows")]
    public async Task SaveAsync_CreatesPrivateFilesAndDirectories()
    {
        var root = _dir.Combine("store");
        var store = new FileManifestStore(root);

        await store.SaveAsync(Make(1, 1), "x"u8.ToArray(), Ct);

        const UnixFileMode Dir = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        File.GetUnixFileMode(root).ShouldBe(Dir);
        File.GetUnixFileMode(store.CheckpointsDirectory).ShouldBe(Dir);
        File.GetUnixFileMode(store.GetCheckpointDirectory(1)).ShouldBe(Dir);
        File.GetUnixFileMode(ManifestPathIn(root, 1)).ShouldBe(FileMode);
        File.GetUnixFileMode(Path.Combine(store.GetCheckpointDirectory(1), "state.bin")).ShouldBe(FileMode);
        File.GetUnixFileMode(store.LatestPointerPath).ShouldBe(FileMode);

        static string ManifestPathIn(string root, ulong id) => Path.Combine(root, "checkpoints", FileManifestStore.DirectoryNameOf(id), "manifest.json");
    }

    [Fact]
    public async Task SaveAsync_RootParentMissing_ThrowsDirectoryNotFound()
    {
        var store = new FileManifestStore(_dir.Combine("no", "such", "root"));

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Make(1, 1), cancellationToken: Ct));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.DirectoryNotFound);
    }

    [Fact]
    public async Task RecoverLatestValidAsync_NewestCorrupt_PicksTheOlderAndReportsTheSkip()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 10), cancellationToken: Ct);
        await store.SaveAsync(Make(2, 20), cancellationToken: Ct);
        WritePrivate(ManifestPath(_dir, 2), "<<<corrupt>>>");

        var recovery = await store.RecoverLatestValidAsync(Ct);

        recovery.ShouldNotBeNull();
        recovery.Manifest.CheckpointId.ShouldBe(1UL);
        recovery.Skipped.ShouldHaveSingleItem().CheckpointId.ShouldBe(2UL);
        recovery.Skipped[0].Reason.ShouldContain("corrupt");
        recovery.Examined.ShouldBe(2);
        recovery.HighestCheckpointId.ShouldBe(2UL);
    }

    [Fact]
    public async Task RecoverLatestValidAsync_BothValid_PicksTheNewestWithoutSkips()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 10), cancellationToken: Ct);
        await store.SaveAsync(Make(2, 20), cancellationToken: Ct);

        var recovery = await store.RecoverLatestValidAsync(Ct);

        recovery!.Manifest.CheckpointId.ShouldBe(2UL);
        recovery.Skipped.ShouldBeEmpty();
    }

    [Fact]
    public async Task RecoverLatestValidAsync_NewestSidecarDamaged_HandsOnTheWalksListingAndTheOlderVerifiedSidecar()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), "one"u8.ToArray(), Ct);
        await store.SaveAsync(Make(2, 2), cancellationToken: Ct);
        await store.SaveAsync(Make(3, 3), "three"u8.ToArray(), Ct);
        WritePrivate(Path.Combine(store.GetCheckpointDirectory(3), "state.bin"), "thrEE");

        var recovery = (await store.RecoverLatestValidAsync(Ct))!;

        // Stream recovery reuses both instead of listing the store and reading the sidecar a second time.
        recovery.Manifest.CheckpointId.ShouldBe(2UL);
        recovery.CheckpointIds.ShouldBe([1UL, 2UL, 3UL]);
        recovery.VerifiedSidecar.ShouldBeNull(); // checkpoint 2 declares none

        File.Delete(ManifestPath(_dir, 2));
        recovery = (await store.RecoverLatestValidAsync(Ct))!;
        recovery.Manifest.CheckpointId.ShouldBe(1UL);
        recovery.CheckpointIds.ShouldBe([1UL, 3UL]);
        recovery.VerifiedSidecar.ShouldBe("one"u8.ToArray());
    }

    [Fact]
    public async Task RecoverLatestValidAsync_EmptyStore_ReturnsNull()
    {
        (await Store(_dir).RecoverLatestValidAsync(Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task RecoverLatestValidAsync_AllCorrupt_ThrowsCorruptListingEachOneInsteadOfAFreshStart()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);
        await store.SaveAsync(Make(2, 2), "state"u8.ToArray(), Ct);
        WritePrivate(ManifestPath(_dir, 1), "corrupt");
        File.Delete(Path.Combine(store.GetCheckpointDirectory(2), "state.bin"));

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.RecoverLatestValidAsync(Ct));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain("checkpoint 1:");
        ex.Message.ShouldContain("checkpoint 2:");
        ex.Message.ShouldContain("not a fresh start");
    }

    [Fact]
    public async Task RecoverLatestValidAsync_PointerNamesAMissingNewerCheckpoint_SkipsItAndRecoversTheOlder()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);
        await store.SaveAsync(Make(2, 2), cancellationToken: Ct);
        Directory.Delete(store.GetCheckpointDirectory(2), recursive: true);

        var recovery = await store.RecoverLatestValidAsync(Ct);

        recovery!.Manifest.CheckpointId.ShouldBe(1UL);
        recovery.Skipped.ShouldHaveSingleItem().CheckpointId.ShouldBe(2UL);
        recovery.HighestCheckpointId.ShouldBe(2UL);
    }

    [Fact]
    public async Task RecoverLatestValidAsync_PointerButNoManifestLeft_ThrowsInsteadOfAFreshStart()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);
        Directory.Delete(store.GetCheckpointDirectory(1), recursive: true);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.RecoverLatestValidAsync(Ct));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain("names checkpoint 1");
    }

    [Fact]
    public async Task RecoverLatestValidAsync_ManifestNewerThanThePointer_IsStillChosen()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);
        await store.SaveAsync(Make(2, 2), cancellationToken: Ct);
        WritePrivate(store.LatestPointerPath, "1\n");

        (await store.RecoverLatestValidAsync(Ct))!.Manifest.CheckpointId.ShouldBe(2UL);
    }

    [Fact]
    public async Task CleanupOrphansAsync_OrphanOlderThanLatest_IsRemovedAndNewerOneKept()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);
        await store.SaveAsync(Make(5, 5), cancellationToken: Ct);
        var olderOrphan = store.GetCheckpointDirectory(3);
        var newerOrphan = store.GetCheckpointDirectory(99);
        WritePrivate(Path.Combine(olderOrphan, "state.bin"), "orphaned");
        WritePrivate(Path.Combine(newerOrphan, "state.bin"), "maybe in progress");

        var result = await store.CleanupOrphansAsync(Ct);

        result.RemovedCheckpointDirectories.ShouldBe([3UL]);
        Directory.Exists(olderOrphan).ShouldBeFalse();
        Directory.Exists(newerOrphan).ShouldBeTrue();
        (await store.LoadAsync(1, Ct)).ShouldNotBeNull();
        (await store.LoadAsync(5, Ct)).ShouldNotBeNull();
    }

    [Fact]
    public async Task CleanupOrphansAsync_CleanStore_RemovesNothing()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);

        var result = await store.CleanupOrphansAsync(Ct);

        result.Count.ShouldBe(0);
    }

    [Fact]
    public async Task CrashLeftoverTempFiles_AreIgnoredByReadsAndRemovedByCleanup()
    {
        var store = Store(_dir);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);
        var leftovers = new[]
        {
            Path.Combine(store.CheckpointsDirectory, "latest.0a1b2c3d4e5f.tmp"),
            Path.Combine(store.GetCheckpointDirectory(1), "manifest.json.0a1b2c3d4e5f.tmp"),
            Path.Combine(store.GetCheckpointDirectory(1), "state.bin.0a1b2c3d4e5f.tmp"),
        };
        foreach (var leftover in leftovers)
        {
            WritePrivate(leftover, "half-written");
        }

        (await store.LoadLatestAsync(Ct))!.CheckpointId.ShouldBe(1UL);
        (await store.ListAsync(Ct)).Select(e => e.CheckpointId).ShouldBe([1UL]);
        (await store.ValidateAsync(1, Ct)).Findings.ShouldBeEmpty();

        var result = await store.CleanupOrphansAsync(Ct);

        result.RemovedTempFiles.Order().ShouldBe(leftovers.Order());
        leftovers.ShouldAllBe(p => !File.Exists(p));
        (await store.LoadLatestAsync(Ct))!.CheckpointId.ShouldBe(1UL);
    }

    [Fact]
    public async Task LoadAsync_NewerFormatVersion_ThrowsUnsupportedNamingSupportedVersions()
    {
        var store = Store(_dir);
        WritePrivate(ManifestPath(_dir, 1), """{"format_version":2,"checkpoint_id":1,"epoch":"a string in v2","created_at":"2025-01-01T00:00:00Z"}""");

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.LoadAsync(1, Ct));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.UnsupportedFormatVersion);
        ex.Message.ShouldContain("supported versions are 1");
        ex.Message.ShouldContain(ManifestPath(_dir, 1));
    }

    [Fact]
    public async Task LoadAsync_MinimalOlderManifest_ReadsWithDefaults()
    {
        var store = Store(_dir);
        WritePrivate(ManifestPath(_dir, 1), """{"format_version":1,"checkpoint_id":1,"epoch":1,"created_at":"2025-01-01T00:00:00Z"}""");

        var manifest = (await store.LoadAsync(1, Ct))!;

        manifest.StateSidecar.ShouldBeNull();
        manifest.Watermark.ShouldBeNull();
        manifest.SourceOffsets.ShouldBeEmpty();
        manifest.SinkEpochs.ShouldBeEmpty();
        manifest.SinkCommitStatuses.ShouldBeEmpty();
        manifest.TableOffsets.ShouldBeEmpty();
        manifest.OperatorStates.ShouldBeEmpty();
        (await store.ValidateAsync(1, Ct)).IsValid.ShouldBeTrue();
    }
}
