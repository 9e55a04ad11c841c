using System.Text.Json;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Tables;
using Microsoft.Extensions.Time.Testing;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Conformance.TableStores;

/// <summary>
/// The read-only inspection API every <see cref="TableCheckpointStore"/> has (fence, every row, audit), against the
/// provider's real server: it reads and never acquires or writes. A provider's test project runs it by deriving one class
/// that names its <see cref="TableStoreHarness"/>.
/// </summary>
public abstract class TableStoreReadTests : TableStoreSuite
{

    [Fact]
    public async Task Reads_NameNeverUsed_ReturnNullAndEmptyAndAcquireNothing()
    {
        var store = await NewStoreAsync();

        (await store.ReadFenceAsync(Ct)).ShouldBeNull();
        (await store.ListAsync(Ct)).ShouldBeEmpty();
        (await store.ReadAuditAsync(10, Ct)).ShouldBeEmpty();

        store.Epoch.ShouldBe(0);
        (await store.ReadFenceAsync(Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task Reads_AfterSavesAndRewinds_ReturnFenceEveryRowAndNewestAuditFirst()
    {
        var clock = new FakeTimeProvider();
        var time = clock.GetUtcNow();
        var store = await NewStoreAsync(owner: "host-a", timeProvider: clock);
        var sourceType = Offset(1).SourceType;
        var epoch = await store.AcquireAsync(Ct);
        await store.SaveAsync(Offset(300), 3, Ct);
        await store.SaveAsync(new ConformanceOffset(9), 9, Ct);
        await store.RewindAsync(Offset(200), 2, "first rewind", Ct);
        await store.RewindAsync(Offset(100), 1, "second rewind", Ct);

        var fence = (await store.ReadFenceAsync(Ct)).ShouldNotBeNull();
        fence.Name.ShouldBe(store.Name);
        fence.Epoch.ShouldBe(epoch);
        fence.Owner.ShouldBe("host-a");
        fence.AcquiredAt.ShouldBe(time);
        fence.AcquiredAt.Offset.ShouldBe(TimeSpan.Zero);

        var rows = await store.ListAsync(Ct);
        rows.Select(r => r.SourceType).ShouldBe(new[] { ConformanceOffset.Source, sourceType }.Order(StringComparer.Ordinal));
        rows.Single(r => r.SourceType == ConformanceOffset.Source).Offset.ShouldBe(new ConformanceOffset(9));
        var row = rows.Single(r => r.SourceType == sourceType);
        row.Offset.ShouldBe(Offset(100));
        row.CommittedEventCount.ShouldBe(1UL);
        row.Epoch.ShouldBe(epoch);

        var audit = await store.ReadAuditAsync(10, Ct);
        audit.Select(a => a.Reason).ShouldBe(["second rewind", "first rewind"]);
        audit[0].Id.ShouldBeGreaterThan(audit[1].Id);
        audit[0].SourceType.ShouldBe(sourceType);
        audit[0].OldCount.ShouldBe(2UL);
        audit[0].NewCount.ShouldBe(1UL);
        audit[0].Epoch.ShouldBe(epoch);
        audit[0].At.ShouldBe(time);
        ReadOffset(audit[0].OldOffsetJson.ShouldNotBeNull()).ShouldBe(Offset(200));
        ReadOffset(audit[0].NewOffsetJson).ShouldBe(Offset(100));
        audit[1].OldCount.ShouldBe(3UL);

        (await store.ReadAuditAsync(1, Ct)).Single().Reason.ShouldBe("second rewind");
    }

    [Fact]
    public async Task ReadAuditAsync_RewindOfAMissingRow_HasNoOldOffset()
    {
        var store = await NewStoreAsync();
        await store.RewindAsync(Offset(100), 1, "seed", Ct);

        var entry = (await store.ReadAuditAsync(5, Ct)).Single();
        entry.OldOffsetJson.ShouldBeNull();
        entry.OldCount.ShouldBeNull();
    }

    [Fact]
    public async Task Reads_ByAnotherInstance_DoNotFenceTheOwner()
    {
        var owner = await NewStoreAsync();
        await owner.SaveAsync(Offset(100), 1, Ct);

        var reader = await NewStoreAsync(owner.Name);
        (await reader.ReadFenceAsync(Ct)).ShouldNotBeNull().Epoch.ShouldBe(owner.Epoch);
        (await reader.ListAsync(Ct)).Count.ShouldBe(1);
        (await reader.ReadAuditAsync(1, Ct)).ShouldBeEmpty();

        await owner.SaveAsync(Offset(200), 2, Ct);
        (await reader.ReadFenceAsync(Ct)).ShouldNotBeNull().Epoch.ShouldBe(owner.Epoch);
        reader.Epoch.ShouldBe(0);
    }

    [Fact]
    public async Task ReadAuditAsync_LimitBelowOne_ThrowsArgumentOutOfRange()
    {
        var store = await NewStoreAsync();
        await Should.ThrowAsync<ArgumentOutOfRangeException>(async () => await store.ReadAuditAsync(0, Ct));
    }

    [Fact]
    public async Task Reads_TablesNotCreated_ThrowMisconfigured()
    {
        var store = await Harness.NewStoreWithoutTablesAsync();

        (await Should.ThrowAsync<CheckpointException>(async () => await store.ReadFenceAsync(Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
        (await Should.ThrowAsync<CheckpointException>(async () => await store.ListAsync(Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
        (await Should.ThrowAsync<CheckpointException>(async () => await store.ReadAuditAsync(1, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
    }

    // An audit row's offset JSON, read back with the provider offset's codec (the file checkpoint's v2 shape).
    private CheckpointOffset ReadOffset(string json)
    {
        var offset = Offset(1);
        using var document = JsonDocument.Parse(json);
        return offset.Codec.Read(offset.SourceType, document.RootElement, 2);
    }
}
