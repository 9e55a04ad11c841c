using System.Text.Json;
using Cdc.Checkpoint.Cli.Tests.Support;
using Cdc.Checkpoint.Files;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Cli.Tests;

public sealed class VerifyTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Verify_HealthyDirectory_ExitsZero()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/16B3748"), 10);
        var before = DirectorySnapshot.Take(_dir.Path);

        var result = (await Tool.RunAsync("verify", _dir.Path)).ShouldExit(0);
        var json = (await Tool.RunAsync("verify", _dir.Path, "--json")).ShouldExit(0).Json();

        result.StdOut.ShouldContain("OK:");
        result.StdOut.ShouldNotContain("PROBLEM");
        json.GetProperty("ok").GetBoolean().ShouldBeTrue();
        json.GetProperty("problems").GetArrayLength().ShouldBe(0);
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Verify_RustcdcV1Directory_ExitsZeroAndSuggestsMigrate()
    {
        _dir.Write("checkpoint_postgres.json", Fixtures.PostgresV1);
        _dir.Write("checkpoint_postgres_snapshot.json", Fixtures.PostgresSnapshotV1);
        var before = DirectorySnapshot.Take(_dir.Path);

        var json = (await Tool.RunAsync("verify", _dir.Path, "--json")).ShouldExit(0).Json();

        var notes = Messages(json.GetProperty("notes"));
        notes.Count(n => n.Contains("format version 1 (rustcdc)") && n.Contains("cdc-checkpoint migrate")).ShouldBe(2);
        notes.ShouldContain(n => n.Contains("never leased"));
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Verify_V3RecordWithCountChangedInPlace_IsAProblemNamingTheChecksum()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/16B3F20"), 1842);
        var path = _dir.File("checkpoint_postgres.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("1842", "3842", StringComparison.Ordinal));

        var json = (await Tool.RunAsync("verify", _dir.Path, "--json")).ShouldExit(1).Json();
        var inspect = (await Tool.RunAsync("inspect", _dir.Path)).ShouldExit(1).StdOut;

        json.GetProperty("problems").EnumerateArray().ShouldContain(p => p.GetProperty("path").GetString() == path && p.GetProperty("message").GetString()!.Contains("CRC-32C"));
        inspect.ShouldContain("CRC-32C");
        inspect.ShouldNotContain("3842 ");
    }

    [Fact]
    public async Task Verify_V2Record_NotesItHasNoChecksumAndSuggestsMigrate()
    {
        _dir.Write("checkpoint_postgres.json", """{"checkpoint_format_version":2,"source_type":"postgres","committed_event_count":1842,"sequence":97,"offset":{"lsn":"0/16B3F20","slot_name":"orders_slot"}}""");

        var json = (await Tool.RunAsync("verify", _dir.Path, "--json")).ShouldExit(0).Json();

        Messages(json.GetProperty("notes")).ShouldContain(n => n.Contains("format version 2, which carries no checksum") && n.Contains("cdc-checkpoint migrate"));
    }

    [Fact]
    public async Task Verify_RustcdcRecordsWithOddSlotOrGtid_ReadableWithAWarningAndMigratable()
    {
        _dir.Write("checkpoint_postgres.json", """{"checkpoint_format_version":1,"source_type":"postgres","committed_event_count":11,"offset":{"lsn":99,"slot_name":"slot-a"}}""");

        var verify = (await Tool.RunAsync("verify", _dir.Path, "--json")).ShouldExit(0).Json();
        var inspect = (await Tool.RunAsync("inspect", _dir.Path)).ShouldExit(0).StdOut;

        Messages(verify.GetProperty("notes")).ShouldContain(n => n.Contains("slot name 'slot-a' is not a valid PostgreSQL slot name") && n.Contains("resume validation refuses it"));
        inspect.ShouldContain("Warning: checkpoint_postgres.json: slot name 'slot-a'");
        inspect.ShouldContain("slot=slot-a lsn=0/63");
        (await Tool.RunAsync("migrate", _dir.Path)).ShouldExit(0);
        (await Tool.RunAsync("inspect", _dir.Path, "--json")).ShouldExit(0).Json().GetProperty("records")[0].GetProperty("format_version").GetInt32().ShouldBe(3);

        using var mysql = new TempDirectory();
        mysql.Write("checkpoint_mysql.json", """{"checkpoint_format_version":1,"source_type":"mysql","committed_event_count":7,"offset":{"gtid":"0-1-100","binlog_file":"mysql-bin.000001","binlog_pos":8}}""");
        var mysqlInspect = (await Tool.RunAsync("inspect", mysql.Path)).ShouldExit(0).StdOut;
        mysqlInspect.ShouldContain("0-1-100");
        mysqlInspect.ShouldContain("a MariaDB GTID position");
        (await Tool.RunAsync("migrate", mysql.Path)).ShouldExit(0);
        (await Tool.RunAsync("verify", mysql.Path)).ShouldExit(0);
    }

    [Fact]
    public async Task Verify_EveryKindOfProblem_IsListedAndExitIsOne()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/10"), 1);
        // The library refuses a second source family, so the mysql record is written by hand.
        _dir.Write("checkpoint_mysql.json", """{"checkpoint_format_version":1,"source_type":"mysql","committed_event_count":2,"offset":{"gtid":"","binlog_file":"mysql-bin.000002","binlog_pos":9}}""");
        _dir.Write("checkpoint_postgres_snapshot.json", """{"checkpoint_format_version":2,"source_type":"postgres_snapshot","committed_event_count":1,"sequence":5,"offset":{"lsn":"0/1","slot_name":"orders_slot"}}""", TempDirectory.Private | UnixFileMode.GroupRead);
        _dir.Write("checkpoint_future.json", """{"checkpoint_format_version":4,"source_type":"future","committed_event_count":1,"offset":{}}""");
        _dir.Write("checkpoint_postgres.json.3f2a9c1b7d4e.tmp", "{ half a rec");
        _dir.Write("checkpoint_Orders.json", Fixtures.PostgresV1);
        _dir.Write(FileCheckpoint.AuditLogFileName, "2026-01-01T00:00:00.000Z\trewind\n", TempDirectory.Private | UnixFileMode.OtherRead);
        File.SetUnixFileMode(Fixtures.LeasePath(_dir.Path), TempDirectory.Private | UnixFileMode.GroupWrite);
        File.CreateSymbolicLink(_dir.File("checkpoint_postgres.json.v1.bak"), "/etc/hostname");
        File.SetUnixFileMode(_dir.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute);
        var before = DirectorySnapshot.Take(_dir.Path);

        var json = (await Tool.RunAsync("verify", _dir.Path, "--json")).ShouldExit(1).Json();
        var text = (await Tool.RunAsync("verify", _dir.Path)).ShouldExit(1).StdOut;

        json.GetProperty("ok").GetBoolean().ShouldBeFalse();
        var problems = json.GetProperty("problems").EnumerateArray().ToDictionary(p => p.GetProperty("message").GetString()!, p => p.GetProperty("path").GetString());
        problems.ShouldContain(p => p.Value == _dir.Path && p.Key.Contains("mode 0770") && p.Key.Contains("chmod 700"));
        problems.ShouldContain(p => p.Value == _dir.File("checkpoint_postgres_snapshot.json") && p.Key.Contains("insecure permissions 0640"));
        problems.ShouldContain(p => p.Value == _dir.File("checkpoint_future.json") && p.Key.Contains("unsupported checkpoint_format_version 4"));
        problems.ShouldContain(p => p.Value == _dir.Path && p.Key.Contains("several source families (mysql, postgres)"));
        problems.ShouldContain(p => p.Value == _dir.File("checkpoint_postgres.json.3f2a9c1b7d4e.tmp") && p.Key.Contains("leftover temp file"));
        problems.ShouldContain(p => p.Value == _dir.File("checkpoint_Orders.json") && p.Key.Contains("no consumer will ever read it"));
        problems.ShouldContain(p => p.Value == _dir.File(FileCheckpoint.AuditLogFileName) && p.Key.Contains("insecure permissions 0604"));
        problems.ShouldContain(p => p.Value == Fixtures.LeasePath(_dir.Path) && p.Key.Contains("insecure permissions 0620") && p.Key.Contains("Writers refuse"));
        problems.ShouldContain(p => p.Value == _dir.File("checkpoint_postgres.json.v1.bak") && p.Key.Contains("symbolic link"));
        problems.Count.ShouldBe(9);
        text.Split('\n').Count(l => l.StartsWith("PROBLEM: ", StringComparison.Ordinal)).ShouldBe(9);
        text.ShouldContain("9 problem(s)");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Verify_CorruptRecord_IsAProblemNamingTheFile()
    {
        _dir.Write("checkpoint_postgres.json", """{"checkpoint_format_version":2,"source_type":"postgres","committed_event_count":-1}""");

        var text = (await Tool.RunAsync("verify", _dir.Path)).ShouldExit(1).StdOut;

        text.ShouldContain($"PROBLEM: Checkpoint record '{_dir.File("checkpoint_postgres.json")}' is corrupt");
    }

    [Fact]
    public async Task Verify_LeaseHeldByAnotherLiveProcess_IsNotAProblem()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/10"), 1);
        await using var holder = await FlockHolder.HoldAsync(_dir.Path);
        var before = DirectorySnapshot.Take(_dir.Path);

        var json = (await Tool.RunAsync("verify", _dir.Path, "--json")).ShouldExit(0).Json();

        Messages(json.GetProperty("notes")).ShouldContain(n => n.StartsWith("Lease: held by", StringComparison.Ordinal));
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Verify_MissingDirectory_ExitsOne()
    {
        (await Tool.RunAsync("verify", _dir.File("missing"))).ShouldExit(1).ShouldReportBriefly(1, _dir.File("missing"));
    }

    private static List<string> Messages(JsonElement findings) =>
        [.. findings.EnumerateArray().Select(f => f.GetProperty("message").GetString()!)];
}
