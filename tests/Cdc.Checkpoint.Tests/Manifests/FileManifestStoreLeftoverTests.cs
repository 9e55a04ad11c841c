using Cdc.Checkpoint.Manifests;
using Shouldly;
using Xunit;
using static Cdc.Checkpoint.Tests.Manifests.Manifests;

namespace Cdc.Checkpoint.Tests.Manifests;

/// <summary>
/// Leftovers of interrupted saves (orphaned checkpoint directories, temp files of the latest pointer) and the automatic
/// prune: the manifest crash torture found that a writer which never called CleanupOrphansAsync kept one more of them
/// after every crash inside a save, for ever.
/// </summary>
public sealed class FileManifestStoreLeftoverTests : IDisposable
{
    private const string LeftoverName = "0a1b2c3d4e5f.tmp";

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SaveAsync_OrphanOlderThanEveryKeptCheckpoint_IsRemovedByTheAutomaticPrune()
    {
        var store = Store(_dir, retain: 2);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);
        var orphan = PlantOrphan(store, 2);
        await store.SaveAsync(Make(3, 3), cancellationToken: Ct);
        await store.SaveAsync(Make(4, 4), cancellationToken: Ct);

        Directory.Exists(orphan).ShouldBeFalse();
        (await store.ListAsync(Ct)).Select(e => e.CheckpointId).ShouldBe([3UL, 4UL]);
    }

    [Fact]
    public async Task SaveAsync_OrphanNewerThanTheOldestKeptCheckpoint_IsLeftForCleanup()
    {
        var store = Store(_dir, retain: 2);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);
        await store.SaveAsync(Make(2, 2), cancellationToken: Ct);
        var between = PlantOrphan(store, 3);
        await store.SaveAsync(Make(4, 4), cancellationToken: Ct);

        // Kept: 2 and 4. The orphan of 3 is above the oldest kept checkpoint, so pruning leaves it; cleanup removes it.
        Directory.Exists(between).ShouldBeTrue();
        (await store.CleanupOrphansAsync(Ct)).RemovedCheckpointDirectories.ShouldBe([3UL]);
        (await store.RecoverLatestValidAsync(Ct))!.Manifest.CheckpointId.ShouldBe(4UL);
    }

    [Fact]
    public async Task SaveAsync_OrphanBelowTheOnlyCheckpoints_IsRemovedEvenUnderTheRetention()
    {
        var store = Store(_dir, retain: 10);
        var orphan = PlantOrphan(store, 1);
        await store.SaveAsync(Make(2, 2), cancellationToken: Ct);

        Directory.Exists(orphan).ShouldBeFalse();
        (await store.LoadLatestAsync(Ct))!.CheckpointId.ShouldBe(2UL);
    }

    [Fact]
    public async Task SaveAsync_LeftoverTempFileOfTheLatestPointer_IsRemovedByTheAutomaticPrune()
    {
        var store = Store(_dir, retain: 10);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);
        var temp = Path.Combine(store.CheckpointsDirectory, "latest." + LeftoverName);
        WritePrivate(temp, "2");

        await store.SaveAsync(Make(2, 2), cancellationToken: Ct);

        File.Exists(temp).ShouldBeFalse();
        (await File.ReadAllTextAsync(store.LatestPointerPath, Ct)).ShouldBe("2\n");
    }

    [Fact]
    public async Task SaveAsync_RetentionOff_LeavesLeftoversAlone()
    {
        var store = Store(_dir, retain: 0);
        var orphan = PlantOrphan(store, 1);
        await store.SaveAsync(Make(2, 2), cancellationToken: Ct);
        var temp = Path.Combine(store.CheckpointsDirectory, "latest." + LeftoverName);
        WritePrivate(temp, "3");
        await store.SaveAsync(Make(3, 3), cancellationToken: Ct);

        Directory.Exists(orphan).ShouldBeTrue();
        File.Exists(temp).ShouldBeTrue();
    }

    [Fact]
    public async Task SaveAsync_WriterCrashingInEverySave_KeepsTheDirectoryBounded()
    {
        // What a writer that never calls CleanupOrphansAsync leaves when it is killed in every other save: an
        // orphaned directory (sidecar written, manifest still a temp file) and a temp file of the pointer.
        var store = Store(_dir, retain: 3);
        ulong id = 0;
        for (var crash = 0; crash < 40; crash++)
        {
            var orphan = PlantOrphan(store, ++id);
            WritePrivate(Path.Combine(orphan, "manifest.json." + LeftoverName), "{ half");
            WritePrivate(Path.Combine(store.CheckpointsDirectory, $"latest.{crash:x12}.tmp"), "9");
            await store.SaveAsync(Make(++id, id), cancellationToken: Ct);
        }

        var checkpoints = Directory.GetDirectories(store.CheckpointsDirectory).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        checkpoints.ShouldBe(
        [
            FileManifestStore.DirectoryNameOf(76), FileManifestStore.DirectoryNameOf(77), FileManifestStore.DirectoryNameOf(78),
            FileManifestStore.DirectoryNameOf(79), FileManifestStore.DirectoryNameOf(80),
        ]);
        Directory.GetFiles(store.CheckpointsDirectory).Select(Path.GetFileName).ShouldBe(["latest"]);
        (await store.RecoverLatestValidAsync(Ct))!.Manifest.CheckpointId.ShouldBe(80UL);
    }

    private static string PlantOrphan(FileManifestStore store, ulong id)
    {
        var directory = store.GetCheckpointDirectory(id);
        WritePrivate(Path.Combine(directory, "state.bin"), "state of an interrupted save");
        return directory;
    }
}
