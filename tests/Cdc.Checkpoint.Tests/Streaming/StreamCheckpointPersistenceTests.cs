using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Streaming;
using Cdc.Checkpoint.Tests.Manifests;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Streaming;

/// <summary>The streaming engine persisting through the manifest store: one layout, one recovery walk.</summary>
public sealed class StreamCheckpointPersistenceTests
{
    private static readonly DateTimeOffset Start = new(2024, 1, 28, 0, 0, 0, TimeSpan.Zero);
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ValueTask<StreamCheckpointManager> OpenAsync(StreamCheckpointOptions options, IManifestStore? store = null, ListLoggerFactory? logs = null) =>
        StreamCheckpointManager.OpenAsync(options, store, new FakeTimeProvider(Start), logs, Ct);

    private static string StateOf(string data, ulong id) => Path.Combine(data, "checkpoints", FileManifestStore.DirectoryNameOf(id), StateSidecarInfo.FileName);

    private static void WriteLegacy(string directory, StreamCheckpoint checkpoint) => WritePrivate(Path.Combine(directory, LegacyStreamSnapshots.FileNameOf(checkpoint.Id)), StreamSnapshotCodec.Encode(checkpoint));

    private static void WritePrivate(string path, byte[] bytes)
    {
        File.WriteAllBytes(path, bytes);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, Private);
        }
    }

    private static void Flip(string path, int at)
    {
        var bytes = File.ReadAllBytes(path);
        bytes[at] ^= 0x40;
        WritePrivate(path, bytes);
    }

    [Fact]
    public async Task TriggerAsync_WithDataDirectory_SavesAManifestWhoseSidecarIsTheSnapshot()
    {
        using var dir = new TempDirectory();
        var data = Path.Combine(dir.Path, "stream");
        await using var manager = await OpenAsync(new StreamCheckpointOptions { DataDirectory = data });
        manager.RegisterSource("src").PublishSequence(5);
        var id = (await manager.TriggerAsync(Ct))!.Value;

        using var store = new FileManifestStore(data);
        var recovery = (await store.RecoverLatestValidAsync(Ct)).ShouldNotBeNull();
        recovery.Manifest.CheckpointId.ShouldBe(id);
        recovery.Manifest.Epoch.ShouldBe(manager.Epoch);
        recovery.Manifest.OperatorStates.Keys.ShouldBe([StreamSnapshotStore.OperatorName]);
        var states = await store.LoadOperatorStatesAsync(recovery.Manifest, Ct);
        StreamSnapshotCodec.Decode(states[StreamSnapshotStore.OperatorName].Span).ShouldBe(manager.GetCheckpoint(id));
        StreamSnapshotCodec.Decode(File.ReadAllBytes(StateOf(data, id))).ShouldBe(manager.GetCheckpoint(id));
        if (!OperatingSystem.IsWindows())
        {
            File.GetUnixFileMode(StateOf(data, id)).ShouldBe(Private);
            File.GetUnixFileMode(data).ShouldBe(Private | UnixFileMode.UserExecute);
        }
    }

    [Fact]
    public async Task OpenAsync_ExistingStore_RecoversAndContinuesIdsAndEpochs()
    {
        using var dir = new TempDirectory();
        var options = new StreamCheckpointOptions { DataDirectory = dir.Path };
        await using (var first = await OpenAsync(options))
        {
            var handle = first.RegisterSource("src");
            handle.PublishSequence(7);
            await first.TriggerAsync(Ct);
            handle.PublishSequence(9);
            await first.TriggerAsync(Ct);
        }

        await using var second = await OpenAsync(options);
        second.RetainedCheckpointCount.ShouldBe(2);
        second.Restore().SourceSequences["src"].ShouldBe(9ul);
        second.Epoch.ShouldBe(2ul);
        (await second.TriggerAsync(Ct)).ShouldBe(3ul);
        second.Epoch.ShouldBe(3ul);
    }

    [Fact]
    public async Task OpenAsync_NewestSnapshotCorrupt_StoreWalkSkipsAndReportsItAndItsIdIsNeverReused()
    {
        using var dir = new TempDirectory();
        var options = new StreamCheckpointOptions { DataDirectory = dir.Path };
        await using (var first = await OpenAsync(options))
        {
            var handle = first.RegisterSource("src");
            handle.PublishSequence(1);
            await first.TriggerAsync(Ct);
            handle.PublishSequence(2);
            await first.TriggerAsync(Ct);
        }

        Flip(StateOf(dir.Path, 2), 12);
        var logs = new ListLoggerFactory();
        await using var second = await OpenAsync(options, logs: logs);
        second.Restore().Id.ShouldBe(1ul);
        second.Restore().SourceSequences["src"].ShouldBe(1ul);
        logs.Entries.ShouldContain(e => e.EventId == CdcEventId.InvalidCheckpointSkipped && e.Message.Contains("checksum mismatch") && e.Message.Contains(StateOf(dir.Path, 2)));
        (await second.TriggerAsync(Ct)).ShouldBe(3ul);
        second.Epoch.ShouldBeGreaterThan(2ul);
    }

    [Fact]
    public async Task OpenAsync_EveryCheckpointCorrupt_FailsClosedNeverAFreshStart()
    {
        using var dir = new TempDirectory();
        var options = new StreamCheckpointOptions { DataDirectory = dir.Path };
        await using (var first = await OpenAsync(options))
        {
            await first.TriggerAsync(Ct);
        }

        Flip(StateOf(dir.Path, 1), 5);
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await OpenAsync(options));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain("not a fresh start");
    }

    [Fact]
    public async Task OpenAsync_LegacySnapshotDirectory_IsMovedIntoTheStoreAndRecovered()
    {
        using var dir = new TempDirectory();
        var one = new StreamCheckpoint(1, 1, 1_000, new Dictionary<string, ulong> { ["src"] = 10 });
        var two = new StreamCheckpoint(2, 2, 2_000, new Dictionary<string, ulong> { ["src"] = 20 });
        WriteLegacy(dir.Path, one);
        WriteLegacy(dir.Path, two);

        var logs = new ListLoggerFactory();
        await using (var manager = await OpenAsync(new StreamCheckpointOptions { DataDirectory = dir.Path }, logs: logs))
        {
            manager.GetRetainedCheckpoints().ShouldBe([one, two]);
            manager.Restore().ShouldBe(two);
            (await manager.TriggerAsync(Ct)).ShouldBe(3ul);
        }

        logs.Entries.ShouldContain(e => e.EventId == CdcEventId.StreamSnapshotsMigrated && e.Message.Contains("Moved 2 legacy"));
        Directory.GetFiles(dir.Path, "stream-checkpoint-*.snap").ShouldBeEmpty();
        using var store = new FileManifestStore(dir.Path);
        (await store.ListAsync(Ct)).Select(e => e.CheckpointId).ShouldBe([1ul, 2ul, 3ul]);
        await using var reopened = await OpenAsync(new StreamCheckpointOptions { DataDirectory = dir.Path });
        reopened.GetCheckpoint(2).ShouldBe(two);
    }

    [Fact]
    public async Task OpenAsync_UnreadableLegacySnapshot_IsLeftInPlaceReportedAndItsIdCounts()
    {
        using var dir = new TempDirectory();
        WriteLegacy(dir.Path, new StreamCheckpoint(1, 1, 1_000));
        var three = Path.Combine(dir.Path, LegacyStreamSnapshots.FileNameOf(3));
        WritePrivate(three, StreamSnapshotCodec.Encode(new StreamCheckpoint(3, 3, 3_000)));
        Flip(three, 12);

        var logs = new ListLoggerFactory();
        await using var manager = await OpenAsync(new StreamCheckpointOptions { DataDirectory = dir.Path }, logs: logs);
        manager.Restore().Id.ShouldBe(1ul);
        logs.Entries.ShouldContain(e => e.EventId == CdcEventId.StreamSnapshotSkipped && e.Message.Contains("CRC mismatch") && e.Message.Contains(three));
        File.Exists(three).ShouldBeTrue();
        (await manager.TriggerAsync(Ct)).ShouldBe(4ul);
    }

    [Fact]
    public async Task TryRestore_OnlyUnreadableLegacySnapshots_FailsClosed()
    {
        using var dir = new TempDirectory();
        WritePrivate(Path.Combine(dir.Path, LegacyStreamSnapshots.FileNameOf(1)), [2, 0, 0]);

        await using var manager = await OpenAsync(new StreamCheckpointOptions { DataDirectory = dir.Path });
        var ex = Should.Throw<CheckpointException>(() => manager.TryRestore());
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain(LegacyStreamSnapshots.FileNameOf(1));
        (await manager.TriggerAsync(Ct)).ShouldBe(2ul);
        manager.Restore().Id.ShouldBe(2ul);
    }

    [Fact]
    public async Task OpenAsync_LegacySnapshotWithWrongIdInName_IsNotMigratedAndItsIdCounts()
    {
        using var dir = new TempDirectory();
        WritePrivate(Path.Combine(dir.Path, LegacyStreamSnapshots.FileNameOf(5)), StreamSnapshotCodec.Encode(new StreamCheckpoint(1, 1, 1_000)));
        var logs = new ListLoggerFactory();
        await using var manager = await OpenAsync(new StreamCheckpointOptions { DataDirectory = dir.Path }, logs: logs);
        logs.Entries.ShouldContain(e => e.EventId == CdcEventId.StreamSnapshotSkipped && e.Message.Contains("contents are checkpoint 1"));
        (await manager.TriggerAsync(Ct)).ShouldBe(6ul);
    }

    [Fact]
    public async Task OpenAsync_GoldenLegacyFile_IsMigratedAndRestoredExactly()
    {
        using var dir = new TempDirectory();
        var golden = Path.Combine(AppContext.BaseDirectory, "Golden", "StreamLegacy", LegacyStreamSnapshots.FileNameOf(42));
        WritePrivate(Path.Combine(dir.Path, Path.GetFileName(golden)), File.ReadAllBytes(golden));

        await using var manager = await OpenAsync(new StreamCheckpointOptions { DataDirectory = dir.Path });
        manager.Restore().ShouldBe(StreamSnapshotCodecTests.GoldenCheckpoint());
        File.ReadAllBytes(StateOf(dir.Path, 42)).ShouldBe(File.ReadAllBytes(golden));
    }

    [Fact]
    public async Task OpenAsync_GoldenManifestLayout_RestoresAndSavingWritesTheSameBytes()
    {
        using var dir = new TempDirectory();
        var golden = Path.Combine(AppContext.BaseDirectory, "Golden", "StreamManifests", "checkpoints");
        var checkpoints = Path.Combine(dir.Path, "from-golden", "checkpoints");
        Directory.CreateDirectory(Path.Combine(checkpoints, "checkpoint_000042"));
        foreach (var file in Directory.GetFiles(golden, "*", SearchOption.AllDirectories))
        {
            WritePrivate(Path.Combine(checkpoints, Path.GetRelativePath(golden, file)), File.ReadAllBytes(file));
        }

        if (!OperatingSystem.IsWindows())
        {
            foreach (var d in new[] { Path.GetDirectoryName(checkpoints)!, checkpoints, Path.Combine(checkpoints, "checkpoint_000042") })
            {
                File.SetUnixFileMode(d, Private | UnixFileMode.UserExecute);
            }
        }

        await using (var manager = await OpenAsync(new StreamCheckpointOptions { DataDirectory = Path.GetDirectoryName(checkpoints) }))
        {
            manager.Restore().ShouldBe(StreamSnapshotCodecTests.GoldenCheckpoint());
            (await manager.TriggerAsync(Ct)).ShouldBe(43ul);
        }

        var fresh = Path.Combine(dir.Path, "fresh");
        using (var store = new FileManifestStore(fresh))
        {
            await new StreamSnapshotStore(store, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance).SaveAsync(StreamSnapshotCodecTests.GoldenCheckpoint(), Ct);
        }

        foreach (var name in new[] { "checkpoint_000042/manifest.json", "checkpoint_000042/state.bin", "latest" })
        {
            File.ReadAllBytes(Path.Combine(fresh, "checkpoints", name)).ShouldBe(File.ReadAllBytes(Path.Combine(golden, name)), name);
        }
    }

    [Fact]
    public async Task TriggerAsync_MaxRetained_PrunesTheStoreToo()
    {
        using var dir = new TempDirectory();
        await using var manager = await OpenAsync(new StreamCheckpointOptions { DataDirectory = dir.Path, MaxRetainedCheckpoints = 2 });
        for (var i = 0; i < 5; i++)
        {
            await manager.TriggerAsync(Ct);
        }

        manager.GetRetainedCheckpoints().Select(c => c.Id).ShouldBe([4ul, 5ul]);
        using var store = new FileManifestStore(dir.Path);
        (await store.ListAsync(Ct)).Select(e => e.CheckpointId).ShouldBe([4ul, 5ul]);
    }

    [Fact]
    public async Task OpenAsync_MoreCheckpointsThanRetained_LoadsTheNewestAndPrunesOnTheNextTrigger()
    {
        using var dir = new TempDirectory();
        await using (var unlimited = await OpenAsync(new StreamCheckpointOptions { DataDirectory = dir.Path }))
        {
            for (var i = 0; i < 4; i++)
            {
                await unlimited.TriggerAsync(Ct);
            }
        }

        using var store = new FileManifestStore(dir.Path);
        await using var limited = await OpenAsync(new StreamCheckpointOptions { DataDirectory = dir.Path, MaxRetainedCheckpoints = 2 });
        limited.GetRetainedCheckpoints().Select(c => c.Id).ShouldBe([3ul, 4ul]);
        (await store.ListAsync(Ct)).Count.ShouldBe(4);
        (await limited.TriggerAsync(Ct)).ShouldBe(5ul);
        (await store.ListAsync(Ct)).Select(e => e.CheckpointId).ShouldBe([4ul, 5ul]);
    }

    [Fact]
    public async Task TriggerAsync_SaveInProgress_DoesNotBlockTheCallerOrTheHotPath()
    {
        using var dir = new TempDirectory();
        using var inner = new FileManifestStore(dir.Path);
        var store = new InstrumentedStore(inner);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var saving = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.BeforeSave = async _ =>
        {
            saving.TrySetResult();
            await gate.Task;
        };
        await using var manager = await OpenAsync(new StreamCheckpointOptions(), store);
        var source = manager.RegisterSource("src");

        var trigger = manager.TriggerAsync(Ct);
        await saving.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        trigger.IsCompleted.ShouldBeFalse();

        // While the save waits: the hot path, registration, queries and an in-memory capture all proceed.
        source.PublishSequence(11);
        manager.RegisterSink("sink", 3);
        manager.Epoch.ShouldBe(1ul);
        manager.LastCheckpointId.ShouldBeNull(); // retained only once durable
        var second = manager.TriggerAsync(Ct);
        second.IsCompleted.ShouldBeFalse(); // queued behind the first save, in id order

        gate.SetResult();
        (await trigger).ShouldBe(1ul);
        (await second).ShouldBe(2ul);
        manager.GetCheckpoint(2)!.SourceSequences["src"].ShouldBe(11ul);
        store.Saves.ShouldBe(2);
    }

    [Fact]
    public async Task SyncTriggers_PersistentManager_ThrowPointingToTheAsyncOnes()
    {
        using var dir = new TempDirectory();
        var time = new FakeTimeProvider(Start);
        await using var manager = await StreamCheckpointManager.OpenAsync(new StreamCheckpointOptions { DataDirectory = dir.Path, Interval = TimeSpan.FromSeconds(1) }, timeProvider: time, cancellationToken: Ct);
        Should.Throw<InvalidOperationException>(() => manager.Trigger()).Message.ShouldContain("TriggerAsync");
        Should.Throw<InvalidOperationException>(() => manager.Checkpoint());
        manager.TriggerIfDue().ShouldBeNull(); // not due: no I/O, no error
        time.Advance(TimeSpan.FromSeconds(1));
        Should.Throw<InvalidOperationException>(() => manager.TriggerIfDue()).Message.ShouldContain("TriggerIfDueAsync");
        Directory.Exists(Path.Combine(dir.Path, "checkpoints")).ShouldBeFalse();
    }

    [Fact]
    public async Task TriggerIfDueAsync_BeforeAndAfterInterval_SavesOnlyWhenDue()
    {
        using var dir = new TempDirectory();
        var time = new FakeTimeProvider(Start);
        await using var manager = await StreamCheckpointManager.OpenAsync(new StreamCheckpointOptions { DataDirectory = dir.Path, Interval = TimeSpan.FromSeconds(5) }, timeProvider: time, cancellationToken: Ct);
        (await manager.TriggerIfDueAsync(Ct)).ShouldBeNull();
        time.Advance(TimeSpan.FromSeconds(5));
        (await manager.TriggerIfDueAsync(Ct)).ShouldBe(1ul);
        (await manager.TriggerIfDueAsync(Ct)).ShouldBeNull();
        (await manager.CheckpointAsync(Ct)).ShouldBe(2ul);
        using var store = new FileManifestStore(dir.Path);
        (await store.ListAsync(Ct)).Select(e => e.CheckpointId).ShouldBe([1ul, 2ul]);
    }

    [Fact]
    public async Task TriggerAsync_SaveFails_ThrowsDoesNotRetainAndNeverReusesTheId()
    {
        using var dir = new TempDirectory();
        var data = Path.Combine(dir.Path, "stream");
        await using var manager = await OpenAsync(new StreamCheckpointOptions { DataDirectory = data });
        (await manager.TriggerAsync(Ct)).ShouldBe(1ul);

        // Replace the checkpoints directory with a plain file: creating anything in it fails even for root.
        var checkpoints = Path.Combine(data, "checkpoints");
        Directory.Delete(checkpoints, recursive: true);
        File.WriteAllText(checkpoints, "not a directory");
        (await Should.ThrowAsync<CheckpointException>(async () => await manager.TriggerAsync(Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.WriteFailed);
        manager.RetainedCheckpointCount.ShouldBe(1);
        manager.LastCheckpointId.ShouldBe(1ul);

        File.Delete(checkpoints);
        (await manager.TriggerAsync(Ct)).ShouldBe(3ul); // id 2 stays used: ids never repeat
    }

    [Fact]
    public async Task OpenAsync_StoreOfSomethingElse_IsRefusedAsMisconfigured()
    {
        using var dir = new TempDirectory();
        using (var store = new FileManifestStore(dir.Path))
        {
            await store.SaveAsync(new CheckpointManifest { CheckpointId = 1, Epoch = 1, CreatedAt = Start }, cancellationToken: Ct);
        }

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await OpenAsync(new StreamCheckpointOptions { DataDirectory = dir.Path }));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
        ex.Message.ShouldContain(StreamSnapshotStore.OperatorName);
    }

    [Fact]
    public async Task OpenAsync_NeitherStoreNorDirectory_Throws() =>
        (await Should.ThrowAsync<ArgumentException>(async () => await OpenAsync(new StreamCheckpointOptions()))).Message.ShouldContain("DataDirectory");

    [Theory]
    [InlineData(3, new ulong[] { 10, 11, 12 })]
    [InlineData(1, new ulong[] { 12 })]
    public async Task OpenAsync_RetainingSomeOfTwelve_ListsOnceAndReadsEachKeptCheckpointOnce(int retain, ulong[] kept)
    {
        using var dir = new TempDirectory();
        await using (var writer = await OpenAsync(new StreamCheckpointOptions { DataDirectory = dir.Path }))
        {
            var source = writer.RegisterSource("src");
            for (var i = 0; i < 12; i++)
            {
                source.IncrementSequenceSingleWriter();
                await writer.TriggerAsync(Ct);
            }
        }

        using var files = new FileManifestStore(dir.Path);
        var store = new InstrumentedStore(files);
        await using var manager = await OpenAsync(new StreamCheckpointOptions { MaxRetainedCheckpoints = retain }, store);

        manager.GetRetainedCheckpoints().Select(c => c.Id).ShouldBe(kept);
        manager.GetCheckpoint(kept[0])!.SourceSequences["src"].ShouldBe(kept[0]);
        (await manager.TriggerAsync(Ct)).ShouldBe(13ul);

        // The walk's listing is the only one: the store is never asked to list (nor to read all twelve manifests).
        store.Lists.ShouldBe(0);

        // The walk validated checkpoint 12 (manifest and sidecar) and handed both on; each older kept one is read once.
        store.Loads.ShouldBe(retain - 1);
        store.OperatorStateLoads.ShouldBe(retain - 1);
    }
}
