using System.Text.Json;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.Offsets;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests;

public sealed class MySqlOffsetTests
{
    private const string A = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    private const string B = "4e11fa47-71ca-11e1-9e33-c80aa9429562";
    private static readonly Guid ServerA = Guid.Parse(A);
    private static readonly Guid ServerB = Guid.Parse(B);

    private static MySqlOffset Gtid(string set, ulong events = 0, ulong rows = 0, Guid? uuid = null, string? binlog = null) =>
        new(GtidSet.Parse(set), binlog is null ? null : BinlogPosition.Parse(binlog), uuid, skipEvents: events, skipRows: rows);

    private static MySqlOffset File(string binlog, Guid? uuid = null, uint? id = null, ulong events = 0, ulong rows = 0) =>
        new(null, BinlogPosition.Parse(binlog), uuid, id, events, rows);

    private static JsonElement Json(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    public static TheoryData<MySqlOffset, CheckpointOffset, OffsetOrder> CompareCases() => new()
    {
        // Both have GTID sets: the sets decide.
        { Gtid($"{A}:1-5"), Gtid($"{A}:1-5"), OffsetOrder.Same },
        { Gtid($"{A}:1-6"), Gtid($"{A}:1-5"), OffsetOrder.After },
        { Gtid($"{A}:1-4"), Gtid($"{A}:1-5"), OffsetOrder.Before },
        { Gtid($"{A}:1-5,{B}:1"), Gtid($"{A}:1-5"), OffsetOrder.After },
        { Gtid($"{A}:1-4:6"), Gtid($"{A}:1-5"), OffsetOrder.Diverged },
        { Gtid(""), Gtid($"{A}:1"), OffsetOrder.Before },

        // Equal sets: skip counts decide, events before rows.
        { Gtid($"{A}:1-5", events: 2), Gtid($"{A}:1-5", events: 1, rows: 9), OffsetOrder.After },
        { Gtid($"{A}:1-5", events: 1, rows: 3), Gtid($"{A}:1-5", events: 1, rows: 4), OffsetOrder.Before },
        { Gtid($"{A}:1-5", events: 1, rows: 4), Gtid($"{A}:1-5", events: 1, rows: 4), OffsetOrder.Same },

        // A bigger set wins whatever the skip counts say.
        { Gtid($"{A}:1-6"), Gtid($"{A}:1-5", events: 7), OffsetOrder.After },

        // GTIDs are global: another server after a failover, and its binlog file names, do not matter.
        { Gtid($"{A}:1-6", uuid: ServerB, binlog: "other-bin.000001:4"), Gtid($"{A}:1-5", uuid: ServerA, binlog: "mysql-bin.000009:999"), OffsetOrder.After },
        { Gtid($"{A}:1-5", uuid: ServerB, binlog: "mysql-bin.000001:4"), Gtid($"{A}:1-5", uuid: ServerA, binlog: "mysql-bin.000009:999"), OffsetOrder.Same },

        // Without GTIDs: same server, then binlog position, then skip counts.
        { File("mysql-bin.000003:100"), File("mysql-bin.000003:100"), OffsetOrder.Same },
        { File("mysql-bin.000003:200"), File("mysql-bin.000003:100"), OffsetOrder.After },
        { File("mysql-bin.000002:900"), File("mysql-bin.000003:100"), OffsetOrder.Before },
        { File("mysql-bin.000003:100", events: 1), File("mysql-bin.000003:100"), OffsetOrder.After },
        { File("mysql-bin.000003:100", uuid: ServerA, id: 1), File("mysql-bin.000003:50", uuid: ServerA, id: 1), OffsetOrder.After },
        { File("mysql-bin.000003:100", uuid: ServerA), File("mysql-bin.000003:50", uuid: ServerB), OffsetOrder.Diverged },
        { File("mysql-bin.000003:100", id: 1), File("mysql-bin.000003:50", id: 2), OffsetOrder.Diverged },
        { File("mysql-bin.000003:100", uuid: ServerA, id: 1), File("mysql-bin.000003:50", id: 1), OffsetOrder.After },
        { File("mysql-bin.000003:100", uuid: ServerA), File("mysql-bin.000003:50", id: 7), OffsetOrder.After },
        { File("binlog.000003:100"), File("mysql-bin.000003:50"), OffsetOrder.Diverged },

        // A GTID set on one side only: the binlog positions decide, or nothing can.
        { Gtid($"{A}:1-5", binlog: "mysql-bin.000003:100"), File("mysql-bin.000003:50"), OffsetOrder.After },
        { Gtid($"{A}:1-5"), File("mysql-bin.000003:50"), OffsetOrder.Diverged },
        { File("mysql-bin.000003:50"), Gtid($"{A}:1-5"), OffsetOrder.Diverged },

        // Other kinds of offsets.
        { Gtid($"{A}:1-5"), new MySqlOffset(GtidSet.Parse($"{A}:1-5"), null, sourceType: MySqlOffset.SnapshotSourceType), OffsetOrder.Diverged },
        { File("mariadb-bin.000001:4"), new MariaDbOffset(null, BinlogPosition.Parse("mariadb-bin.000001:4")), OffsetOrder.Diverged },
        { Gtid(""), GenericOffset.Parse("mysql", """{"gtid_set":""}"""), OffsetOrder.Diverged },
    };

    [Theory]
    [MemberData(nameof(CompareCases))]
    public void CompareTo_Matrix(MySqlOffset offset, CheckpointOffset other, OffsetOrder expected)
    {
        offset.CompareTo(other).ShouldBe(expected);
        if (other is MySqlOffset typed)
        {
            typed.CompareTo(offset).ShouldBe(expected switch
            {
                OffsetOrder.After => OffsetOrder.Before,
                OffsetOrder.Before => OffsetOrder.After,
                _ => expected,
            });
        }
    }

    [Fact]
    public void Constructor_NoPosition_ThrowsArgumentException()
    {
        Should.Throw<ArgumentException>(() => new MySqlOffset(null, null)).Message.ShouldContain("GtidSet.Empty");
    }

    [Theory]
    [InlineData("postgres")]
    [InlineData("mariadb")]
    [InlineData("mysqlx")]
    [InlineData("MySQL")]
    public void Constructor_SourceTypeOutsideTheFamily_ThrowsArgumentException(string sourceType)
    {
        var ex = Should.Throw<ArgumentException>(() => new MySqlOffset(GtidSet.Empty, null, sourceType: sourceType));

        ex.ParamName.ShouldBe("sourceType");
    }

    [Fact]
    public void Constructor_EmptyServerUuid_ThrowsArgumentException()
    {
        Should.Throw<ArgumentException>(() => new MySqlOffset(GtidSet.Empty, null, Guid.Empty)).ParamName.ShouldBe("serverUuid");
    }

    [Fact]
    public void Properties_AndSnapshotFamily()
    {
        var offset = new MySqlOffset(GtidSet.Parse($"{A}:1"), null, sourceType: MySqlOffset.SnapshotSourceType);

        offset.SourceType.ShouldBe("mysql_snapshot");
        offset.SourceFamily.ShouldBe("mysql");
        offset.IsOrdered.ShouldBeTrue();
        offset.Codec.ShouldBeSameAs(MySqlOffsetCodec.Instance);
        CodecOf<MySqlOffset>().ShouldBeSameAs(MySqlOffsetCodec.Instance);
    }

    [Fact]
    public void ToJsonString_AllFields_IsCanonicalInFieldOrder()
    {
        var offset = new MySqlOffset(
            GtidSet.Parse($"{B}:1-3,\n{A.ToUpperInvariant()}:1-5:7"),
            BinlogPosition.Parse("mysql-bin.000123:4"),
            ServerA,
            1,
            2,
            3);

        offset.ToJsonString().ShouldBe(
            $$"""{"gtid_set":"{{A}}:1-5:7,{{B}}:1-3","binlog_file":"mysql-bin.000123","binlog_position":4,"server_uuid":"{{A}}","server_id":1,"skip_events":2,"skip_rows":3}""");
    }

    [Fact]
    public void ToJsonString_AbsentAndZeroFields_AreOmitted()
    {
        Gtid("").ToJsonString().ShouldBe("""{"gtid_set":""}""");
        File("b.1:0").ToJsonString().ShouldBe("""{"binlog_file":"b.1","binlog_position":0}""");
        File("b.1:0", id: 0).ToJsonString().ShouldBe("""{"binlog_file":"b.1","binlog_position":0,"server_id":0}""");
        File("b.1:0", rows: 5).ToJsonString().ShouldBe("""{"binlog_file":"b.1","binlog_position":0,"skip_rows":5}""");
    }

    [Fact]
    public void Equality_IsByCanonicalJson()
    {
        Gtid($"{A}:1-3:4-5").ShouldBe(Gtid($"{A.ToUpperInvariant()}:1-5"));
        (Gtid($"{A}:1-5") == Gtid($"{A}:1-5")).ShouldBeTrue();
        Gtid($"{A}:1-5").ShouldNotBe(Gtid($"{A}:1-5", events: 1));
        Gtid("").ShouldNotBe(new MySqlOffset(GtidSet.Empty, null, sourceType: MySqlOffset.SnapshotSourceType));
    }

    [Fact]
    public void ToString_IsHumanReadable()
    {
        new MySqlOffset(GtidSet.Parse($"{A}:1-5"), BinlogPosition.Parse("mysql-bin.000123:4"), ServerA, 1, 2, 3).ToString()
            .ShouldBe($"gtid {A}:1-5, binlog mysql-bin.000123:4, server {A}/1, skip 2 events 3 rows");
        Gtid("").ToString().ShouldBe("gtid (empty)");
        File("b.1:9", id: 4).ToString().ShouldBe("binlog b.1:9, server ?/4");
    }

    [Fact]
    public void Codec_ReadsWhatWasWritten()
    {
        var offsets = new[]
        {
            new MySqlOffset(GtidSet.Parse($"{A}:1-5:t:2,{B}:9"), BinlogPosition.Parse("mysql-bin.000123:4"), ServerA, uint.MaxValue, ulong.MaxValue, 3),
            Gtid(""),
            File("b.1:18446744073709551615", id: 0),
            new MySqlOffset(GtidSet.Parse($"{A}:1"), null, sourceType: MySqlOffset.SnapshotSourceType),
        };

        foreach (var offset in offsets)
        {
            var read = MySqlOffsetCodec.Instance.Read(offset.SourceType, offset.ToJsonElement(), 2).ShouldBeOfType<MySqlOffset>();

            read.ShouldBe(offset);
            read.ToJsonString().ShouldBe(offset.ToJsonString());
            read.CompareTo(offset).ShouldBe(OffsetOrder.Same);
            read.GtidSet.ShouldBe(offset.GtidSet);
            read.BinlogPosition.ShouldBe(offset.BinlogPosition);
            read.ServerUuid.ShouldBe(offset.ServerUuid);
            read.ServerId.ShouldBe(offset.ServerId);
            read.SkipEvents.ShouldBe(offset.SkipEvents);
            read.SkipRows.ShouldBe(offset.SkipRows);
        }
    }

    [Fact]
    public void Codec_NonCanonicalInput_ReadsToTheCanonicalOffset()
    {
        var read = MySqlOffsetCodec.Instance.Read(
            "mysql",
            Json($$"""{"skip_rows":0,"server_uuid":"{{A.ToUpperInvariant()}}","gtid_set":"{{B}}:2, {{A}}:1-2:3","binlog_file":null}"""),
            2);

        read.ToJsonString().ShouldBe($$"""{"gtid_set":"{{A}}:1-3,{{B}}:2","server_uuid":"{{A}}"}""");
    }

    [Theory]
    [InlineData("""{"gtid_set":"3e11fa47-71ca-11e1-9e33-c80aa9429562:0"}""", "field 'gtid_set' is not a valid GTID set")]
    [InlineData("""{"gtid_set":"x","binlog_file":"b.1","binlog_position":4}""", "Invalid MySQL GTID set 'x'")]
    [InlineData("""{"binlog_file":"b.1"}""", "must appear together")]
    [InlineData("""{"binlog_position":4}""", "must appear together")]
    [InlineData("""{"binlog_file":"../b.1","binlog_position":4}""", "is not a binlog file name")]
    [InlineData("""{"binlog_file":"b.1","binlog_position":-4}""", "Path: $.binlog_position")]
    [InlineData("""{"binlog_file":"b.1","binlog_position":"4"}""", "Path: $.binlog_position")]
    [InlineData("""{"binlog_file":"b.1","binlog_position":4.5}""", "Path: $.binlog_position")]
    [InlineData("""{"gtid_set":"","server_uuid":"not-a-uuid"}""", "field 'server_uuid'")]
    [InlineData("""{"gtid_set":"","server_uuid":"00000000-0000-0000-0000-000000000000"}""", "field 'server_uuid'")]
    [InlineData("""{"gtid_set":"","server_id":-1}""", "Path: $.server_id")]
    [InlineData("""{"gtid_set":"","server_id":4294967296}""", "Path: $.server_id")]
    [InlineData("""{"gtid_set":"","skip_events":-1}""", "Path: $.skip_events")]
    [InlineData("""{"gtid_set":"","gtid":"x"}""", "'gtid' could not be mapped")]
    [InlineData("""{"gtid_set":"","gtid_set":"3e11fa47-71ca-11e1-9e33-c80aa9429562:1"}""", "Duplicate")]
    [InlineData("""{}""", "neither 'gtid_set' nor 'binlog_file'")]
    [InlineData("""{"server_id":1}""", "neither 'gtid_set' nor 'binlog_file'")]
    [InlineData("""[]""", "must be a JSON object")]
    [InlineData("""null""", "must be a JSON object")]
    [InlineData(""" "3e11fa47-71ca-11e1-9e33-c80aa9429562:1" """, "must be a JSON object")]
    public void Codec_InvalidJson_ThrowsFormatException(string json, string reason)
    {
        var ex = Should.Throw<FormatException>(() => MySqlOffsetCodec.Instance.Read("mysql", Json(json), 2));

        ex.Message.ShouldContain(reason);
        ex.Message.ShouldContain("mysql");
    }

    [Fact]
    public void Codec_WrongSourceTypeOrVersion_ThrowsArgumentException()
    {
        Should.Throw<ArgumentException>(() => MySqlOffsetCodec.Instance.Read("mariadb", Json("""{"gtid_set":""}"""), 2));
        Should.Throw<ArgumentOutOfRangeException>(() => MySqlOffsetCodec.Instance.Read("mysql", Json("""{"gtid_set":""}"""), 0));
    }

    [Theory]
    [InlineData("mysql", true)]
    [InlineData("mysql_snapshot", true)]
    [InlineData("mariadb", false)]
    [InlineData("mysqlx", false)]
    [InlineData("MySQL", false)]
    [InlineData("", false)]
    public void Codec_CanRead_OnlyTheMySqlFamily(string sourceType, bool expected)
    {
        MySqlOffsetCodec.Instance.CanRead(sourceType).ShouldBe(expected);
    }

    [Fact]
    public void V1_RustCdcRecord_ReadsGtidSetAndBinlog()
    {
        var read = MySqlOffsetCodec.Instance.Read(
            "mysql",
            Json($$"""{"gtid":"{{A.ToUpperInvariant()}}:1-5,\n{{B}}:1-3","binlog_file":"mysql-bin.000001","binlog_pos":8}"""),
            1).ShouldBeOfType<MySqlOffset>();

        read.GtidSet!.ToString().ShouldBe($"{A}:1-5,{B}:1-3");
        read.BinlogPosition.ShouldBe(new BinlogPosition("mysql-bin.000001", 8));
        read.ServerUuid.ShouldBeNull();
        read.SourceType.ShouldBe("mysql");

        // Saved again, it takes the current shape.
        read.ToJsonString().ShouldBe($$"""{"gtid_set":"{{A}}:1-5,{{B}}:1-3","binlog_file":"mysql-bin.000001","binlog_position":8}""");
    }

    [Fact]
    public void V1_EmptyGtid_MeansNoGtids()
    {
        var read = MySqlOffsetCodec.Instance.Read(
            "mysql_snapshot",
            Json("""{"gtid":"","binlog_file":"binlog.000001","binlog_pos":4}"""),
            1).ShouldBeOfType<MySqlOffset>();

        read.GtidSet.ShouldBeNull();
        read.BinlogPosition!.ToString().ShouldBe("binlog.000001:4");
        read.SourceType.ShouldBe("mysql_snapshot");
    }

    [Fact]
    public void V1_EmptyBinlogFile_MeansNoBinlogPosition()
    {
        var read = MySqlOffsetCodec.Instance.Read("mysql", Json($$"""{"gtid":"{{A}}:1","binlog_file":"","binlog_pos":0,"extra":true}"""), 1)
            .ShouldBeOfType<MySqlOffset>();

        read.BinlogPosition.ShouldBeNull();
        read.GtidSet!.Contains(ServerA, 1).ShouldBeTrue();
    }

    [Theory]
    [InlineData("gtid-1")]
    [InlineData("1-2-3")]
    [InlineData("0-1-100")]
    public void V1_GtidThatIsNotAGtidSet_KeptAsWrittenAsAnOpaqueOffset(string gtid)
    {
        // rustcdc stored gtid as free text (its own tests use "1-2-3" and "gtid-1"); such a record must stay readable.
        var json = $$"""{"gtid":"{{gtid}}","binlog_file":"mysql-bin.000001","binlog_pos":4}""";

        var offset = MySqlOffsetCodec.Instance.Read("mysql", Json(json), 1);

        offset.ShouldBeOfType<GenericOffset>().SourceType.ShouldBe("mysql");
        offset.ToJsonString().ShouldBe(json);
    }

    [Theory]
    [InlineData("""{"binlog_file":"b.1","binlog_pos":4}""", "lacks the required field 'gtid'")]
    [InlineData("""{"gtid":"","binlog_pos":4}""", "lacks the required field 'binlog_file'")]
    [InlineData("""{"gtid":"","binlog_file":"b.1"}""", "lacks the required field 'binlog_pos'")]
    [InlineData("""{"gtid":"","binlog_file":"","binlog_pos":0}""", "names no position")]
    [InlineData("""{"gtid":"","binlog_file":"","binlog_pos":4}""", "empty binlog_file")]
    [InlineData("""{"gtid":"","binlog_file":"b.1","binlog_pos":4294967296}""", "Path: $.binlog_pos")]
    [InlineData("""{"gtid":"","binlog_file":"mysql-bin","binlog_pos":4}""", "is not a binlog file name")]
    [InlineData("""{"gtid":5,"binlog_file":"b.1","binlog_pos":4}""", "Path: $.gtid")]
    public void V1_DamagedRecord_ThrowsFormatException(string json, string reason)
    {
        Should.Throw<FormatException>(() => MySqlOffsetCodec.Instance.Read("mysql", Json(json), 1)).Message.ShouldContain(reason);
    }

    [Fact]
    public void Registry_WithMySql_ReadsBothFamiliesTyped()
    {
        var registry = OffsetCodecRegistry.Empty.WithMySql();

        registry.Resolve("mysql").ShouldBeSameAs(MySqlOffsetCodec.Instance);
        registry.Resolve("mysql_snapshot").ShouldBeSameAs(MySqlOffsetCodec.Instance);
        registry.Resolve("mariadb").ShouldBeSameAs(MariaDbOffsetCodec.Instance);
        registry.Resolve("mariadb_snapshot").ShouldBeSameAs(MariaDbOffsetCodec.Instance);
        registry.Resolve("postgres").ShouldBeSameAs(GenericOffsetCodec.Instance);
        registry.WithMySql().Codecs.Length.ShouldBe(2);
        registry.Read("mysql", Json("""{"gtid_set":""}"""), 2).ShouldBeOfType<MySqlOffset>();
        registry.Read("mariadb", Json("""{"gtid_position":"0-1-1"}"""), 2).ShouldBeOfType<MariaDbOffset>();
    }

    [Fact]
    public void ProgressGuard_GtidSetGrows_Advances()
    {
        var stored = new CheckpointRecord("mysql", 10, Gtid($"{A}:1-5"));

        ProgressGuard.Check("test", stored, Gtid($"{A}:1-6,{B}:1"), 11).ShouldBe(ProgressGuard.Verdict.Advance);
        ProgressGuard.Check("test", stored, Gtid($"{A}:1-5", events: 3), 11).ShouldBe(ProgressGuard.Verdict.Advance);
        ProgressGuard.Check("test", stored, Gtid($"{A.ToUpperInvariant()}:1-3:4-5"), 10).ShouldBe(ProgressGuard.Verdict.Repeat);
    }

    [Fact]
    public void ProgressGuard_GtidSetShrinksOrDiverges_IsRefused()
    {
        var stored = new CheckpointRecord("mysql", 10, Gtid($"{A}:1-5"));

        Should.Throw<CheckpointException>(() => ProgressGuard.Check("test", stored, Gtid($"{A}:1-4"), 11))
            .ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        Should.Throw<CheckpointException>(() => ProgressGuard.Check("test", stored, Gtid($"{B}:1-9"), 11))
            .ErrorCode.ShouldBe(CheckpointErrorCode.OffsetDiverged);
    }

    private static IOffsetCodec CodecOf<T>()
        where T : CheckpointOffset, ITypedOffset<T> => T.OffsetCodec;
}
