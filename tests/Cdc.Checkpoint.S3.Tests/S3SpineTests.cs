using System.Collections.Immutable;
using System.Globalization;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Streaming;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.S3.Tests;

/// <summary>
/// The one persistence spine over a real Ceph RGW: the streaming engine persists through <see cref="S3ManifestStore"/>
/// exactly as through <see cref="FileManifestStore"/>, and both stores run the same recovery walk.
/// </summary>
public sealed class S3SpineTests(RgwFixture rgw) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-s3-spine-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task StreamCheckpointManager_OverS3Store_SavesRecoversAndContinuesIds()
    {
        var prefix = RgwFixture.NewPrefix();
        using (var store = new S3ManifestStore(rgw.Options(prefix)))
        {
            await using var first = await StreamCheckpointManager.OpenAsync(new StreamCheckpointOptions(), store, cancellationToken: Ct);
            var source = first.RegisterSource("orders");
            source.PublishSequence(7);
            first.RegisterSink("warehouse", 3);
            first.SetOperatorState("dedup", [1, 2, 3]);
            (await first.TriggerAsync(Ct)).ShouldBe(1UL);
            source.PublishSequence(9);
            (await first.TriggerAsync(Ct)).ShouldBe(2UL);
            (await rgw.ExistsAsync(store.GetSidecarKey(2))).ShouldBeTrue();
            (await rgw.ReadTextAsync(store.LatestPointerKey)).ShouldBe("""{"checkpoint_id":2}""");
        }

        using var reopened = new S3ManifestStore(rgw.Options(prefix));
        await using var second = await StreamCheckpointManager.OpenAsync(new StreamCheckpointOptions(), reopened, cancellationToken: Ct);
        var restored = second.Restore();
        restored.Id.ShouldBe(2UL);
        restored.SourceSequences["orders"].ShouldBe(9UL);
        restored.SinkPositions["warehouse"].ShouldBe(3UL);
        restored.OperatorStates["dedup"].ToArray().ShouldBe([1, 2, 3]);
        second.GetCheckpoint(1)!.SourceSequences["orders"].ShouldBe(7UL);
        (await second.TriggerAsync(Ct)).ShouldBe(3UL);
    }

    [Fact]
    public async Task StreamCheckpointManager_LegacySnapshotDirectory_IsMovedIntoTheS3Store()
    {
        var legacy = new StreamCheckpoint(4, 4, 1_706_400_000_000, new Dictionary<string, ulong> { ["orders"] = 40 });
        var file = Path.Combine(_dir, "stream-checkpoint-" + 4UL.ToString("D20", CultureInfo.InvariantCulture) + ".snap");
        await File.WriteAllBytesAsync(file, StreamSnapshotCodec.Encode(legacy), Ct);
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        using var store = new S3ManifestStore(rgw.Options(RgwFixture.NewPrefix()));
        await using (var manager = await StreamCheckpointManager.OpenAsync(new StreamCheckpointOptions { DataDirectory = _dir }, store, cancellationToken: Ct))
        {
            manager.Restore().ShouldBe(legacy);
            (await manager.TriggerAsync(Ct)).ShouldBe(5UL);
        }

        File.Exists(file).ShouldBeFalse();
        (await store.ListAsync(Ct)).Select(e => e.CheckpointId).ShouldBe([4UL, 5UL]);
    }

    [Theory]
    [InlineData("sidecar")]
    [InlineData("manifest")]
    public async Task RecoverLatestValidAsync_CorruptNewest_IsSkippedAndReportedIdenticallyByBothStores(string damage)
    {
        using var s3 = new S3ManifestStore(rgw.Options(RgwFixture.NewPrefix()));
        using var file = new FileManifestStore(Path.Combine(_dir, "store"));
        foreach (IManifestStore store in new IManifestStore[] { s3, file })
        {
            for (ulong id = 1; id <= 2; id++)
            {
                await store.SaveAsync(WithSidecarState(RgwFixture.Manifest(id, id)), "state-bytes"u8.ToArray(), Ct);
            }
        }

        var fileSidecar = Path.Combine(file.GetCheckpointDirectory(2), StateSidecarInfo.FileName);
        var fileManifest = Path.Combine(file.GetCheckpointDirectory(2), "manifest.json");
        if (damage == "sidecar")
        {
            await rgw.PutRawAsync(s3.GetSidecarKey(2), "STATE-bytes"u8.ToArray());
            await File.WriteAllBytesAsync(fileSidecar, "STATE-bytes"u8.ToArray(), Ct);
        }
        else
        {
            await rgw.PutRawAsync(s3.GetManifestKey(2), "{\"checkpoint_id\": 2, truncated"u8.ToArray());
            await File.WriteAllBytesAsync(fileManifest, "{\"checkpoint_id\": 2, truncated"u8.ToArray(), Ct);
        }

        var fromS3 = (await s3.RecoverLatestValidAsync(Ct)).ShouldNotBeNull();
        var fromFile = (await file.RecoverLatestValidAsync(Ct)).ShouldNotBeNull();
        foreach (var recovery in new[] { fromS3, fromFile })
        {
            recovery.Manifest.CheckpointId.ShouldBe(1UL);
            recovery.Skipped.Select(s => s.CheckpointId).ShouldBe([2UL]);
            recovery.HighestCheckpointId.ShouldBe(2UL);
            recovery.Examined.ShouldBe(2);
        }

        // The same walk: the reasons differ only in the name of the damaged object.
        var s3Reason = fromS3.Skipped[0].Reason.Replace(damage == "sidecar" ? s3.GetSidecarKey(2) : s3.GetManifestKey(2), "<object>", StringComparison.Ordinal);
        var fileReason = fromFile.Skipped[0].Reason.Replace(damage == "sidecar" ? fileSidecar : fileManifest, "<object>", StringComparison.Ordinal);
        s3Reason.ShouldBe(fileReason);
        s3Reason.ShouldContain(damage == "sidecar" ? "checksum mismatch" : "corrupt manifest");
    }

    private static CheckpointManifest WithSidecarState(CheckpointManifest manifest) => new()
    {
        CheckpointId = manifest.CheckpointId,
        Epoch = manifest.Epoch,
        CreatedAt = manifest.CreatedAt,
        SourceOffsets = manifest.SourceOffsets,
        OperatorStates = new Dictionary<string, OperatorState>(StringComparer.Ordinal) { ["window"] = OperatorState.InSidecar(0, 11) }
            .ToImmutableSortedDictionary(StringComparer.Ordinal),
    };
}
