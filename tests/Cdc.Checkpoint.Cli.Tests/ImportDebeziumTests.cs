using Cdc.Checkpoint.Cli.Tests.Support;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.MySql.Gtid;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Cli.Tests;

/// <summary>import-debezium into a checkpoint directory: the mapping, the audit line, and every refusal leaving the directory unchanged.</summary>
public sealed class ImportDebeziumTests : IDisposable
{
    // The shapes Debezium writes (PostgresOffsetContext.getOffset, BinlogOffsetContext.offsetUsingPosition); the
    // PostgreSQL one as Kafka Connect's offsets topic keys it.
    private const string PostgresAtCommit =
        """[["inventory-connector",{"server":"pgdev"}],{"transaction_id":null,"lsn_proc":63619219552,"lsn_commit":63619219552,"lsn":63619219552,"txId":1650,"ts_usec":1666268220374889}]""";

    private const string PostgresMidTransaction =
        """{"lsn_proc":63619219600,"lsn_commit":63619219552,"lsn":63619219600,"txId":1651,"ts_usec":1666268220374889}""";

    private const string PostgresSnapshotRunning =
        """{"last_snapshot_record":false,"lsn":63552100632,"txId":1618,"ts_usec":1666267991774697,"snapshot":"INITIAL","snapshot_completed":false}""";

    private const string MySqlMidTransaction =
        """{"ts_sec":1700000000,"file":"mysql-bin.000003","pos":154,"gtids":"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-500","event":2,"row":1,"server_id":223344}""";

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task ImportDebezium_PostgresOffsetAtACommit_SeedsLsnCommitOnTheSlotAndAudits()
    {
        var file = _dir.Write("offset.json", PostgresAtCommit);
        var target = _dir.Sub("ck");

        var result = (await Tool.RunAsync("import-debezium", target, "--offset", file, "--slot", "debezium", "--count", "7", "--connector", "inventory-connector")).ShouldExit(0);

        result.StdOut.ShouldContain("lsn_commit E/D0004060");
        var record = (await Fixtures.LoadAsync(target, "postgres")).ShouldNotBeNull();
        record.Offset.ShouldBe(Fixtures.Pg("E/D0004060", "debezium"));
        record.CommittedEventCount.ShouldBe(7UL);
        var audit = File.ReadAllLines(Path.Combine(target, FileCheckpoint.AuditLogFileName)).ShouldHaveSingleItem();
        audit.ShouldContain("old=(none)");
        audit.ShouldContain("reason=import-debezium from " + file + " (connector inventory-connector)");
    }

    [Fact]
    public async Task ImportDebezium_MySqlOffsetInsideATransaction_KeepsTheEventAndRowSkipsButNotTheHeaderServerId()
    {
        var file = _dir.Write("offset.json", MySqlMidTransaction);
        var target = _dir.Sub("ck");

        var json = (await Tool.RunAsync("import-debezium", target, "--offset", file, "--json")).ShouldExit(0).Json();

        json.GetProperty("written").GetBoolean().ShouldBeTrue();
        var offset = (await Fixtures.LoadAsync(target, "mysql")).ShouldNotBeNull().Offset.ShouldBeOfType<MySqlOffset>();
        offset.GtidSet.ShouldBe(GtidSet.Parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-500"));
        offset.BinlogPosition.ShouldBe(new BinlogPosition("mysql-bin.000003", 154));
        offset.SkipEvents.ShouldBe(2UL);
        offset.SkipRows.ShouldBe(1UL);
        offset.ServerId.ShouldBeNull();
    }

    [Fact]
    public async Task ImportDebezium_MariaDbOffset_SeedsTheGtidPosition()
    {
        var file = _dir.Write("offset.json", """{"file":"mariadb-bin.000002","pos":1234,"gtids":"0-1-100,1-2-5","server_id":1,"ts_sec":1700000000}""");
        var target = _dir.Sub("ck");

        (await Tool.RunAsync("import-debezium", target, "--offset", file)).ShouldExit(0);

        var offset = (await Fixtures.LoadAsync(target, "mariadb")).ShouldNotBeNull().Offset.ShouldBeOfType<MariaDbOffset>();
        offset.GtidPosition.ShouldBe(MariaDbGtidPosition.Parse("0-1-100,1-2-5"));
        offset.BinlogPosition.ShouldBe(new BinlogPosition("mariadb-bin.000002", 1234));
    }

    [Theory]
    [InlineData(PostgresMidTransaction, "'lsn_proc'", "--slot")]
    [InlineData(PostgresSnapshotRunning, "'snapshot'", "--slot")]
    [InlineData("""{"lsn_proc":100,"lsn_commit":100,"lsn":100,"lsn_events_processed":3}""", "'lsn_events_processed'", "--slot")]
    [InlineData("""{"lsn_proc":100,"lsn_commit":100,"lsn":100,"incremental_snapshot_collections":"[]"}""", "'incremental_snapshot_collections'", "--slot")]
    [InlineData("""{"lsn_proc":100,"lsn_commit":100,"lsn":100,"new_field":1}""", "'new_field'", "--slot")]
    [InlineData("""{"file":"mariadb-bin.000002","pos":4,"gtids":"0-1-100,0-2-7"}""", "several GTIDs of domain 0", "--source")]
    [InlineData("""{"file":"mysql-bin.000002","pos":4,"gtids":"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5"}""", "is a MySQL GTID set", "--source")]
    [InlineData("""{"lsn": 1, """, "is not JSON", "--slot")]
    [InlineData("""[1, 2, 3]""", "[key, value]", "--slot")]
    public async Task ImportDebezium_OffsetThatCannotBeMappedExactly_IsRefusedNamingTheFieldAndChangesNothing(string offset, string mention, string extra)
    {
        var file = _dir.Write("offset.json", offset);
        var target = _dir.Sub("ck");
        await Fixtures.SaveAsync(_dir.Sub("other"), Fixtures.Pg("0/1"), 1); // a directory next to it, to show nothing else is touched either
        var before = DirectorySnapshot.Take(_dir.Path);
        string[] args = extra == "--slot" ? ["--slot", "debezium"] : ["--source", "mariadb"];

        (await Tool.RunAsync(["import-debezium", target, "--offset", file, .. args])).ShouldExit(1).ShouldReportBriefly(1, mention, "Nothing was written");

        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task ImportDebezium_UnknownFieldCheckedByTheOperator_IsImportedWithIgnoreField()
    {
        var file = _dir.Write("offset.json", """{"lsn_proc":100,"lsn_commit":100,"lsn":100,"new_field":1}""");
        var target = _dir.Sub("ck");

        (await Tool.RunAsync("import-debezium", target, "--offset", file, "--slot", "debezium", "--ignore-field", "new_field")).ShouldExit(0);

        (await Fixtures.LoadAsync(target, "postgres")).ShouldNotBeNull().Offset.ShouldBe(Fixtures.Pg("0/64", "debezium"));
    }

    [Fact]
    public async Task ImportDebezium_OverAnotherCheckpoint_IsRefusedAndTheRecordStays()
    {
        var target = _dir.Sub("ck");
        await Fixtures.SaveAsync(target, Fixtures.Pg("0/16B3F20", "debezium"), 1842);
        var file = _dir.Write("offset.json", PostgresAtCommit);
        var before = DirectorySnapshot.Take(_dir.Path);

        (await Tool.RunAsync("import-debezium", target, "--offset", file, "--slot", "debezium")).ShouldExit(1).ShouldReportBriefly(1, "already holds slot=debezium lsn=0/16B3F20", "rewind");

        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task ImportDebezium_DryRun_ShowsTheMappingAndWritesNothing()
    {
        var file = _dir.Write("offset.json", PostgresAtCommit);
        var target = _dir.Sub("ck");
        var before = DirectorySnapshot.Take(_dir.Path);

        var result = (await Tool.RunAsync("import-debezium", target, "--offset", file, "--slot", "debezium", "--dry-run")).ShouldExit(0);

        result.StdOut.ShouldContain("Would import slot=debezium lsn=E/D0004060");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task ImportDebezium_PostgresOffsetWithoutSlot_IsAUsageError()
    {
        var file = _dir.Write("offset.json", PostgresAtCommit);

        (await Tool.RunAsync("import-debezium", _dir.Sub("ck"), "--offset", file)).ShouldExit(2).ShouldReportBriefly(1, "--slot", "slot.name");
    }

    [Fact]
    public async Task ImportDebezium_KeyOfAnotherConnector_IsRefused()
    {
        var file = _dir.Write("offset.json", PostgresAtCommit);

        (await Tool.RunAsync("import-debezium", _dir.Sub("ck"), "--offset", file, "--slot", "debezium", "--connector", "orders")).ShouldExit(1).ShouldReportBriefly(1, "'inventory-connector'", "--connector");
    }
}
