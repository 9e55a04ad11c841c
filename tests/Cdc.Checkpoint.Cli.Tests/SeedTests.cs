using Cdc.Checkpoint.Cli.Tests.Support;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.Postgres;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Cli.Tests;

public sealed class SeedTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Seed_Postgres_WritesARecordTheLibraryLoads()
    {
        var result = (await Tool.RunAsync("seed", _dir.Path, "--source", "postgres", "--lsn", "16/B374D848", "--slot", "orders_slot",
            "--system-id", "7311234567890123456", "--timeline", "2", "--database", "app", "--count", "1842")).ShouldExit(0);

        result.StdOut.ShouldContain("was (no record)");
        var record = (await Fixtures.LoadAsync(_dir.Path, "postgres")).ShouldNotBeNull();
        record.CommittedEventCount.ShouldBe(1842UL);
        record.FormatVersion.ShouldBe(Files.FileCheckpoint.CurrentFormatVersion);
        var offset = record.Offset.ShouldBeOfType<PostgresOffset>();
        PostgresOffset.FormatLsn(offset.Lsn).ShouldBe("16/B374D848");
        offset.SlotName.ShouldBe("orders_slot");
        offset.SystemIdentifier.ShouldBe(7311234567890123456UL);
        offset.Timeline.ShouldBe(2U);
        offset.Database.ShouldBe("app");
        File.GetUnixFileMode(_dir.File("checkpoint_postgres.json")).ShouldBe(TempDirectory.Private);
    }

    [Fact]
    public async Task Seed_MySqlGtidSetAndBinlog_WritesTypedRecord()
    {
        (await Tool.RunAsync("seed", _dir.Path, "--source", "mysql", "--gtid-set", $"{Fixtures.ServerUuid}:1-5:7", "--binlog-file", "mysql-bin.000123",
            "--binlog-pos", "4", "--server-uuid", Fixtures.ServerUuid, "--server-id", "1", "--count", "12")).ShouldExit(0);

        var offset = (await Fixtures.LoadAsync(_dir.Path, "mysql")).ShouldNotBeNull().Offset.ShouldBeOfType<MySqlOffset>();
        offset.GtidSet.ShouldBe(GtidSet.Parse($"{Fixtures.ServerUuid}:1-5:7"));
        offset.BinlogPosition.ShouldBe(new BinlogPosition("mysql-bin.000123", 4));
        offset.ServerUuid.ShouldBe(Guid.Parse(Fixtures.ServerUuid));
        offset.ServerId.ShouldBe(1U);
    }

    [Fact]
    public async Task Seed_MariaDbGtidPosition_WritesTypedRecord()
    {
        (await Tool.RunAsync("seed", _dir.Path, "--source", "mariadb", "--gtid-position", "0-1-100,1-2-5", "--count", "3")).ShouldExit(0);

        var offset = (await Fixtures.LoadAsync(_dir.Path, "mariadb")).ShouldNotBeNull().Offset.ShouldBeOfType<MariaDbOffset>();
        offset.GtidPosition.ShouldBe(MariaDbGtidPosition.Parse("0-1-100,1-2-5"));
        offset.BinlogPosition.ShouldBeNull();
    }

    [Fact]
    public async Task Seed_Forward_MovesTheRecord()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/100"), 10);

        var result = (await Tool.RunAsync("seed", _dir.Path, "--source", "postgres", "--lsn", "0/200", "--slot", "orders_slot", "--count", "20")).ShouldExit(0);

        result.StdOut.ShouldContain("was slot=orders_slot lsn=0/100 (count 10)");
        result.StdOut.ShouldContain("now slot=orders_slot lsn=0/200 (count 20)");
        var record = (await Fixtures.LoadAsync(_dir.Path, "postgres")).ShouldNotBeNull();
        record.CommittedEventCount.ShouldBe(20UL);
        record.Offset.ShouldBe(Fixtures.Pg("0/200"));
    }

    [Fact]
    public async Task Seed_RustcdcV1Directory_MovesForwardFromV1Record()
    {
        _dir.Write("checkpoint_postgres.json", Fixtures.PostgresV1);

        (await Tool.RunAsync("seed", _dir.Path, "--source", "postgres", "--lsn", "0/64", "--slot", "slot_a", "--count", "12")).ShouldExit(0);

        var record = (await Fixtures.LoadAsync(_dir.Path, "postgres")).ShouldNotBeNull();
        record.FormatVersion.ShouldBe(Files.FileCheckpoint.CurrentFormatVersion);
        record.Offset.ShouldBe(Fixtures.Pg("0/64", "slot_a"));
    }

    [Fact]
    public async Task Seed_SamePositionAgain_WritesNothing()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/100"), 10);
        var before = DirectorySnapshot.Take(_dir.Path);

        var result = (await Tool.RunAsync("seed", _dir.Path, "--source", "postgres", "--lsn", "0/100", "--slot", "orders_slot", "--count", "10")).ShouldExit(0);

        result.StdOut.ShouldContain("nothing was written");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Theory]
    [InlineData("lower count", "0/300", "orders_slot", "5", "is lower than the stored 10")]
    [InlineData("equal count, other offset", "0/300", "orders_slot", "10", "equals the stored one but the offset differs")]
    [InlineData("LSN behind", "0/50", "orders_slot", "20", "is behind the stored")]
    [InlineData("other slot", "0/300", "other_slot", "20", "is not comparable with the stored")]
    public async Task Seed_GuardRefusal_ExitsOneAndChangesNoByte(string why, string lsn, string slot, string count, string expected)
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/100"), 10);
        var before = DirectorySnapshot.Take(_dir.Path);

        var result = (await Tool.RunAsync("seed", _dir.Path, "--source", "postgres", "--lsn", lsn, "--slot", slot, "--count", count)).ShouldExit(1);

        result.ShouldReportBriefly(2, expected, _dir.File("checkpoint_postgres.json"), "cdc-checkpoint rewind");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
        why.ShouldNotBeEmpty();
    }

    [Fact]
    public async Task Seed_GtidSetNotASuperset_IsRefused()
    {
        await Fixtures.SaveAsync(_dir.Path, new MySqlOffset(GtidSet.Parse($"{Fixtures.ServerUuid}:1-10"), null), 10);
        var before = DirectorySnapshot.Take(_dir.Path);

        (await Tool.RunAsync("seed", _dir.Path, "--source", "mysql", "--gtid-set", $"{Fixtures.ServerUuid}:1-8", "--count", "11"))
            .ShouldExit(1).ShouldReportBriefly(2, "is behind the stored");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Seed_OtherSourceFamily_IsRefused()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/100"), 10);
        var before = DirectorySnapshot.Take(_dir.Path);

        (await Tool.RunAsync("seed", _dir.Path, "--source", "mysql", "--binlog-file", "mysql-bin.000001", "--binlog-pos", "4", "--count", "1"))
            .ShouldExit(1).ShouldReportBriefly(1, "already holds a postgres record", "Nothing was changed.");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Seed_LeaseHeldByAnotherLiveProcess_IsRefusedAndChangesNoByte()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/100"), 10);
        await using var holder = await FlockHolder.HoldAsync(_dir.Path);
        var before = DirectorySnapshot.Take(_dir.Path);

        var result = (await Tool.RunAsync("seed", _dir.Path, "--source", "postgres", "--lsn", "0/200", "--slot", "orders_slot", "--count", "20")).ShouldExit(1);

        result.ShouldReportBriefly(1, $"'{_dir.Path}' is owned by {Environment.MachineName} pid {Environment.ProcessId}", "Nothing was changed.");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Seed_LeaseHeldByThisTestProcess_IsRefused()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/100"), 10);
        var checkpoint = new Cdc.Checkpoint.Files.FileCheckpoint(_dir.Path, Fixtures.Options);
        await using (checkpoint)
        {
            await checkpoint.AcquireLeaseAsync(TestContext.Current.CancellationToken);
            var before = DirectorySnapshot.Take(_dir.Path);

            (await Tool.RunAsync("seed", _dir.Path, "--source", "postgres", "--lsn", "0/200", "--slot", "orders_slot", "--count", "20"))
                .ShouldExit(1).ShouldReportBriefly(1, "is owned by", $"pid {Environment.ProcessId}");
            DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
        }
    }

    [Fact]
    public async Task Seed_CorruptRecordInDirectory_IsRefused()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/100"), 10);
        _dir.Write("checkpoint_postgres_snapshot.json", "not json");
        var before = DirectorySnapshot.Take(_dir.Path);

        (await Tool.RunAsync("seed", _dir.Path, "--source", "postgres", "--lsn", "0/200", "--slot", "orders_slot", "--count", "20"))
            .ShouldExit(1).ShouldReportBriefly(1, _dir.File("checkpoint_postgres_snapshot.json"), "is corrupt", "Nothing was changed.");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Seed_InsecureRecord_IsRefused()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/100"), 10);
        File.SetUnixFileMode(_dir.File("checkpoint_postgres.json"), TempDirectory.Private | UnixFileMode.OtherRead);
        var before = DirectorySnapshot.Take(_dir.Path);

        (await Tool.RunAsync("seed", _dir.Path, "--source", "postgres", "--lsn", "0/200", "--slot", "orders_slot", "--count", "20"))
            .ShouldExit(1).ShouldReportBriefly(1, "insecure permissions 0604", "chmod 600");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Seed_UnknownVersionRecord_IsRefused()
    {
        _dir.Write("checkpoint_postgres.json", """{"checkpoint_format_version":7,"source_type":"postgres","committed_event_count":1,"offset":{}}""");
        var before = DirectorySnapshot.Take(_dir.Path);

        (await Tool.RunAsync("seed", _dir.Path, "--source", "postgres", "--lsn", "0/200", "--slot", "orders_slot", "--count", "20"))
            .ShouldExit(1).ShouldReportBriefly(1, "unsupported checkpoint_format_version 7");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Seed_RecordIsASymlink_IsRefused()
    {
        var elsewhere = _dir.Sub("elsewhere");
        await Fixtures.SaveAsync(elsewhere, Fixtures.Pg("0/100"), 10);
        File.CreateSymbolicLink(_dir.File("checkpoint_postgres.json"), Path.Combine(elsewhere, "checkpoint_postgres.json"));
        var before = DirectorySnapshot.Take(_dir.Path);

        (await Tool.RunAsync("seed", _dir.Path, "--source", "postgres", "--lsn", "0/200", "--slot", "orders_slot", "--count", "20"))
            .ShouldExit(1).ShouldReportBriefly(1, "symbolic link");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Seed_MissingDirectory_IsRefusedUnlessAskedToCreateIt()
    {
        var target = _dir.File("fresh");

        (await Tool.RunAsync("seed", target, "--source", "postgres", "--lsn", "0/1", "--slot", "s", "--count", "1"))
            .ShouldExit(1).ShouldReportBriefly(1, target, "does not exist");
        Directory.Exists(target).ShouldBeFalse();

        (await Tool.RunAsync("seed", target, "--create-directory", "--source", "postgres", "--lsn", "0/1", "--slot", "s", "--count", "1")).ShouldExit(0);
        File.GetUnixFileMode(target).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        (await Fixtures.LoadAsync(target, "postgres")).ShouldNotBeNull().Offset.ShouldBe(Fixtures.Pg("0/1", "s"));
    }
}
