using System.Text.Json;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.Offsets;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests;

public sealed class MariaDbOffsetTests
{
    private static MariaDbOffset Gtid(string position, ulong events = 0, ulong rows = 0, uint? id = null, string? binlog = null) =>
        new(MariaDbGtidPosition.Parse(position), binlog is null ? null : BinlogPosition.Parse(binlog), id, events, rows);

    private static MariaDbOffset File(string binlog, uint? id = null, ulong events = 0, ulong rows = 0) =>
        new(null, BinlogPosition.Parse(binlog), id, events, rows);

    private static JsonElement Json(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    public static TheoryData<MariaDbOffset, CheckpointOffset, OffsetOrder> CompareCases() => new()
    {
        { Gtid("0-1-100"), Gtid("0-1-100"), OffsetOrder.Same },
        { Gtid("0-1-101"), Gtid("0-1-100"), OffsetOrder.After },
        { Gtid("0-1-100,1-1-1"), Gtid("0-1-100"), OffsetOrder.After },
        { Gtid("0-1-101,1-1-4"), Gtid("0-1-100,1-1-5"), OffsetOrder.Diverged },
        { Gtid("0-2-100"), Gtid("0-1-100"), OffsetOrder.Diverged },
        { Gtid("0-1-100", events: 1), Gtid("0-1-100"), OffsetOrder.After },
        { Gtid("0-1-100", events: 1, rows: 1), Gtid("0-1-100", events: 1, rows: 2), OffsetOrder.Before },
        { Gtid("0-1-101"), Gtid("0-1-100", events: 5), OffsetOrder.After },

        // Failover: another server id and other binlog files do not matter when both have GTID positions.
        { Gtid("0-2-101", id: 2, binlog: "other.000001:4"), Gtid("0-1-100", id: 1, binlog: "mariadb-bin.000009:4"), OffsetOrder.After },

        // Binlog only: same server, then file, then position, then skip counts.
        { File("mariadb-bin.000002:4"), File("mariadb-bin.000001:900"), OffsetOrder.After },
        { File("mariadb-bin.000001:4", id: 1), File("mariadb-bin.000001:4", id: 1), OffsetOrder.Same },
        { File("mariadb-bin.000001:4", rows: 1), File("mariadb-bin.000001:4"), OffsetOrder.After },
        { File("mariadb-bin.000001:8", id: 1), File("mariadb-bin.000001:4", id: 2), OffsetOrder.Diverged },
        { File("mariadb-bin.000001:8", id: 1), File("mariadb-bin.000001:4"), OffsetOrder.After },
        { File("mariadb-bin.000001:8"), File("mysql-bin.000001:4"), OffsetOrder.Diverged },

        // GTID on one side only.
        { Gtid("0-1-1", binlog: "mariadb-bin.000001:8"), File("mariadb-bin.000001:4"), OffsetOrder.After },
        { Gtid("0-1-1"), File("mariadb-bin.000001:4"), OffsetOrder.Diverged },

        // Other kinds.
        { Gtid("0-1-1"), new MariaDbOffset(MariaDbGtidPosition.Parse("0-1-1"), null, sourceType: MariaDbOffset.SnapshotSourceType), OffsetOrder.Diverged },
        { File("mariadb-bin.000001:4"), new MySqlOffset(null, BinlogPosition.Parse("mariadb-bin.000001:4")), OffsetOrder.Diverged },
    };

    [Theory]
    [MemberData(nameof(CompareCases))]
    public void CompareTo_Matrix(MariaDbOffset offset, CheckpointOffset other, OffsetOrder expected)
    {
        offset.CompareTo(other).ShouldBe(expected);
        if (other is MariaDbOffset typed)
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
    public void Constructor_Validation()
    {
        Should.Throw<ArgumentException>(() => new MariaDbOffset(null, null)).Message.ShouldContain("MariaDbGtidPosition.Empty");
        Should.Throw<ArgumentException>(() => new MariaDbOffset(MariaDbGtidPosition.Empty, null, sourceType: "mysql")).ParamName.ShouldBe("sourceType");
        var snapshot = new MariaDbOffset(MariaDbGtidPosition.Empty, null, sourceType: MariaDbOffset.SnapshotSourceType);
        snapshot.SourceFamily.ShouldBe("mariadb");
        snapshot.Codec.ShouldBeSameAs(MariaDbOffsetCodec.Instance);
        CodecOf<MariaDbOffset>().ShouldBeSameAs(MariaDbOffsetCodec.Instance);
    }

    [Fact]
    public void ToJsonString_IsCanonical()
    {
        new MariaDbOffset(MariaDbGtidPosition.Parse("1-2-5, 0-1-100"), BinlogPosition.Parse("mariadb-bin.000007:4"), 1, 2, 3).ToJsonString()
            .ShouldBe("""{"gtid_position":"0-1-100,1-2-5","binlog_file":"mariadb-bin.000007","binlog_position":4,"server_id":1,"skip_events":2,"skip_rows":3}""");
        Gtid("").ToJsonString().ShouldBe("""{"gtid_position":""}""");
        File("b.1:4").ToJsonString().ShouldBe("""{"binlog_file":"b.1","binlog_position":4}""");
    }

    [Fact]
    public void ToString_IsHumanReadable()
    {
        Gtid("0-1-100,1-2-5", id: 1, binlog: "mariadb-bin.000007:4", events: 1).ToString()
            .ShouldBe("gtid 0-1-100,1-2-5, binlog mariadb-bin.000007:4, server 1, skip 1 events 0 rows");
    }

    [Fact]
    public void Codec_ReadsWhatWasWritten()
    {
        var offsets = new[]
        {
            new MariaDbOffset(MariaDbGtidPosition.Parse("0-1-100,4294967295-4294967295-18446744073709551615"), BinlogPosition.Parse("mariadb-bin.000007:4"), 0, 1, ulong.MaxValue),
            Gtid(""),
            File("b.1:4", id: 9),
            new MariaDbOffset(null, BinlogPosition.Parse("b.2:4"), sourceType: MariaDbOffset.SnapshotSourceType),
        };

        foreach (var offset in offsets)
        {
            var read = MariaDbOffsetCodec.Instance.Read(offset.SourceType, offset.ToJsonElement(), 2).ShouldBeOfType<MariaDbOffset>();

            read.ShouldBe(offset);
            read.CompareTo(offset).ShouldBe(OffsetOrder.Same);
            read.GtidPosition.ShouldBe(offset.GtidPosition);
            read.BinlogPosition.ShouldBe(offset.BinlogPosition);
            read.ServerId.ShouldBe(offset.ServerId);
            read.SkipEvents.ShouldBe(offset.SkipEvents);
            read.SkipRows.ShouldBe(offset.SkipRows);
        }
    }

    [Theory]
    [InlineData("""{"gtid_position":"0-1-100,0-2-7"}""", "domain 0 appears twice")]
    [InlineData("""{"gtid_position":"3e11fa47-71ca-11e1-9e33-c80aa9429562:1"}""", "field 'gtid_position' is not a valid GTID position")]
    [InlineData("""{"gtid_set":"0-1-1"}""", "'gtid_set' could not be mapped")]
    [InlineData("""{"binlog_file":"b.1"}""", "must appear together")]
    [InlineData("""{"server_id":1}""", "neither 'gtid_position' nor 'binlog_file'")]
    [InlineData("""42""", "must be a JSON object")]
    public void Codec_InvalidJson_ThrowsFormatException(string json, string reason)
    {
        var ex = Should.Throw<FormatException>(() => MariaDbOffsetCodec.Instance.Read("mariadb", Json(json), 2));

        ex.Message.ShouldContain(reason);
    }

    [Theory]
    [InlineData("mariadb", true)]
    [InlineData("mariadb_snapshot", true)]
    [InlineData("mysql", false)]
    [InlineData("maria", false)]
    public void Codec_CanRead_OnlyTheMariaDbFamily(string sourceType, bool expected)
    {
        MariaDbOffsetCodec.Instance.CanRead(sourceType).ShouldBe(expected);
    }

    [Fact]
    public void V1_RustCdcRecord_ReadsGtidPositionAndBinlog()
    {
        // rustcdc stored MariaDB offsets in its MySQL shape.
        var read = MariaDbOffsetCodec.Instance.Read("mariadb", Json("""{"gtid":"1-2-3","binlog_file":"mysql-bin.000001","binlog_pos":8}"""), 1)
            .ShouldBeOfType<MariaDbOffset>();

        read.GtidPosition!.Gtids.ShouldBe([new MariaDbGtid(1, 2, 3)]);
        read.BinlogPosition.ShouldBe(new BinlogPosition("mysql-bin.000001", 8));
        read.ToJsonString().ShouldBe("""{"gtid_position":"1-2-3","binlog_file":"mysql-bin.000001","binlog_position":8}""");
    }

    [Fact]
    public void V1_EmptyGtid_MeansNoGtids()
    {
        var read = MariaDbOffsetCodec.Instance.Read("mariadb_snapshot", Json("""{"gtid":"","binlog_file":"mariadb-bin.000001","binlog_pos":4}"""), 1)
            .ShouldBeOfType<MariaDbOffset>();

        read.GtidPosition.ShouldBeNull();
        read.SourceType.ShouldBe("mariadb_snapshot");
    }

    [Theory]
    [InlineData("gtid-1", "isn't a valid MariaDB GTID position")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5", "It looks like a MySQL GTID set")]
    [InlineData("0-1-1,0-1-2", "domain 0 appears twice")]
    public void V1_GtidThatIsNotAPosition_ThrowsFormatExceptionQuotingIt(string gtid, string reason)
    {
        var ex = Should.Throw<FormatException>(() =>
            MariaDbOffsetCodec.Instance.Read("mariadb", Json($$"""{"gtid":"{{gtid}}","binlog_file":"mariadb-bin.000001","binlog_pos":4}"""), 1));

        ex.Message.ShouldContain($"'{gtid}'");
        ex.Message.ShouldContain(reason);
    }

    [Fact]
    public void ProgressGuard_NewDomainAppears_Advances()
    {
        var stored = new CheckpointRecord("mariadb", 10, Gtid("0-1-100"));

        ProgressGuard.Check("test", stored, Gtid("0-1-100,1-2-1"), 11).ShouldBe(ProgressGuard.Verdict.Advance);
        ProgressGuard.Check("test", stored, Gtid("0-3-101"), 11).ShouldBe(ProgressGuard.Verdict.Advance);
        Should.Throw<CheckpointException>(() => ProgressGuard.Check("test", stored, Gtid("0-1-99"), 11))
            .ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        Should.Throw<CheckpointException>(() => ProgressGuard.Check("test", stored, Gtid("0-2-100"), 11))
            .ErrorCode.ShouldBe(CheckpointErrorCode.OffsetDiverged);
    }

    private static IOffsetCodec CodecOf<T>()
        where T : CheckpointOffset, ITypedOffset<T> => T.OffsetCodec;
}
