using BinlogTailer;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Tailer;

/// <summary>The Info texts of SHOW BINLOG EVENTS the tailer acts on, as MariaDB 10.11 and MySQL 8.0/8.4 print them.</summary>
public sealed class BinlogEventTextTests
{
    [Theory]
    [InlineData("BEGIN GTID 0-1-5", "0-1-5", false)]
    [InlineData("BEGIN GTID 3-77-123 cid=17", "3-77-123", false)]
    [InlineData("GTID 0-1-6", "0-1-6", true)]
    [InlineData("XA START X'31',X'',1 GTID 0-1-7", "0-1-7", false)]
    public void TryParseMariaDbGtid_EventInfo_GtidAndWhetherStandalone(string info, string gtid, bool standalone)
    {
        BinlogEventText.TryParseMariaDbGtid(info, out var parsed, out var isStandalone).ShouldBeTrue();
        parsed.ToString().ShouldBe(gtid);
        isStandalone.ShouldBe(standalone);
    }

    [Theory]
    [InlineData("[0-1-6]")]
    [InlineData("BEGIN GTID x-1-5")]
    [InlineData("")]
    public void TryParseMariaDbGtid_NotAGtidEvent_False(string info)
    {
        BinlogEventText.TryParseMariaDbGtid(info, out _, out _).ShouldBeFalse();
    }

    [Theory]
    [InlineData("SET @@SESSION.GTID_NEXT= '3E11FA47-71CA-11E1-9E33-C80AA9429562:23'", "3e11fa47-71ca-11e1-9e33-c80aa9429562:23")]
    [InlineData("SET @@SESSION.GTID_NEXT= '3e11fa47-71ca-11e1-9e33-c80aa9429562:Batch_1:7'", "3e11fa47-71ca-11e1-9e33-c80aa9429562:batch_1:7")]
    public void TryParseMySqlGtid_EventInfo_UuidTagAndNumber(string info, string gtid)
    {
        BinlogEventText.TryParseMySqlGtid(info, out var parsed).ShouldBeTrue();
        parsed.ToString().ShouldBe(gtid);
    }

    [Theory]
    [InlineData("SET @@SESSION.GTID_NEXT= 'ANONYMOUS'")]
    [InlineData("SET @@SESSION.GTID_NEXT= '3e11fa47-71ca-11e1-9e33-c80aa9429562:0'")]
    [InlineData("SET @@SESSION.GTID_NEXT= '3e11fa47-71ca-11e1-9e33-c80aa9429562::7'")]
    public void TryParseMySqlGtid_AnonymousOrMalformed_False(string info)
    {
        BinlogEventText.TryParseMySqlGtid(info, out _).ShouldBeFalse();
    }

    [Fact]
    public void TryParseRotate_RotateInfo_FileAndPosition()
    {
        BinlogEventText.TryParseRotate("binlog.000002;pos=4", out var file, out var position).ShouldBeTrue();
        (file, position).ShouldBe(("binlog.000002", 4UL));
        BinlogEventText.TryParseRotate("binlog.000002", out _, out _).ShouldBeFalse();
    }

    [Theory]
    [InlineData("COMMIT", true)]
    [InlineData("COMMIT /* implicit, from Xid_log_event */", true)]
    [InlineData("ROLLBACK", true)]
    [InlineData("XA COMMIT X'31',X'',1", true)]
    [InlineData("BEGIN", false)]
    [InlineData("use `db`; create table t (id int)", false)]
    public void EndsTransaction_QueryInfo_OnlyTransactionEnds(string info, bool ends)
    {
        BinlogEventText.EndsTransaction(info).ShouldBe(ends);
    }
}
