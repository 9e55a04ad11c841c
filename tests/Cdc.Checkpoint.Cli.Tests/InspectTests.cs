using System.Text.Json;
using Cdc.Checkpoint.Cli.Tests.Support;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.Postgres;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Cli.Tests;

public sealed class InspectTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string StoredCrc(string file)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(_dir.File(file)));
        return document.RootElement.GetProperty("crc32c").GetString().ShouldNotBeNull();
    }

    [Fact]
    public async Task Inspect_PostgresRecords_ShowsTypedOffsetVersionCountModeAndSequence()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/16B3748", timeline: 1), 1842);
        var before = DirectorySnapshot.Take(_dir.Path);

        var result = (await Tool.RunAsync("inspect", _dir.Path)).ShouldExit(0);

        result.StdOut.ShouldContain("checkpoint_postgres.json");
        result.StdOut.ShouldContain("slot=orders_slot lsn=0/16B3748 tli=1");
        result.StdOut.ShouldContain("1842");
        result.StdOut.ShouldContain("0600");
        result.StdOut.ShouldContain($"{StoredCrc("checkpoint_postgres.json")} ok");
        result.StdOut.ShouldContain($"Lease: free (stale record: last owner {Environment.MachineName} pid {Environment.ProcessId}");
        result.StdErr.ShouldBeEmpty();
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Inspect_Json_IsOneDocumentWithEveryField()
    {
        await Fixtures.SaveAsync(_dir.Path, new PostgresOffset(PostgresOffset.ParseLsn("0/1000"), "orders_slot", sourceType: PostgresOffset.SnapshotSourceType), 10);
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("1/A0"), 25);

        var json = (await Tool.RunAsync("inspect", _dir.Path, "--json")).ShouldExit(0).Json();

        json.GetProperty("directory").GetString().ShouldBe(_dir.Path);
        json.GetProperty("directory_mode").GetString().ShouldBe("0700");
        json.GetProperty("problems").GetArrayLength().ShouldBe(0);
        var lease = json.GetProperty("lease");
        lease.GetProperty("state").GetString().ShouldBe("free");
        lease.GetProperty("pid").GetInt32().ShouldBe(Environment.ProcessId);
        lease.GetProperty("host").GetString().ShouldBe(Environment.MachineName);
        lease.GetProperty("epoch").GetInt64().ShouldBe(2);

        var records = json.GetProperty("records").EnumerateArray().ToDictionary(r => r.GetProperty("source_type").GetString()!);
        records.Keys.Order().ShouldBe(["postgres", "postgres_snapshot"]);
        var stream = records["postgres"];
        stream.GetProperty("file").GetString().ShouldBe("checkpoint_postgres.json");
        stream.GetProperty("source_family").GetString().ShouldBe("postgres");
        stream.GetProperty("format_version").GetInt32().ShouldBe(FileCheckpoint.CurrentFormatVersion);
        var crc = stream.GetProperty("crc32c").GetString().ShouldNotBeNull();
        crc.ShouldBe(StoredCrc("checkpoint_postgres.json"));
        stream.GetProperty("committed_event_count").GetUInt64().ShouldBe(25UL);
        stream.GetProperty("sequence").GetUInt64().ShouldBe(2UL);
        stream.GetProperty("saved_at").ValueKind.ShouldBe(JsonValueKind.String);
        stream.GetProperty("mode").GetString().ShouldBe("0600");
        stream.GetProperty("offset").GetString().ShouldBe("slot=orders_slot lsn=1/A0");
        stream.GetProperty("offset_json").GetProperty("lsn").GetString().ShouldBe("1/A0");
        stream.GetProperty("offset_json").GetProperty("slot_name").GetString().ShouldBe("orders_slot");
        stream.GetProperty("error").ValueKind.ShouldBe(JsonValueKind.Null);
        records["postgres_snapshot"].GetProperty("sequence").GetUInt64().ShouldBe(1UL);
        records["postgres_snapshot"].GetProperty("offset").GetString().ShouldBe("postgres_snapshot slot=orders_slot lsn=0/1000");
    }

    [Fact]
    public async Task Inspect_RustcdcV1Directory_ShowsLsnAsXYAndCanonicalGtidSet()
    {
        var pg = new TempDirectory();
        try
        {
            pg.Write("checkpoint_postgres.json", Fixtures.PostgresV1);
            _dir.Write("checkpoint_mysql.json", Fixtures.MySqlV1);
            var beforePg = DirectorySnapshot.Take(pg.Path);
            var beforeMy = DirectorySnapshot.Take(_dir.Path);

            var pgRecord = (await Tool.RunAsync("inspect", pg.Path, "--json")).ShouldExit(0).Json().GetProperty("records")[0];
            var myRecord = (await Tool.RunAsync("inspect", _dir.Path, "--json")).ShouldExit(0).Json().GetProperty("records")[0];
            var myText = (await Tool.RunAsync("inspect", _dir.Path)).ShouldExit(0).StdOut;

            pgRecord.GetProperty("format_version").GetInt32().ShouldBe(1);
            pgRecord.GetProperty("committed_event_count").GetUInt64().ShouldBe(11UL);
            pgRecord.GetProperty("sequence").ValueKind.ShouldBe(JsonValueKind.Null);
            pgRecord.GetProperty("offset").GetString().ShouldBe("slot=slot_a lsn=0/63"); // 99 = 0x63
            myRecord.GetProperty("format_version").GetInt32().ShouldBe(1);
            var canonical = GtidSet.Parse($"{Fixtures.ServerUuid}:1-5").ToString();
            myRecord.GetProperty("offset").GetString().ShouldBe($"gtid {canonical}, binlog mysql-bin.000001:4");
            myRecord.GetProperty("offset_json").GetProperty("gtid_set").GetString().ShouldBe(canonical);
            myRecord.GetProperty("offset_json").GetProperty("binlog_file").GetString().ShouldBe("mysql-bin.000001");
            myRecord.GetProperty("offset_json").GetProperty("binlog_position").GetUInt64().ShouldBe(4UL);
            myText.ShouldContain("1 (rustcdc)");
            myText.ShouldContain("mysql-bin.000001:4");
            DirectorySnapshot.Take(pg.Path).ShouldBeUnchangedSince(beforePg);
            DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(beforeMy);
        }
        finally
        {
            pg.Dispose();
        }
    }

    [Fact]
    public async Task Inspect_MariaDbRecord_ShowsGtidPosition()
    {
        await Fixtures.SaveAsync(_dir.Path, new MariaDbOffset(MariaDbGtidPosition.Parse("0-1-100,1-2-5"), new BinlogPosition("mariadb-bin.000007", 1234)), 3);

        var record = (await Tool.RunAsync("inspect", _dir.Path, "--json")).ShouldExit(0).Json().GetProperty("records")[0];

        record.GetProperty("source_type").GetString().ShouldBe("mariadb");
        record.GetProperty("offset").GetString()!.ShouldContain("0-1-100,1-2-5");
        record.GetProperty("offset").GetString()!.ShouldContain("mariadb-bin.000007:1234");
    }

    [Fact]
    public async Task Inspect_BadRecords_AreShownPerFileAndTheRestIsListed()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/500"), 50);
        _dir.Write("checkpoint_postgres_snapshot.json", "{\"checkpoint_format_version\":2,");
        _dir.Write("checkpoint_alpha.json", """{"checkpoint_format_version":2,"source_type":"alpha","committed_event_count":1,"sequence":9,"offset":{}}""", TempDirectory.Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        _dir.Write("checkpoint_gamma.json", """{"checkpoint_format_version":99,"source_type":"gamma","committed_event_count":1,"offset":{}}""");
        File.CreateSymbolicLink(_dir.File("checkpoint_beta.json"), _dir.File("checkpoint_postgres.json"));
        var before = DirectorySnapshot.Take(_dir.Path);

        var result = (await Tool.RunAsync("inspect", _dir.Path, "--json")).ShouldExit(1);
        var text = (await Tool.RunAsync("inspect", _dir.Path)).ShouldExit(1);

        var records = result.Json().GetProperty("records").EnumerateArray().ToDictionary(r => r.GetProperty("file").GetString()!);
        records.Count.ShouldBe(5);
        records["checkpoint_postgres.json"].GetProperty("offset").GetString().ShouldBe("slot=orders_slot lsn=0/500");
        records["checkpoint_postgres.json"].GetProperty("error").ValueKind.ShouldBe(JsonValueKind.Null);
        Code(records["checkpoint_postgres_snapshot.json"]).ShouldBe("Corrupt");
        Code(records["checkpoint_alpha.json"]).ShouldBe("InsecurePermissions");
        records["checkpoint_alpha.json"].GetProperty("mode").GetString().ShouldBe("0644");
        Code(records["checkpoint_beta.json"]).ShouldBe("SymbolicLinkRefused");
        records["checkpoint_beta.json"].GetProperty("link_target").GetString().ShouldBe(_dir.File("checkpoint_postgres.json"));
        Code(records["checkpoint_gamma.json"]).ShouldBe("UnsupportedFormatVersion");
        records["checkpoint_gamma.json"].GetProperty("error").GetProperty("message").GetString()!.ShouldContain("99");
        text.StdOut.ShouldContain("slot=orders_slot lsn=0/500");
        text.StdOut.ShouldContain("checkpoint_alpha.json: Checkpoint file");
        text.StdOut.ShouldContain("chmod 600");
        text.StdOut.ShouldContain("UNUSABLE (Corrupt)");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);

        static string? Code(JsonElement record) => record.GetProperty("error").GetProperty("code").GetString();
    }

    [Fact]
    public async Task Inspect_MixedFamilies_ListsBothAndExitsOne()
    {
        _dir.Write("checkpoint_postgres.json", Fixtures.PostgresV1);
        _dir.Write("checkpoint_mysql.json", Fixtures.MySqlV1);

        var json = (await Tool.RunAsync("inspect", _dir.Path, "--json")).ShouldExit(1).Json();

        json.GetProperty("records").GetArrayLength().ShouldBe(2);
        json.GetProperty("problems")[0].GetString()!.ShouldContain("several source families (mysql, postgres)");
    }

    [Fact]
    public async Task Inspect_LeaseHeldByThisTestProcess_ShowsTheHolder()
    {
        var checkpoint = new FileCheckpoint(_dir.Path, Fixtures.Options);
        await using (checkpoint)
        {
            await checkpoint.SaveAsync(Fixtures.Pg("0/10"), 1, TestContext.Current.CancellationToken);
            var before = DirectorySnapshot.Take(_dir.Path);

            var json = (await Tool.RunAsync("inspect", _dir.Path, "--json")).ShouldExit(0).Json();
            var text = (await Tool.RunAsync("inspect", _dir.Path)).ShouldExit(0).StdOut;

            json.GetProperty("lease").GetProperty("state").GetString().ShouldBe("held");
            json.GetProperty("lease").GetProperty("pid").GetInt32().ShouldBe(Environment.ProcessId);
            json.GetProperty("lease").GetProperty("note").ValueKind.ShouldBe(JsonValueKind.Null);
            text.ShouldContain($"Lease: held by {Environment.MachineName} pid {Environment.ProcessId}");
            DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
        }
    }

    [Fact]
    public async Task Inspect_EmptyDirectory_SaysNoRecords()
    {
        var result = (await Tool.RunAsync("inspect", _dir.Path)).ShouldExit(0);

        result.StdOut.ShouldContain("No checkpoint records");
        result.StdOut.ShouldContain("never leased");
        Directory.EnumerateFileSystemEntries(_dir.Path).ShouldBeEmpty();
    }

    [Fact]
    public async Task Inspect_MissingDirectory_ExitsOneWithOneLineNamingIt()
    {
        var missing = _dir.File("nope");

        (await Tool.RunAsync("inspect", missing)).ShouldExit(1).ShouldReportBriefly(1, missing, "does not exist");
        Directory.Exists(missing).ShouldBeFalse();
    }

    [Fact]
    public async Task Inspect_PathIsAFile_ExitsOneNamingIt()
    {
        var file = _dir.Write("not-a-dir", "x");

        (await Tool.RunAsync("inspect", file)).ShouldExit(1).ShouldReportBriefly(1, file, "is a file");
    }
}
