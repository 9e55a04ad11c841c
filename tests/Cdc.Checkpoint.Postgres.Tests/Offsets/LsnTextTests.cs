using Cdc.Checkpoint.Postgres;
using FsCheck;
using FsCheck.Fluent;
using NpgsqlTypes;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Offsets;

public sealed class LsnTextTests
{
    [Theory]
    [InlineData("0/0", 0UL)]
    [InlineData("0/16B3748", 0x16B3748UL)]
    [InlineData("0/16b3748", 0x16B3748UL)]
    [InlineData("16/B374D848", 0x16_B374D848UL)]
    [InlineData("1/0", 0x1_00000000UL)]
    [InlineData("0/FFFFFFFF", 0xFFFFFFFFUL)]
    [InlineData("FFFFFFFF/FFFFFFFF", ulong.MaxValue)]
    [InlineData("ffffffff/ffffffff", ulong.MaxValue)]
    [InlineData("00000000/00000001", 1UL)]
    [InlineData("aBcD/eF01", 0xABCD_0000EF01UL)]
    public void ParseLsn_ValidText_ReturnsValue(string text, ulong expected)
    {
        var lsn = PostgresOffset.ParseLsn(text);

        ((ulong)lsn).ShouldBe(expected);
        PostgresOffset.TryParseLsn(text, out var tried).ShouldBeTrue();
        tried.ShouldBe(lsn);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("1")]
    [InlineData("1/")]
    [InlineData("/1")]
    [InlineData("/")]
    [InlineData("G/0")]
    [InlineData("0/G")]
    [InlineData("1/2/3")]
    [InlineData("100000000/0")]
    [InlineData("0/100000000")]
    [InlineData("000000000/0")]
    [InlineData(" 0/0")]
    [InlineData("0/0 ")]
    [InlineData("0 /0")]
    [InlineData("0/ 0")]
    [InlineData("\t0/0")]
    [InlineData("0/0\n")]
    [InlineData("+1/0")]
    [InlineData("-1/0")]
    [InlineData("0x1/0")]
    [InlineData("1.5/0")]
    [InlineData("0\\0")]
    [InlineData("０/０")]
    [InlineData("0/0\0")]
    public void ParseLsn_MalformedText_ThrowsFormatExceptionQuotingInput(string text)
    {
        var ex = Assert.Throws<FormatException>(() => PostgresOffset.ParseLsn(text));

        ex.Message.ShouldContain($"'{text}'");
        ex.Message.ShouldContain("0/16B3748");
        PostgresOffset.TryParseLsn(text, out var lsn).ShouldBeFalse();
        lsn.ShouldBe(NpgsqlLogSequenceNumber.Invalid);
    }

    [Fact]
    public void ParseLsn_VeryLongInput_QuotesOnlyTheStart()
    {
        var text = new string('A', 5000);

        var ex = Assert.Throws<FormatException>(() => PostgresOffset.ParseLsn(text));

        ex.Message.Length.ShouldBeLessThan(600);
        ex.Message.ShouldContain("5000 chars");
    }

    [Fact]
    public void ParseLsn_Null_ThrowsArgumentNullException()
    {
        Assert.Throws<ArgumentNullException>(() => PostgresOffset.ParseLsn(null!));
    }

    [Theory]
    [InlineData(0UL, "0/0")]
    [InlineData(0x16B3748UL, "0/16B3748")]
    [InlineData(0x1_00000000UL, "1/0")]
    [InlineData(0x16_B374D848UL, "16/B374D848")]
    [InlineData(ulong.MaxValue, "FFFFFFFF/FFFFFFFF")]
    public void FormatLsn_Value_WritesUpperCaseWithoutLeadingZeros(ulong value, string expected)
    {
        PostgresOffset.FormatLsn(new NpgsqlLogSequenceNumber(value)).ShouldBe(expected);
    }

    [Fact]
    public void FormatThenParse_AnyValue_RoundTrips()
    {
        Prop.ForAll(Arb.From(Generators.Lsn), lsn =>
                PostgresOffset.ParseLsn(PostgresOffset.FormatLsn(lsn)) == lsn
                && PostgresOffset.FormatLsn(lsn) == lsn.ToString())
            .QuickCheckThrowOnFailure();
    }

    [Fact]
    public void ParseThenFormat_AnySpelling_GivesCanonicalText()
    {
        // Any case and any leading zeros within PostgreSQL's 8-digit limit parse to the same LSN, which always
        // formats the one canonical way.
        var spelled =
            from high in Generators.UInt32
            from low in Generators.UInt32
            from highPad in Gen.Choose(0, 7)
            from lowPad in Gen.Choose(0, 7)
            from lower in Gen.Elements(true, false)
            select (Value: ((ulong)high << 32) | low, Text: Spell(high, highPad, lower) + "/" + Spell(low, lowPad, !lower));

        Check.One(
            Config.QuickThrowOnFailure.WithMaxTest(1000),
            Prop.ForAll(Arb.From(spelled), s =>
            {
                var lsn = PostgresOffset.ParseLsn(s.Text);
                return (ulong)lsn == s.Value
                       && PostgresOffset.FormatLsn(lsn) == $"{(uint)(s.Value >> 32):X}/{(uint)s.Value:X}"
                       && NpgsqlLogSequenceNumber.Parse(s.Text) == lsn;
            }));

        static string Spell(uint value, int pad, bool lower)
        {
            var hex = value.ToString(lower ? "x" : "X");
            return hex.PadLeft(Math.Min(8, hex.Length + pad), '0');
        }
    }
}
