using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using NpgsqlTypes;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Files;

/// <summary>FileCheckpoint with the real PostgreSQL, MySQL and MariaDB offsets, and the golden files of every format version.</summary>
public sealed class TypedOffsetFileTests : IDisposable
{
    private const ulong SystemId = 7311234567890123456;
    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static FileCheckpointOptions Options => new() { Codecs = OffsetCodecRegistry.Empty.WithPostgres().WithMySql() };

    public void Dispose() => _dir.Dispose();

    private static string GoldenPath(string relative) => Path.Combine(AppContext.BaseDirectory, "Golden", "FileFormat", relative);

    private void CopyGolden(string folder)
    {
        foreach (var file in Directory.GetFiles(GoldenPath(folder)))
        {
            var target = _dir.File(Path.GetFileName(file));
            File.Copy(file, target);
            File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    private static PostgresOffset Pg(string lsn, string slot = "slot_a", ulong? system = SystemId, uint? timeline = 1) =>
        new(NpgsqlLogSequenceNumber.Parse(lsn), slot, system, timeline);

    [Fact]
    public async Task Load_RustcdcV1PostgresDirectory_ReadsTypedLsnAndStreamIsLatest()
    {
        CopyGolden("v1-postgres");
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);
        var offset = (await checkpoint.LoadOffsetAsync<PostgresOffset>(cancellationToken: Ct)).ShouldNotBeNull();
        offset.Lsn.ShouldBe(new NpgsqlLogSequenceNumber(23803760));
        offset.Lsn.ToString().ShouldBe("0/16B3770");
        offset.SlotName.ShouldBe("slot_a");
        offset.SystemIdentifier.ShouldBeNull();
        (await checkpoint.GetCommittedCountAsync(Ct)).ShouldBe(11UL);
    }

    [Fact]
    public async Task Load_RustcdcV1MySql_ParsesGtidSetMergedAndBinlogPosition()
    {
        CopyGolden("v1-mysql");
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);
        var offset = (await checkpoint.LoadOffsetAsync<MySqlOffset>(cancellationToken: Ct)).ShouldNotBeNull();
        offset.GtidSet.ShouldNotBeNull().ToString().ShouldBe("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-9");
        offset.BinlogPosition.ShouldNotBeNull().ToString().ShouldBe("mysql-bin.000003:1574");
    }

    [Fact]
    public async Task Load_RustcdcV1MariaDb_ParsesGtidPosition()
    {
        CopyGolden("v1-mariadb");
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);
        var offset = (await checkpoint.LoadOffsetAsync<MariaDbOffset>(cancellationToken: Ct)).ShouldNotBeNull();
        offset.GtidPosition.ShouldNotBeNull().ToString().ShouldBe("0-1-100,1-2-5");
        offset.BinlogPosition.ShouldNotBeNull().Position.ShouldBe(330UL);
    }

    [Fact]
    public async Task Save_CurrentFormat_MatchesGoldenBytes()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 21, 23, 47, 31, TimeSpan.Zero));
        using (var checkpoint = new FileCheckpoint(_dir.Path, Options, timeProvider: time))
        {
            await checkpoint.SaveAsync(Pg("0/16B3F70", "orders_slot"), 1842, Ct);
        }

        var actual = await File.ReadAllBytesAsync(_dir.File("checkpoint_postgres.json"), Ct);
        actual.ShouldBe(await File.ReadAllBytesAsync(GoldenPath("v3/checkpoint_postgres.json"), Ct));
    }

    [Theory]
    [InlineData("v2", 2)]
    [InlineData("v3", 3)]
    public async Task Load_GoldenV2AndV3_ReadEveryField(string folder, int version)
    {
        CopyGolden(folder);
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);
        var record = (await checkpoint.LoadAsync("postgres", Ct)).ShouldNotBeNull();
        record.FormatVersion.ShouldBe(version);
        record.Sequence.ShouldBe(1UL);
        record.CommittedEventCount.ShouldBe(1842UL);
        record.SavedAt.ShouldBe(new DateTimeOffset(2026, 11, 21, 23, 47, 31, TimeSpan.Zero));
        record.Offset.ShouldBe(Pg("0/16B3F70", "orders_slot"));
    }

    [Fact]
    public async Task Upgrade_GoldenV2_WritesV3WithChecksumAndKeepsV2Backup()
    {
        CopyGolden("v2");
        var original = await File.ReadAllBytesAsync(_dir.File("checkpoint_postgres.json"), Ct);
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);
        var before = (await checkpoint.LoadAsync("postgres", Ct)).ShouldNotBeNull();
        var upgrade = (await checkpoint.UpgradeAsync(cancellationToken: Ct)).ShouldHaveSingleItem();
        upgrade.FromVersion.ShouldBe(2);
        upgrade.ToVersion.ShouldBe(3);
        var after = (await checkpoint.LoadAsync("postgres", Ct)).ShouldNotBeNull();
        after.FormatVersion.ShouldBe(3);
        after.Offset.ShouldBe(before.Offset);
        after.CommittedEventCount.ShouldBe(before.CommittedEventCount);
        CheckpointRecordFile.StoredChecksum(await File.ReadAllBytesAsync(_dir.File("checkpoint_postgres.json"), Ct)).ShouldNotBeNull();
        (await File.ReadAllBytesAsync(_dir.File("checkpoint_postgres.json.v2.bak"), Ct)).ShouldBe(original);
    }

    [Fact]
    public async Task Upgrade_RustcdcV1Directory_ProducesCurrentRecordsWithSameTypedOffsets()
    {
        CopyGolden("v1-postgres");
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);
        var before = (await checkpoint.LoadAsync("postgres", Ct)).ShouldNotBeNull();
        (await checkpoint.UpgradeAsync(cancellationToken: Ct)).Count.ShouldBe(2);
        var after = (await checkpoint.LoadAsync("postgres", Ct)).ShouldNotBeNull();
        after.FormatVersion.ShouldBe(FileCheckpoint.CurrentFormatVersion);
        after.Offset.ShouldBe(before.Offset);
        after.CommittedEventCount.ShouldBe(before.CommittedEventCount);
        (await File.ReadAllTextAsync(_dir.File("checkpoint_postgres.json"), Ct)).ShouldContain("\"lsn\": \"0/16B3770\"");
        File.Exists(_dir.File("checkpoint_postgres.json.v1.bak")).ShouldBeTrue();
    }

    [Fact]
    public async Task Save_LowerLsnWithHigherCount_RefusedAsTypedRegression()
    {
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);
        await checkpoint.SaveAsync(Pg("1/0"), 10, Ct);
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(Pg("0/FFFFFFFF"), 11, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        ex.Message.ShouldContain("0/FFFFFFFF");
        ex.Message.ShouldContain("1/0");
    }

    [Fact]
    public async Task Save_OtherSlotOrOtherCluster_RefusedAsDiverged()
    {
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);
        await checkpoint.SaveAsync(Pg("0/100"), 10, Ct);
        (await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(Pg("0/200", slot: "slot_b"), 11, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.OffsetDiverged);
        (await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(Pg("0/200", system: 42), 11, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.OffsetDiverged);
        await checkpoint.SaveAsync(Pg("0/200"), 11, Ct);
    }

    [Fact]
    public async Task Save_GtidSetNotASuperset_RefusedEvenWhenCountGrows()
    {
        const string A = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        const string B = "4e11fa47-71ca-11e1-9e33-c80aa9429562";
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);
        await checkpoint.SaveAsync(new MySqlOffset(GtidSet.Parse($"{A}:1-10"), null), 10, Ct);

        (await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(new MySqlOffset(GtidSet.Parse($"{A}:1-9"), null), 11, Ct)))
            .ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        (await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(new MySqlOffset(GtidSet.Parse($"{A}:1-9,{B}:1"), null), 11, Ct)))
            .ErrorCode.ShouldBe(CheckpointErrorCode.OffsetDiverged);
        await checkpoint.SaveAsync(new MySqlOffset(GtidSet.Parse($"{A}:1-10,{B}:1"), null), 11, Ct);
        (await checkpoint.LoadOffsetAsync<MySqlOffset>(cancellationToken: Ct)).ShouldNotBeNull().GtidSet!.ToString().ShouldBe($"{A}:1-10,{B}:1");
    }

    [Fact]
    public async Task Save_MariaDbDomainMissing_RefusedAsDiverged()
    {
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);
        await checkpoint.SaveAsync(new MariaDbOffset(MariaDbGtidPosition.Parse("0-1-100,1-2-5"), null), 10, Ct);
        (await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(new MariaDbOffset(MariaDbGtidPosition.Parse("0-1-200"), null), 11, Ct)))
            .ErrorCode.ShouldBe(CheckpointErrorCode.OffsetDiverged);
        await checkpoint.SaveAsync(new MariaDbOffset(MariaDbGtidPosition.Parse("0-1-200,1-2-5"), null), 11, Ct);
    }

    [Fact]
    public async Task Save_MySqlIntoPostgresDirectory_RefusedAsMixedFamilies()
    {
        CopyGolden("v1-postgres");
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);
        (await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(new MySqlOffset(null, BinlogPosition.Parse("mysql-bin.000001:4")), 100, Ct)))
            .ErrorCode.ShouldBe(CheckpointErrorCode.MixedSourceFamilies);
    }

    [Fact]
    public async Task Load_WithoutRegisteredCodecs_TypedLoadStillWorksThroughTheOffsetType()
    {
        CopyGolden("v1-postgres");
        using var checkpoint = new FileCheckpoint(_dir.Path); // no codecs configured
        (await checkpoint.LoadAsync("postgres", Ct)).ShouldNotBeNull().Offset.ShouldBeOfType<GenericOffset>();
        (await checkpoint.LoadOffsetAsync<PostgresOffset>(cancellationToken: Ct)).ShouldNotBeNull().SlotName.ShouldBe("slot_a");

        // Saving a typed offset over a record that loaded generically still applies the typed guard.
        (await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(Pg("0/1", system: null, timeline: null), 12, Ct)))
            .ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
    }
}
