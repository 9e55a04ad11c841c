using Cdc.Checkpoint.Offsets;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests;

public sealed class BinlogPositionTests
{
    [Fact]
    public void Parse_FileAndPosition_SplitsTheSuffix()
    {
        var binlog = BinlogPosition.Parse("mysql-bin.000123:4");

        binlog.FileName.ShouldBe("mysql-bin.000123");
        binlog.BaseName.ShouldBe("mysql-bin");
        binlog.FileSequence.ShouldBe(123UL);
        binlog.Position.ShouldBe(4UL);
        binlog.ToString().ShouldBe("mysql-bin.000123:4");
    }

    [Fact]
    public void Parse_DottedHostNameBase_UsesTheLastDot()
    {
        var binlog = BinlogPosition.Parse(" db-1.example.com-bin.1000000:18446744073709551615 ");

        binlog.BaseName.ShouldBe("db-1.example.com-bin");
        binlog.FileSequence.ShouldBe(1_000_000UL);
        binlog.Position.ShouldBe(ulong.MaxValue);
    }

    [Theory]
    [InlineData("mysql-bin.000123", "no ':'")]
    [InlineData("mysql-bin.000123:", "is not a decimal number")]
    [InlineData("mysql-bin.000123:-4", "is not a decimal number")]
    [InlineData("mysql-bin.000123:+4", "is not a decimal number")]
    [InlineData("mysql-bin.000123:18446744073709551616", "is not a decimal number")]
    [InlineData(":4", "the name is empty")]
    [InlineData("mysql-bin:4", "ends with '.' and a sequence number")]
    [InlineData("mysql-bin.:4", "ends with '.' and a sequence number")]
    [InlineData(".000001:4", "ends with '.' and a sequence number")]
    [InlineData("mysql-bin.00001a:4", "ends with '.' and a sequence number")]
    [InlineData("/var/lib/mysql/mysql-bin.000001:4", "no directory part")]
    [InlineData("..\\mysql-bin.000001:4", "no directory part")]
    [InlineData("mysql..bin.000001:4", "'..' is not allowed")]
    [InlineData("a:b.000001:4", "':' is not allowed")]
    [InlineData("mysql-bin.99999999999999999999999:4", "too large")]
    [InlineData(" x.1 :4", "whitespace")]
    public void Parse_Invalid_ThrowsFormatExceptionQuotingTheInput(string text, string reason)
    {
        var ex = Should.Throw<FormatException>(() => BinlogPosition.Parse(text));

        ex.Message.ShouldContain($"'{text}'");
        ex.Message.ShouldContain(reason);
        BinlogPosition.TryParse(text, out var result).ShouldBeFalse();
        result.ShouldBeNull();
    }

    [Fact]
    public void Constructor_InvalidName_ThrowsArgumentException()
    {
        var ex = Should.Throw<ArgumentException>(() => new BinlogPosition("../etc/passwd.1", 4));

        ex.ParamName.ShouldBe("fileName");
        ex.Message.ShouldContain("../etc/passwd.1");
        Should.Throw<ArgumentException>(() => new BinlogPosition(new string('a', 250) + ".000001", 4)).Message.ShouldContain("at most 255");
        Should.Throw<ArgumentException>(() => new BinlogPosition("bin\n.1", 4)).Message.ShouldContain("control characters");
        BinlogPosition.IsValidFileName("binlog.000001").ShouldBeTrue();
        BinlogPosition.IsValidFileName("binlog").ShouldBeFalse();
        BinlogPosition.IsValidFileName(null).ShouldBeFalse();
    }

    [Fact]
    public void FileName_NonAscii_IsKeptAndSurvivesJson()
    {
        var offset = new MySqlOffset(null, new BinlogPosition("bin-é-\U0001F600.000001", 4));

        var read = MySqlOffsetCodec.Instance.Read("mysql", offset.ToJsonElement(), 2).ShouldBeOfType<MySqlOffset>();

        read.BinlogPosition!.FileName.ShouldBe("bin-é-\U0001F600.000001");
        Should.Throw<ArgumentException>(() => new BinlogPosition("bin-\ud800.000001", 4)).Message.ShouldContain("unpaired surrogate");
        Should.Throw<ArgumentException>(() => new BinlogPosition("bin-\udc00x.000001", 4)).Message.ShouldContain("unpaired surrogate");
    }

    [Theory]
    [InlineData("mysql-bin.000123:4", "mysql-bin.000123:4", OffsetOrder.Same)]
    [InlineData("mysql-bin.000123:500", "mysql-bin.000123:4", OffsetOrder.After)]
    [InlineData("mysql-bin.000123:4", "mysql-bin.000123:500", OffsetOrder.Before)]
    [InlineData("mysql-bin.000124:4", "mysql-bin.000123:99999", OffsetOrder.After)]
    [InlineData("mysql-bin.000122:99999", "mysql-bin.000123:4", OffsetOrder.Before)]
    [InlineData("mysql-bin.1000000:4", "mysql-bin.999999:4", OffsetOrder.After)]
    [InlineData("binlog.000123:4", "mysql-bin.000123:4", OffsetOrder.Diverged)]
    [InlineData("MYSQL-bin.000123:4", "mysql-bin.000123:4", OffsetOrder.Diverged)]
    [InlineData("mysql-bin.0000123:4", "mysql-bin.000123:4", OffsetOrder.Diverged)]
    public void CompareTo_OrdersByBaseThenSequenceThenPosition(string left, string right, OffsetOrder expected)
    {
        BinlogPosition.Parse(left).CompareTo(BinlogPosition.Parse(right)).ShouldBe(expected);
    }

    [Fact]
    public void Equality_IsByFileNameAndPosition()
    {
        BinlogPosition.Parse("b.1:4").ShouldBe(new BinlogPosition("b.1", 4));
        (BinlogPosition.Parse("b.1:4") == new BinlogPosition("b.1", 4)).ShouldBeTrue();
        (BinlogPosition.Parse("b.1:4") != new BinlogPosition("b.01", 4)).ShouldBeTrue();
        BinlogPosition.Parse("b.1:4").GetHashCode().ShouldBe(new BinlogPosition("b.1", 4).GetHashCode());
    }
}
