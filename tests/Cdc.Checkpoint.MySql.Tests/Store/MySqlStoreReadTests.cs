using System.Text.Json;
using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Store;
using Cdc.Checkpoint.TestServers.MariaDb;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Store;

/// <summary>The read-only inspection API (fence, every row, audit) on a real MariaDB: it reads and never acquires or writes.</summary>
public sealed class MySqlStoreReadTests(StoreDatabase database) : IClassFixture<StoreDatabase>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static MariaDbOffset Gtid(ulong sequence) => new(MariaDbGtidPosition.Parse($"0-1-{sequence}"), null, 1);

    [Fact]
    public async Task Reads_NameNeverUsed_ReturnNullAndEmptyAndAcquireNothing()
    {
        var store = database.NewStore();

        (await store.ReadFenceAsync(Ct)).ShouldBeNull();
        (await store.ListAsync(Ct)).ShouldBeEmpty();
        (await store.ReadAuditAsync(10, Ct)).ShouldBeEmpty();

        store.Epoch.ShouldBe(0);
        (await store.ReadFenceAsync(Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task Reads_AfterSavesAndRewinds_ReturnFenceEveryRowAndNewestAuditFirst()
    {
        var options = new MySqlCheckpointStoreOptions { Codecs = database.Options.Codecs, Owner = "host-a" };
        var store = database.NewStore(options: options);
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        var epoch = await store.AcquireAsync(Ct);
        await store.SaveAsync(Gtid(300), 3, Ct);
        await store.SaveAsync(new ConformanceOffset(9), 9, Ct);
        await store.RewindAsync(Gtid(200), 2, "first rewind", Ct);
        await store.RewindAsync(Gtid(100), 1, "second rewind", Ct);

        var fence = (await store.ReadFenceAsync(Ct)).ShouldNotBeNull();
        fence.Name.ShouldBe(store.Name);
        fence.Epoch.ShouldBe(epoch);
        fence.Owner.ShouldBe("host-a");
        fence.AcquiredAt.ShouldBeGreaterThan(before);
        fence.AcquiredAt.Offset.ShouldBe(TimeSpan.Zero);

        var rows = await store.ListAsync(Ct);
        rows.Select(r => r.SourceType).ShouldBe(["conformance", "mariadb"]);
        rows[0].Offset.ShouldBe(new ConformanceOffset(9));
        rows[1].Offset.ShouldBe(Gtid(100));
        rows[1].CommittedEventCount.ShouldBe(1UL);
        rows[1].Epoch.ShouldBe(epoch);

        var audit = await store.ReadAuditAsync(10, Ct);
        audit.Select(a => a.Reason).ShouldBe(["second rewind", "first rewind"]);
        audit[0].Id.ShouldBeGreaterThan(audit[1].Id);
        audit[0].SourceType.ShouldBe("mariadb");
        audit[0].OldCount.ShouldBe(2UL);
        audit[0].NewCount.ShouldBe(1UL);
        audit[0].Epoch.ShouldBe(epoch);
        audit[0].At.ShouldBeGreaterThanOrEqualTo(fence.AcquiredAt);
        MariaDbOffsetCodec.Instance.Read("mariadb", JsonDocument.Parse(audit[0].OldOffsetJson!).RootElement, 2).ShouldBe(Gtid(200));
        MariaDbOffsetCodec.Instance.Read("mariadb", JsonDocument.Parse(audit[0].NewOffsetJson).RootElement, 2).ShouldBe(Gtid(100));
        audit[1].OldCount.ShouldBe(3UL);

        (await store.ReadAuditAsync(1, Ct)).Single().Reason.ShouldBe("second rewind");
    }

    [Fact]
    public async Task ReadAuditAsync_RewindOfAMissingRow_HasNoOldOffset()
    {
        var store = database.NewStore();
        await store.RewindAsync(Gtid(100), 1, "seed", Ct);

        var entry = (await store.ReadAuditAsync(5, Ct)).Single();
        entry.OldOffsetJson.ShouldBeNull();
        entry.OldCount.ShouldBeNull();
    }

    [Fact]
    public async Task Reads_ByAnotherInstance_DoNotFenceTheOwner()
    {
        var owner = database.NewStore();
        await owner.SaveAsync(Gtid(100), 1, Ct);

        var reader = database.NewStore(owner.Name);
        (await reader.ReadFenceAsync(Ct)).ShouldNotBeNull().Epoch.ShouldBe(owner.Epoch);
        (await reader.ListAsync(Ct)).Count.ShouldBe(1);
        (await reader.ReadAuditAsync(1, Ct)).ShouldBeEmpty();

        await owner.SaveAsync(Gtid(200), 2, Ct);
        (await reader.ReadFenceAsync(Ct)).ShouldNotBeNull().Epoch.ShouldBe(owner.Epoch);
    }

    [Fact]
    public async Task ReadAuditAsync_LimitBelowOne_ThrowsArgumentOutOfRange()
    {
        await Should.ThrowAsync<ArgumentOutOfRangeException>(async () => await database.NewStore().ReadAuditAsync(0, Ct));
    }

    [Fact]
    public async Task Reads_TablesNotCreated_ThrowMisconfigured()
    {
        var store = database.NewStore(options: new MySqlCheckpointStoreOptions { Codecs = database.Options.Codecs, TableName = "no_such_checkpoint" });

        (await Should.ThrowAsync<CheckpointException>(async () => await store.ReadFenceAsync(Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
        (await Should.ThrowAsync<CheckpointException>(async () => await store.ListAsync(Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
        (await Should.ThrowAsync<CheckpointException>(async () => await store.ReadAuditAsync(1, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
    }
}
