using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.Postgres.Store;
using Cdc.Checkpoint.Postgres.Tests.Support;
using Cdc.Checkpoint.TestServers;
using Npgsql;
using NpgsqlTypes;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Store;

/// <summary>The read-only inspection API (fence, every row, audit) on a real server: it reads and never acquires or writes.</summary>
public sealed class PostgresStoreReadTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static PostgresOffset Offset(ulong lsn) => new(new NpgsqlLogSequenceNumber(lsn), "store_slot", 7_000_000_000_000_000_001UL, 1, "app");

    [Fact]
    public async Task Reads_NameNeverUsed_ReturnNullAndEmptyAndAcquireNothing()
    {
        var dataSource = await StoreDatabase.GetAsync();
        var store = StoreDatabase.NewStore(dataSource);

        (await store.ReadFenceAsync(Ct)).ShouldBeNull();
        (await store.ListAsync(Ct)).ShouldBeEmpty();
        (await store.ReadAuditAsync(10, Ct)).ShouldBeEmpty();

        store.Epoch.ShouldBe(0);
        (await store.ReadFenceAsync(Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task Reads_AfterSavesAndRewinds_ReturnFenceEveryRowAndNewestAuditFirst()
    {
        var dataSource = await StoreDatabase.GetAsync();
        var clock = new FakeTimeProvider();
        var time = clock.GetUtcNow();
        var store = StoreDatabase.NewStore(dataSource, owner: "host-a", timeProvider: clock);
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

        var rows = await store.ListAsync(Ct);
        rows.Select(r => r.SourceType).ShouldBe(["conformance", "postgres"]);
        rows[0].Offset.ShouldBe(new ConformanceOffset(9));
        rows[1].Offset.ShouldBe(Offset(100));
        rows[1].CommittedEventCount.ShouldBe(1UL);
        rows[1].Epoch.ShouldBe(epoch);

        var audit = await store.ReadAuditAsync(10, Ct);
        audit.Select(a => a.Reason).ShouldBe(["second rewind", "first rewind"]);
        audit[0].Id.ShouldBeGreaterThan(audit[1].Id);
        audit[0].SourceType.ShouldBe("postgres");
        audit[0].OldCount.ShouldBe(2UL);
        audit[0].NewCount.ShouldBe(1UL);
        audit[0].Epoch.ShouldBe(epoch);
        audit[0].At.ShouldBe(time);
        Offset(200).Codec.Read("postgres", System.Text.Json.JsonDocument.Parse(audit[0].OldOffsetJson!).RootElement, 2).ShouldBe(Offset(200));
        Offset(100).Codec.Read("postgres", System.Text.Json.JsonDocument.Parse(audit[0].NewOffsetJson).RootElement, 2).ShouldBe(Offset(100));
        audit[1].OldCount.ShouldBe(3UL);

        (await store.ReadAuditAsync(1, Ct)).Single().Reason.ShouldBe("second rewind");
    }

    [Fact]
    public async Task ReadAuditAsync_RewindOfAMissingRow_HasNoOldOffset()
    {
        var dataSource = await StoreDatabase.GetAsync();
        var store = StoreDatabase.NewStore(dataSource);
        await store.RewindAsync(Offset(100), 1, "seed", Ct);

        var entry = (await store.ReadAuditAsync(5, Ct)).Single();
        entry.OldOffsetJson.ShouldBeNull();
        entry.OldCount.ShouldBeNull();
    }

    [Fact]
    public async Task Reads_ByAnotherInstance_DoNotFenceTheOwner()
    {
        var dataSource = await StoreDatabase.GetAsync();
        var owner = StoreDatabase.NewStore(dataSource);
        await owner.SaveAsync(Offset(100), 1, Ct);

        var reader = StoreDatabase.NewStore(dataSource, owner.Name);
        (await reader.ReadFenceAsync(Ct)).ShouldNotBeNull().Epoch.ShouldBe(owner.Epoch);
        (await reader.ListAsync(Ct)).Count.ShouldBe(1);
        (await reader.ReadAuditAsync(1, Ct)).ShouldBeEmpty();

        await owner.SaveAsync(Offset(200), 2, Ct);
        (await reader.ReadFenceAsync(Ct)).ShouldNotBeNull().Epoch.ShouldBe(owner.Epoch);
    }

    [Fact]
    public async Task ReadAuditAsync_LimitBelowOne_ThrowsArgumentOutOfRange()
    {
        var dataSource = await StoreDatabase.GetAsync();
        await Should.ThrowAsync<ArgumentOutOfRangeException>(async () => await StoreDatabase.NewStore(dataSource).ReadAuditAsync(0, Ct));
    }

    [Fact]
    public async Task Reads_TablesNotCreated_ThrowMisconfigured()
    {
        var server = await PostgresTestServer.GetAsync(Ct);
        await using var dataSource = NpgsqlDataSource.Create(await server.CreateDatabaseAsync("noread", Ct));
        var store = new PostgresCheckpointStore(dataSource, "orders");

        (await Should.ThrowAsync<CheckpointException>(async () => await store.ReadFenceAsync(Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
        (await Should.ThrowAsync<CheckpointException>(async () => await store.ListAsync(Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
        (await Should.ThrowAsync<CheckpointException>(async () => await store.ReadAuditAsync(1, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
    }
}
