using Cdc.Checkpoint.Cli.Tests.Support;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.MySql.Gtid;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Cli.Tests;

public sealed class MigrateTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Migrate_RustcdcV1Directory_UpgradesEveryRecordAndKeepsTheOriginals()
    {
        _dir.Write("checkpoint_postgres.json", Fixtures.PostgresV1);
        _dir.Write("checkpoint_postgres_snapshot.json", Fixtures.PostgresSnapshotV1);

        var result = (await Tool.RunAsync("migrate", _dir.Path)).ShouldExit(0);

        result.StdOut.ShouldContain("Migrated 2 record(s)");
        File.ReadAllText(_dir.File("checkpoint_postgres.json.v1.bak")).ShouldBe(Fixtures.PostgresV1);
        File.ReadAllText(_dir.File("checkpoint_postgres_snapshot.json.v1.bak")).ShouldBe(Fixtures.PostgresSnapshotV1);
        File.GetUnixFileMode(_dir.File("checkpoint_postgres.json.v1.bak")).ShouldBe(TempDirectory.Private);
        var stream = (await Fixtures.LoadAsync(_dir.Path, "postgres")).ShouldNotBeNull();
        var snapshot = (await Fixtures.LoadAsync(_dir.Path, "postgres_snapshot")).ShouldNotBeNull();
        stream.FormatVersion.ShouldBe(Files.FileCheckpoint.CurrentFormatVersion);
        stream.CommittedEventCount.ShouldBe(11UL);
        stream.Offset.ShouldBe(Fixtures.Pg("0/63", "slot_a"));
        snapshot.FormatVersion.ShouldBe(Files.FileCheckpoint.CurrentFormatVersion);
        snapshot.CommittedEventCount.ShouldBe(5UL);
        snapshot.Sequence.ShouldBeLessThan(stream.Sequence); // the snapshot phase stays older than the stream
        (await Tool.RunAsync("verify", _dir.Path)).ShouldExit(0);
        (await Tool.RunAsync("migrate", _dir.Path)).ShouldExit(0).StdOut.ShouldContain("Nothing to migrate");
    }

    [Fact]
    public async Task Migrate_RustcdcV1MySql_KeepsTheGtidSetAndBinlogPosition()
    {
        _dir.Write("checkpoint_mysql.json", Fixtures.MySqlV1);

        (await Tool.RunAsync("migrate", _dir.Path)).ShouldExit(0);

        var record = (await Fixtures.LoadAsync(_dir.Path, "mysql")).ShouldNotBeNull();
        record.FormatVersion.ShouldBe(Files.FileCheckpoint.CurrentFormatVersion);
        record.CommittedEventCount.ShouldBe(7UL);
        var offset = record.Offset.ShouldBeOfType<MySqlOffset>();
        offset.GtidSet.ShouldBe(GtidSet.Parse($"{Fixtures.ServerUuid}:1-5"));
        offset.BinlogPosition.ShouldBe(new BinlogPosition("mysql-bin.000001", 4));
        File.ReadAllText(_dir.File("checkpoint_mysql.json.v1.bak")).ShouldBe(Fixtures.MySqlV1);
    }

    [Fact]
    public async Task Migrate_DryRun_ShowsThePlanAndChangesNothing()
    {
        _dir.Write("checkpoint_postgres.json", Fixtures.PostgresV1);
        _dir.Write("checkpoint_postgres_snapshot.json", Fixtures.PostgresSnapshotV1);
        var before = DirectorySnapshot.Take(_dir.Path);

        var result = (await Tool.RunAsync("migrate", _dir.Path, "--dry-run")).ShouldExit(0);

        var lines = result.StdOut.Split('\n');
        lines.Count(l => l.StartsWith("would upgrade", StringComparison.Ordinal)).ShouldBe(2);
        lines.First(l => l.StartsWith("would upgrade", StringComparison.Ordinal)).ShouldContain("checkpoint_postgres_snapshot.json: version 1 -> 3");
        result.StdOut.ShouldContain("Dry run: nothing was changed.");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Migrate_LeaseHeldByAnotherLiveProcess_IsRefusedAndChangesNoByte()
    {
        _dir.Write("checkpoint_postgres.json", Fixtures.PostgresV1);
        _dir.Write(Cdc.Checkpoint.Files.FileCheckpoint.LeaseFileName, string.Empty);
        await using var holder = await FlockHolder.HoldAsync(_dir.Path);
        var before = DirectorySnapshot.Take(_dir.Path);

        (await Tool.RunAsync("migrate", _dir.Path)).ShouldExit(1).ShouldReportBriefly(1, "is owned by", "Nothing was changed.");
        (await Tool.RunAsync("migrate", _dir.Path, "--dry-run")).ShouldExit(1).ShouldReportBriefly(1, "Refusing to migrate (dry run)");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Migrate_ExistingBackupWithOtherBytes_IsRefused()
    {
        _dir.Write("checkpoint_postgres.json", Fixtures.PostgresV1);
        _dir.Write("checkpoint_postgres.json.v1.bak", Fixtures.PostgresV1.Replace("99", "98", StringComparison.Ordinal));
        var before = DirectorySnapshot.Take(_dir.Path);

        (await Tool.RunAsync("migrate", _dir.Path)).ShouldExit(1)
            .ShouldReportBriefly(1, _dir.File("checkpoint_postgres.json.v1.bak"), "already exists and differs", "Nothing was changed.");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Migrate_ExistingIdenticalBackup_IsReused()
    {
        _dir.Write("checkpoint_postgres.json", Fixtures.PostgresV1);
        _dir.Write("checkpoint_postgres.json.v1.bak", Fixtures.PostgresV1);

        (await Tool.RunAsync("migrate", _dir.Path)).ShouldExit(0);

        (await Fixtures.LoadAsync(_dir.Path, "postgres")).ShouldNotBeNull().FormatVersion.ShouldBe(Files.FileCheckpoint.CurrentFormatVersion);
        File.ReadAllText(_dir.File("checkpoint_postgres.json.v1.bak")).ShouldBe(Fixtures.PostgresV1);
    }

    [Fact]
    public async Task Migrate_UnknownVersionNextToV1_IsRefused()
    {
        _dir.Write("checkpoint_postgres.json", Fixtures.PostgresV1);
        _dir.Write("checkpoint_postgres_snapshot.json", """{"checkpoint_format_version":5,"source_type":"postgres_snapshot","committed_event_count":1,"offset":{}}""");
        var before = DirectorySnapshot.Take(_dir.Path);

        (await Tool.RunAsync("migrate", _dir.Path)).ShouldExit(1).ShouldReportBriefly(1, "unsupported checkpoint_format_version 5", "upgrade Cdc.Checkpoint");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }
}
