using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Offsets;
using Shouldly;
using Xunit;
using static Cdc.Checkpoint.Tests.Manifests.Manifests;

namespace Cdc.Checkpoint.Tests.Manifests;

public sealed class ManifestCheckpointStoreTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Task<ManifestCheckpointStore> OpenAsync(IManifestStore? store = null) =>
        ManifestCheckpointStore.OpenAsync(store ?? Store(_dir), cancellationToken: Ct).AsTask();

    [Fact]
    public async Task LoadAsync_NothingSaved_ReturnsNull()
    {
        await using var store = await OpenAsync();

        (await store.LoadAsync("postgres", Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task SaveAsync_ThenLoad_ReturnsTheRecordAndItSurvivesAReopen()
    {
        var offset = new TestSeqOffset("slot", 100);
        await using (var store = await OpenAsync())
        {
            await store.SaveAsync(offset, 7, Ct);

            var record = (await store.LoadAsync(TestSeqOffset.Type, Ct))!;
            record.Offset.ShouldBe(offset);
            record.CommittedEventCount.ShouldBe(7UL);
            record.Sequence.ShouldBe(1UL);
        }

        await using var reopened = await OpenAsync();
        var reloaded = (await reopened.LoadAsync(TestSeqOffset.Type, Ct))!;
        reloaded.Offset.ShouldBe(offset);
        reloaded.CommittedEventCount.ShouldBe(7UL);
        reloaded.FormatVersion.ShouldBe(CheckpointManifest.CurrentFormatVersion);
        reloaded.SavedAt.ShouldNotBeNull();
    }

    [Fact]
    public async Task SaveAsync_LowerCount_IsRefusedAndNothingIsWritten()
    {
        var manifests = new InstrumentedStore(Store(_dir));
        await using var store = await OpenAsync(manifests);
        await store.SaveAsync(new TestSeqOffset("slot", 100), 10, Ct);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(new TestSeqOffset("slot", 200), 9, Ct));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        manifests.Saves.ShouldBe(1);
        (await store.LoadAsync(TestSeqOffset.Type, Ct))!.CommittedEventCount.ShouldBe(10UL);
    }

    [Fact]
    public async Task SaveAsync_OffsetBehindWithHigherCount_IsRefused()
    {
        await using var store = await OpenAsync();
        await store.SaveAsync(new TestSeqOffset("slot", 100), 10, Ct);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(new TestSeqOffset("slot", 50), 11, Ct));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
    }

    [Fact]
    public async Task SaveAsync_SameCountOtherOffset_IsAConflict()
    {
        await using var store = await OpenAsync();
        await store.SaveAsync(GenericOffset.Parse("kafka", "1"), 10, Ct);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(GenericOffset.Parse("kafka", "2"), 10, Ct));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.ConflictingOffset);
    }

    [Fact]
    public async Task SaveAsync_ExactRepeat_IsIdempotentWithoutAWrite()
    {
        var manifests = new InstrumentedStore(Store(_dir));
        await using var store = await OpenAsync(manifests);
        await store.SaveAsync(new TestSeqOffset("slot", 100), 10, Ct);

        await store.SaveAsync(new TestSeqOffset("slot", 100), 10, Ct);

        manifests.Saves.ShouldBe(1);
    }

    [Fact]
    public async Task SaveAsync_RepeatAfterAFailedWrite_WritesIt()
    {
        var manifests = new InstrumentedStore(Store(_dir));
        var fail = true;
        manifests.BeforeSave = _ => fail ? throw new CheckpointException(CheckpointErrorCode.WriteFailed, "injected") : Task.CompletedTask;
        await using var store = await OpenAsync(manifests);
        await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(new TestSeqOffset("slot", 100), 10, Ct));
        (await store.LoadAsync(TestSeqOffset.Type, Ct)).ShouldBeNull();

        fail = false;
        await store.SaveAsync(new TestSeqOffset("slot", 100), 10, Ct);

        (await store.LoadAsync(TestSeqOffset.Type, Ct))!.CommittedEventCount.ShouldBe(10UL);
        (await Store(_dir).LoadLatestAsync(Ct))!.SourceOffsets[TestSeqOffset.Type].CommittedEventCount.ShouldBe(10UL);
    }

    [Fact]
    public async Task RewindAsync_MovesBackDurably()
    {
        await using (var store = await OpenAsync())
        {
            await store.SaveAsync(new TestSeqOffset("slot", 100), 10, Ct);
            await store.RewindAsync(new TestSeqOffset("slot", 40), 4, "replay", Ct);
        }

        await using var reopened = await OpenAsync();
        (await reopened.LoadAsync(TestSeqOffset.Type, Ct))!.Offset.ShouldBe(new TestSeqOffset("slot", 40));
        await Should.ThrowAsync<ArgumentException>(async () => await reopened.RewindAsync(new TestSeqOffset("slot", 1), 1, "", Ct));
    }

    [Fact]
    public async Task SaveAsync_SourcesOfSeveralTypes_ShareOneManifest()
    {
        await using var store = await OpenAsync();

        await Task.WhenAll(
            store.SaveAsync(new TestSeqOffset("slot", 1), 1, Ct).AsTask(),
            store.SaveAsync(GenericOffset.Parse("kafka", "5"), 5, Ct).AsTask(),
            store.SaveAsync(GenericOffset.Parse("mysql", "\"uuid:1-9\""), 9, Ct).AsTask());

        var latest = (await Store(_dir).LoadLatestAsync(Ct))!;
        latest.SourceOffsets.Keys.ShouldBe(["kafka", "mysql", TestSeqOffset.Type]);
    }

    [Fact]
    public async Task LoadAsync_InvalidSourceType_ThrowsArgumentException()
    {
        await using var store = await OpenAsync();

        await Should.ThrowAsync<ArgumentException>(async () => await store.LoadAsync("../etc", Ct));
    }
}
