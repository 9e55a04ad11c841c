using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.Offsets;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Gtid;

public sealed class MariaDbGtidPositionTests
{
    private static MariaDbGtidPosition P(string text) => MariaDbGtidPosition.Parse(text);

    [Fact]
    public void Parse_TwoDomainsOutOfOrderWithWhitespace_IsCanonicalSortedByDomain()
    {
        var position = P(" 1-2-5 ,\n 0-1-100\t");

        position.ToString().ShouldBe("0-1-100,1-2-5");
        position.Gtids.ShouldBe([new MariaDbGtid(0, 1, 100), new MariaDbGtid(1, 2, 5)]);
        position.TryGetGtid(1, out var gtid).ShouldBeTrue();
        gtid.ServerId.ShouldBe(2u);
        position.TryGetGtid(3, out _).ShouldBeFalse();
    }

    [Theory]
    [InlineData("")]
    [InlineData(" \n ")]
    public void Parse_Empty_IsTheEmptyPosition(string text)
    {
        P(text).IsEmpty.ShouldBeTrue();
        P(text).ToString().ShouldBe(string.Empty);
    }

    [Fact]
    public void Parse_LargestValuesAndLeadingZeros_AreDecimal()
    {
        P("4294967295-4294967295-18446744073709551615").Gtids[0]
            .ShouldBe(new MariaDbGtid(uint.MaxValue, uint.MaxValue, ulong.MaxValue));
        P("00-001-0100").ToString().ShouldBe("0-1-100");
    }

    [Theory]
    [InlineData("0-1-100,0-2-101", "domain 0 appears twice")]
    [InlineData("0-1", "expected '-' but the GTID ends")]
    [InlineData("0-1-", "expected the sequence number but the GTID ends")]
    [InlineData("0-1-2-3", "unexpected '-3'")]
    [InlineData("0-1-x", "expected the sequence number (a decimal number) but found 'x'")]
    [InlineData("4294967296-1-1", "domain id is larger than 4294967295")]
    [InlineData("0-4294967296-1", "server id is larger than 4294967295")]
    [InlineData("0-1-18446744073709551616", "sequence number is larger than 18446744073709551615")]
    [InlineData("0-1-100,", "empty element")]
    [InlineData(",0-1-100", "empty element")]
    [InlineData("0-1-100,,1-1-1", "empty element")]
    [InlineData("0-1-100 1-1-1", "expected ',' or the end")]
    [InlineData("0 - 1 - 100", "is not a GTID")]
    [InlineData("-1-1-1", "expected the domain id")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5", "is not a GTID")]
    public void Parse_Invalid_ThrowsFormatExceptionQuotingTheInput(string text, string reason)
    {
        var ex = Should.Throw<FormatException>(() => P(text));

        ex.Message.ShouldContain($"'{text}'");
        ex.Message.ShouldContain(reason);
        MariaDbGtidPosition.TryParse(text, out var result).ShouldBeFalse();
        result.ShouldBeNull();
    }

    [Fact]
    public void Constructor_DuplicateDomain_ThrowsArgumentException()
    {
        var ex = Should.Throw<ArgumentException>(() => new MariaDbGtidPosition([new MariaDbGtid(3, 1, 1), new MariaDbGtid(3, 2, 2)]));

        ex.Message.ShouldContain("Domain 3 appears twice");
    }

    [Fact]
    public void MariaDbGtid_ParseAndFormat()
    {
        MariaDbGtid.Parse(" 0-1-100 ").ShouldBe(new MariaDbGtid(0, 1, 100));
        new MariaDbGtid(0, 1, 100).ToString().ShouldBe("0-1-100");
        Should.Throw<FormatException>(() => MariaDbGtid.Parse("0-1")).Message.ShouldContain("'0-1'");
        MariaDbGtid.TryParse(null, out _).ShouldBeFalse();
        (new MariaDbGtid(1, 2, 3) == new MariaDbGtid(1, 2, 3)).ShouldBeTrue();
        (new MariaDbGtid(1, 2, 3) != new MariaDbGtid(1, 9, 3)).ShouldBeTrue();
    }

    // The order matrix: this position compared with the other.
    [Theory]
    [InlineData("0-1-100", "0-1-100", OffsetOrder.Same)]
    [InlineData("", "", OffsetOrder.Same)]
    [InlineData("0-1-101", "0-1-100", OffsetOrder.After)]
    [InlineData("0-1-99", "0-1-100", OffsetOrder.Before)]
    [InlineData("0-2-101", "0-1-100", OffsetOrder.After)] // failover: the server id changed, the sequence still orders
    [InlineData("0-2-99", "0-1-100", OffsetOrder.Before)]
    [InlineData("0-2-100", "0-1-100", OffsetOrder.Diverged)] // same sequence number, different transaction
    [InlineData("0-1-100,1-1-5", "0-1-100,1-1-5", OffsetOrder.Same)]
    [InlineData("0-1-101,1-1-5", "0-1-100,1-1-5", OffsetOrder.After)]
    [InlineData("0-1-101,1-1-6", "0-1-100,1-1-5", OffsetOrder.After)]
    [InlineData("0-1-100,1-1-4", "0-1-100,1-1-5", OffsetOrder.Before)]
    [InlineData("0-1-99,1-1-4", "0-1-100,1-1-5", OffsetOrder.Before)]
    [InlineData("0-1-101,1-1-4", "0-1-100,1-1-5", OffsetOrder.Diverged)] // ahead in one domain, behind in another
    [InlineData("0-1-100,1-1-1", "0-1-100", OffsetOrder.After)] // a new domain appeared
    [InlineData("0-1-100", "0-1-100,1-1-1", OffsetOrder.Before)]
    [InlineData("0-1-99,1-1-1", "0-1-100", OffsetOrder.Diverged)]
    [InlineData("1-1-1", "0-1-1", OffsetOrder.Diverged)]
    [InlineData("0-1-1", "", OffsetOrder.After)]
    [InlineData("", "0-1-1", OffsetOrder.Before)]
    public void CompareTo_OrderMatrix(string left, string right, OffsetOrder expected)
    {
        P(left).CompareTo(P(right)).ShouldBe(expected);
    }

    [Fact]
    public void With_ReplacesOrAddsTheDomain()
    {
        var position = P("0-1-100,5-1-7");

        position.With(new MariaDbGtid(0, 2, 101)).ToString().ShouldBe("0-2-101,5-1-7");
        position.With(new MariaDbGtid(3, 1, 1)).ToString().ShouldBe("0-1-100,3-1-1,5-1-7");
        position.With(new MariaDbGtid(9, 1, 1)).ToString().ShouldBe("0-1-100,5-1-7,9-1-1");
        position.With(new MariaDbGtid(0, 1, 100)).ShouldBeSameAs(position);
        position.ToString().ShouldBe("0-1-100,5-1-7");
    }

    [Fact]
    public void Equality_IsByContent()
    {
        var first = P("1-2-5,0-1-100");
        var second = P("0-1-100, 1-2-5");

        first.ShouldBe(second);
        (first == second).ShouldBeTrue();
        first.GetHashCode().ShouldBe(second.GetHashCode());
        first.ShouldNotBe(P("0-1-100,1-3-5"));
        (first != P("0-1-100")).ShouldBeTrue();
    }
}
