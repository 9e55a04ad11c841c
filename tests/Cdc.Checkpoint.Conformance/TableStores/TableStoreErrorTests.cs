using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Conformance.TableStores;

/// <summary>
/// The typed errors every <see cref="Tables.TableCheckpointStore"/> gives against its real server: a row that cannot be
/// trusted is never read as a checkpoint nor overwritten, and missing tables name the call that creates them. A provider's
/// test project runs it by deriving one class that names its <see cref="TableStoreHarness"/>.
/// </summary>
public abstract class TableStoreErrorTests : TableStoreSuite
{
    [Fact]
    public async Task LoadAsync_RowWithUnreadableOffset_ThrowsCorruptAndSaveDoesNotOverwriteIt()
    {
        var store = await NewStoreAsync();
        var sourceType = Offset(1).SourceType;
        await store.SaveAsync(Offset(100), 1, Ct);
        await Harness.SetRowColumnAsync(store, sourceType, "offset", Harness.UnreadableOffsetJson);

        var load = await Should.ThrowAsync<CheckpointException>(async () => await store.LoadAsync(sourceType, Ct));
        load.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        load.Message.ShouldContain(store.Name);

        var save = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Offset(200), 2, Ct));
        save.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        (await Should.ThrowAsync<CheckpointException>(async () => await store.LoadAsync(sourceType, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
    }

    [Fact]
    public async Task LoadAsync_UnknownFormatVersion_ThrowsUnsupportedFormatVersion()
    {
        var store = await NewStoreAsync();
        var sourceType = Offset(1).SourceType;
        await store.SaveAsync(Offset(100), 1, Ct);
        await Harness.SetRowColumnAsync(store, sourceType, "format_version", 99);

        (await Should.ThrowAsync<CheckpointException>(async () => await store.LoadAsync(sourceType, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.UnsupportedFormatVersion);
    }

    [Fact]
    public async Task Operations_TablesNotCreated_ThrowMisconfiguredNamingTheFix()
    {
        var store = await Harness.NewStoreWithoutTablesAsync();

        var save = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Offset(1), 1, Ct));
        var load = await Should.ThrowAsync<CheckpointException>(async () => await store.LoadAsync(Offset(1).SourceType, Ct));

        save.ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
        save.Message.ShouldContain("CreateSchemaAsync");
        load.ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
        load.Message.ShouldContain("CreateSchemaAsync");
    }
}
