using System.Collections.Immutable;
using System.Text.Json;
using Cdc.Checkpoint.Cli.Tests.Support;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Manifests;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Cli.Tests;

public sealed class ManifestsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Checkpoints => Path.Combine(_dir.Path, FileManifestStore.CheckpointsDirectoryName);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Checkpoints 1-3 with a PostgreSQL source and a sink; 2 and 3 keep operator state in a sidecar.</summary>
    private async Task<FileManifestStore> SaveThreeAsync()
    {
        var store = new FileManifestStore(_dir.Path, new FileManifestStoreOptions { RetainCount = 0, Codecs = Fixtures.Options.Codecs });
        for (ulong id = 1; id <= 3; id++)
        {
            var manifest = new CheckpointManifest
            {
                CheckpointId = id,
                Epoch = id,
                CreatedAt = new DateTimeOffset(2026, 11, 21, 12, 0, (int)id, TimeSpan.Zero),
                SourceOffsets = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("orders", new SourcePosition(Fixtures.Pg($"0/{id}00"), id * 10))]),
                SinkEpochs = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("warehouse", id)]),
                SinkCommitStatuses = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("warehouse", id == 3 ? SinkCommitStatus.Pending : SinkCommitStatus.Committed)]),
            };
            await store.SaveAsync(manifest, id == 1 ? default : new byte[] { 1, 2, 3, (byte)id }, Ct);
        }

        // The writer's owner lease ends with it, as when a consumer stops; the tool then runs as the only process.
        await store.DisposeAsync();
        return store;
    }

    private string SidecarOf(ulong id) => Path.Combine(Checkpoints, $"checkpoint_{id:D6}", StateSidecarInfo.FileName);

    [Fact]
    public async Task ManifestsList_ShowsEveryCheckpointAndTheLatestPointer()
    {
        await SaveThreeAsync();
        var before = DirectorySnapshot.Take(_dir.Path);

        var json = (await Tool.RunAsync("manifests", "list", _dir.Path, "--json")).ShouldExit(0).Json();
        var text = (await Tool.RunAsync("manifests", "list", _dir.Path)).ShouldExit(0).StdOut;

        json.GetProperty("root").GetString().ShouldBe(_dir.Path);
        json.GetProperty("latest_pointer").GetUInt64().ShouldBe(3UL);
        var checkpoints = json.GetProperty("checkpoints").EnumerateArray().ToList();
        checkpoints.Select(c => c.GetProperty("id").GetUInt64()).ShouldBe([1UL, 2UL, 3UL]);
        checkpoints[1].GetProperty("epoch").GetUInt64().ShouldBe(2UL);
        checkpoints[1].GetProperty("sources")[0].GetString().ShouldBe("orders: slot=orders_slot lsn=0/200");
        checkpoints.ShouldAllBe(c => c.GetProperty("problem").ValueKind == JsonValueKind.Null);
        text.ShouldContain("Latest pointer: 3");
        text.ShouldContain("orders: slot=orders_slot lsn=0/300");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task ManifestsList_CorruptManifest_IsShownUnreadableAndExitIsOne()
    {
        await SaveThreeAsync();
        File.WriteAllText(Path.Combine(Checkpoints, "checkpoint_000002", "manifest.json"), "{ torn");
        var before = DirectorySnapshot.Take(_dir.Path);

        var json = (await Tool.RunAsync("manifests", "list", _dir.Path, "--json")).ShouldExit(1).Json();

        var second = json.GetProperty("checkpoints")[1];
        second.GetProperty("id").GetUInt64().ShouldBe(2UL);
        second.GetProperty("problem").GetString()!.ShouldContain("manifest.json");
        json.GetProperty("checkpoints")[2].GetProperty("problem").ValueKind.ShouldBe(JsonValueKind.Null);
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task ManifestsValidate_AllUsable_ExitsZeroWithWarnings()
    {
        await SaveThreeAsync();
        var before = DirectorySnapshot.Take(_dir.Path);

        var json = (await Tool.RunAsync("manifests", "validate", _dir.Path, "--json")).ShouldExit(0).Json();

        json.GetProperty("ok").GetBoolean().ShouldBeTrue();
        var third = json.GetProperty("checkpoints")[2];
        third.GetProperty("valid").GetBoolean().ShouldBeTrue();
        third.GetProperty("findings")[0].GetProperty("severity").GetString().ShouldBe("warning");
        third.GetProperty("findings")[0].GetProperty("message").GetString()!.ShouldContain("sink 'warehouse' has not confirmed");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task ManifestsValidate_DamagedSidecarAndOrphan_AreReportedAndExitIsOne()
    {
        await SaveThreeAsync();
        File.WriteAllBytes(SidecarOf(3), [9, 9, 9, 9]);
        var orphan = Path.Combine(Checkpoints, "checkpoint_000004");
        Directory.CreateDirectory(orphan, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var before = DirectorySnapshot.Take(_dir.Path);

        var json = (await Tool.RunAsync("manifests", "validate", _dir.Path, "--json")).ShouldExit(1).Json();
        var only2 = (await Tool.RunAsync("manifests", "validate", _dir.Path, "--id", "2")).ShouldExit(0).StdOut;
        var only3 = (await Tool.RunAsync("manifests", "validate", _dir.Path, "--id", "3")).ShouldExit(1).StdOut;

        json.GetProperty("ok").GetBoolean().ShouldBeFalse();
        var third = json.GetProperty("checkpoints")[2];
        third.GetProperty("valid").GetBoolean().ShouldBeFalse();
        third.GetProperty("findings").EnumerateArray().ShouldContain(f => f.GetProperty("severity").GetString() == "fatal" && f.GetProperty("message").GetString()!.Contains("checksum mismatch"));
        json.GetProperty("notes").EnumerateArray().ShouldContain(n => n.GetProperty("path").GetString() == orphan && n.GetProperty("message").GetString()!.Contains("has no manifest"));
        only2.ShouldContain("checkpoint 2: valid");
        only3.ShouldContain("checkpoint 3: INVALID");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task ManifestsRecover_NewestDamaged_RecoversTheNewestValidAndNamesTheSkipped()
    {
        await SaveThreeAsync();
        File.Delete(SidecarOf(3));
        var before = DirectorySnapshot.Take(_dir.Path);

        var json = (await Tool.RunAsync("manifests", "recover", _dir.Path, "--json")).ShouldExit(0).Json();
        var text = (await Tool.RunAsync("manifests", "recover", _dir.Path)).ShouldExit(0).StdOut;

        var recovered = json.GetProperty("recovered");
        recovered.GetProperty("id").GetUInt64().ShouldBe(2UL);
        recovered.GetProperty("epoch").GetUInt64().ShouldBe(2UL);
        recovered.GetProperty("sources")[0].GetProperty("offset").GetString().ShouldBe("slot=orders_slot lsn=0/200");
        recovered.GetProperty("sources")[0].GetProperty("committed_event_count").GetUInt64().ShouldBe(20UL);
        recovered.GetProperty("sinks")[0].GetProperty("status").GetString().ShouldBe("committed");
        json.GetProperty("skipped")[0].GetProperty("id").GetUInt64().ShouldBe(3UL);
        json.GetProperty("skipped")[0].GetProperty("reason").GetString()!.ShouldContain("was not found");
        json.GetProperty("highest_checkpoint_id").GetUInt64().ShouldBe(3UL);
        text.ShouldContain("skipped checkpoint 3:");
        text.ShouldContain("Recover from checkpoint 2 (epoch 2");
        text.ShouldContain("The next checkpoint id must be above 3.");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task ManifestsRecover_NoValidCheckpoint_ExitsOne()
    {
        var store = await SaveThreeAsync();
        foreach (var id in new ulong[] { 1, 2, 3 })
        {
            File.WriteAllText(Path.Combine(store.GetCheckpointDirectory(id), "manifest.json"), "[]");
        }

        var before = DirectorySnapshot.Take(_dir.Path);

        (await Tool.RunAsync("manifests", "recover", _dir.Path)).ShouldExit(1).ShouldReportBriefly(1, "None of the 3 checkpoints", "is not a fresh start");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task ManifestsRecover_EmptyStore_IsAFreshStart()
    {
        Directory.CreateDirectory(Checkpoints, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var json = (await Tool.RunAsync("manifests", "recover", _dir.Path, "--json")).ShouldExit(0).Json();

        json.GetProperty("recovered").ValueKind.ShouldBe(JsonValueKind.Null);
        json.GetProperty("skipped").GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task ManifestsRecover_CleanupOrphans_RemovesOrphansAndTempFilesOnly()
    {
        await SaveThreeAsync();
        var orphan = Path.Combine(Checkpoints, "checkpoint_000002");
        File.Delete(Path.Combine(orphan, "manifest.json")); // an interrupted save of 2 left only its sidecar
        var temp = Path.Combine(Checkpoints, "latest.0a1b2c3d4e5f.tmp");
        File.WriteAllText(temp, "4");

        var json = (await Tool.RunAsync("manifests", "recover", _dir.Path, "--cleanup-orphans", "--json")).ShouldExit(0).Json();

        json.GetProperty("recovered").GetProperty("id").GetUInt64().ShouldBe(3UL);
        json.GetProperty("removed_orphan_checkpoints")[0].GetUInt64().ShouldBe(2UL);
        json.GetProperty("removed_temp_files")[0].GetString().ShouldBe(temp);
        Directory.Exists(orphan).ShouldBeFalse();
        File.Exists(temp).ShouldBeFalse();
        File.Exists(Path.Combine(Checkpoints, "checkpoint_000001", "manifest.json")).ShouldBeTrue();
        File.Exists(Path.Combine(Checkpoints, "checkpoint_000003", "manifest.json")).ShouldBeTrue();
        FileCheckpoint.GetLeaseStatus(_dir.Path).Owner.ShouldNotBeNull().ProcessId.ShouldNotBe(Environment.ProcessId);
    }

    [Fact]
    public async Task ManifestsRecover_CleanupWhileLeaseHeld_IsRefusedAndChangesNoByte()
    {
        await SaveThreeAsync();
        File.Delete(Path.Combine(Checkpoints, "checkpoint_000002", "manifest.json"));
        _dir.Write(FileCheckpoint.LeaseFileName, string.Empty);
        await using var holder = await FlockHolder.HoldAsync(_dir.Path);
        var before = DirectorySnapshot.Take(_dir.Path);

        (await Tool.RunAsync("manifests", "recover", _dir.Path, "--cleanup-orphans")).ShouldExit(1).ShouldReportBriefly(1, "Refusing to clean up", "Nothing was changed.");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Manifests_NotAManifestStore_ExitsOne()
    {
        (await Tool.RunAsync("manifests", "list", _dir.Path)).ShouldExit(1).ShouldReportBriefly(1, "holds no manifest store", "'checkpoints'");
        (await Tool.RunAsync("manifests", "validate", _dir.File("missing"))).ShouldExit(1).ShouldReportBriefly(1, "does not exist");
        Directory.EnumerateFileSystemEntries(_dir.Path).ShouldBeEmpty();
    }
}
