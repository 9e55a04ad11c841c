using Cdc.Checkpoint.MySql.Gtid;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Gtid;

public sealed class GtidSetParseTests
{
    internal static readonly Guid A = Guid.Parse("3e11fa47-71ca-11e1-9e33-c80aa9429562");
    internal static readonly Guid B = Guid.Parse("4e11fa47-71ca-11e1-9e33-c80aa9429562");
    private const string AText = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    private const string BText = "4e11fa47-71ca-11e1-9e33-c80aa9429562";

    [Fact]
    public void Parse_GtidExecutedWithNewlinesAndUpperCase_ReadsBothSourcesCanonically()
    {
        var set = GtidSet.Parse("3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5,\n4E11FA47-71CA-11E1-9E33-C80AA9429562:1-3");

        set.ToString().ShouldBe($"{AText}:1-5,{BText}:1-3");
        set.Entries.Length.ShouldBe(2);
        set.Entries[0].SourceId.ShouldBe(A);
        set.Entries[0].Intervals.ShouldBe([new GtidInterval(1, 5)]);
        set.Entries[1].SourceId.ShouldBe(B);
        set.TransactionCount.ShouldBe((UInt128)8);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\n\t \r\n")]
    public void Parse_EmptyOrWhitespace_IsTheEmptySet(string text)
    {
        var set = GtidSet.Parse(text);

        set.IsEmpty.ShouldBeTrue();
        set.ShouldBeSameAs(GtidSet.Empty);
        set.ToString().ShouldBe(string.Empty);
        set.TransactionCount.ShouldBe(UInt128.Zero);
    }

    [Fact]
    public void Parse_WhitespaceAroundEverySeparator_IsAccepted()
    {
        var set = GtidSet.Parse($"  {BText} : 7 - 9 : 1 ,\r\n\t {AText} :2  ");

        set.ToString().ShouldBe($"{AText}:2,{BText}:1:7-9");
    }

    [Fact]
    public void Parse_SourcesOutOfOrder_SortsByUuid()
    {
        GtidSet.Parse($"{BText}:1,{AText}:1").ToString().ShouldBe($"{AText}:1,{BText}:1");
    }

    [Fact]
    public void Parse_RepeatedUuid_MergesIntervals()
    {
        var set = GtidSet.Parse($"{AText}:1-3,{BText}:5,{AText.ToUpperInvariant()}:4-5:9");

        set.ToString().ShouldBe($"{AText}:1-5:9,{BText}:5");
    }

    [Theory]
    [InlineData("1-3:4-5", "1-5")]
    [InlineData("4-5:1-3", "1-5")]
    [InlineData("1-10:3-4", "1-10")]
    [InlineData("1-5:5-8", "1-8")]
    [InlineData("7:1:8:2:3", "1-3:7-8")]
    [InlineData("5-5", "5")]
    [InlineData("1:1:1", "1")]
    [InlineData("1-3:6-9:4", "1-4:6-9")]
    [InlineData("1-3:5-9:4", "1-9")]
    public void Parse_OverlappingOrAdjacentIntervals_AreCoalesced(string intervals, string expected)
    {
        GtidSet.Parse($"{AText}:{intervals}").ToString().ShouldBe($"{AText}:{expected}");
    }

    [Fact]
    public void Parse_TaggedGtids_FormatsLikeMySql()
    {
        var set = GtidSet.Parse($"{AText}:1-5:Batch_1:5-7:ALPHA:1,{AText}:alpha:2,{AText}:6-7");

        // Untagged intervals first, then tags in order; the tag is lower case.
        set.ToString().ShouldBe($"{AText}:1-7:alpha:1-2:batch_1:5-7");
        set.Contains(A, 6).ShouldBeTrue();
        set.Contains(A, "BATCH_1", 6).ShouldBeTrue();
        set.Contains(A, "alpha", 3).ShouldBeFalse();
        set.Contains(A, "batch_1", 1).ShouldBeFalse();
        set.Entries.Select(e => e.Tag).ShouldBe(["", "alpha", "batch_1"]);
    }

    [Fact]
    public void Parse_IntervalsAfterATag_BelongToThatTagUntilTheNextTag()
    {
        var set = GtidSet.Parse($"{AText}:x:5-7:1-2:y:9");

        set.ToString().ShouldBe($"{AText}:x:1-2:5-7:y:9");
        set.Contains(A, 1).ShouldBeFalse();
    }

    [Fact]
    public void Parse_TagFirstThenUntaggedInAnotherElement_KeepsThemApart()
    {
        var set = GtidSet.Parse($"{AText}:tag:1-5,{AText}:1-2");

        set.ToString().ShouldBe($"{AText}:1-2:tag:1-5");
        set.Contains(A, 3).ShouldBeFalse();
        set.Contains(A, "tag", 3).ShouldBeTrue();
    }

    [Fact]
    public void Parse_TagOfThirtyTwoCharactersAndUnderscoreStart_IsAccepted()
    {
        var tag = "_" + new string('z', 31);

        GtidSet.Parse($"{AText}:{tag}:1").Entries[0].Tag.ShouldBe(tag);
    }

    [Fact]
    public void Parse_LargestTransactionNumber_IsAccepted()
    {
        var set = GtidSet.Parse($"{AText}:1-9223372036854775806");

        set.Entries[0].Intervals[0].Last.ShouldBe(GtidSet.MaxTransactionNumber);
        set.TransactionCount.ShouldBe((UInt128)GtidSet.MaxTransactionNumber);
        set.ToString().ShouldBe($"{AText}:1-9223372036854775806");
    }

    [Fact]
    public void TransactionCount_ManySourcesAtTheTop_DoesNotOverflow()
    {
        var set = GtidSet.Parse($"{AText}:1-9223372036854775806:a:1-9223372036854775806:b:1-9223372036854775806,{BText}:1-9223372036854775806");

        set.TransactionCount.ShouldBe((UInt128)GtidSet.MaxTransactionNumber * 4);
    }

    [Theory]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:0", "start at 1")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:0-5", "start at 1")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:5-3", "inverted")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-0", "start at 1")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:9223372036854775807", "larger than 9223372036854775806")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-99999999999999999999999", "larger than")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:010", "leading zero")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:0x10", "start at 1")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:-5", "expected a transaction number")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-", "expected a transaction number")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562", "has no transaction numbers")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:", "expected a transaction number")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:tag", "has no transaction numbers")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:a:b:1", "tag 'a' of 3e11fa47-71ca-11e1-9e33-c80aa9429562 has no transaction numbers")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:1:tag", "has no transaction numbers")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:abcdefghijabcdefghijabcdefghijabc:1", "at most 32")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:9tag:1", "expected ':', ',' or the end")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:ta-g:1", "tag 'ta' of 3e11fa47-71ca-11e1-9e33-c80aa9429562 has no transaction numbers")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:tag:1g", "expected ':', ',' or the end")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:1,", "ends with a comma")]
    [InlineData(",3e11fa47-71ca-11e1-9e33-c80aa9429562:1", "empty element")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:1,,4e11fa47-71ca-11e1-9e33-c80aa9429562:1", "empty element")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:1;4e11fa47-71ca-11e1-9e33-c80aa9429562:1", "expected ':', ',' or the end")]
    [InlineData("3e11fa4771ca11e19e33c80aa9429562:1", "expected a source UUID")]
    [InlineData("{3e11fa47-71ca-11e1-9e33-c80aa9429562}:1", "expected a source UUID")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa942956:1", "expected a source UUID")]
    [InlineData("3g11fa47-71ca-11e1-9e33-c80aa9429562:1", "expected a source UUID")]
    [InlineData("+3e11fa47-71ca-11e1-9e33-c80aa9429562:1", "expected a source UUID")]
    [InlineData("1-2-3", "expected a source UUID")]
    [InlineData("gtid-1", "expected a source UUID")]
    [InlineData("3e11fa47-71ca-11e1-9e33-c80aa9429562:1 2", "expected ':', ',' or the end")]
    public void Parse_InvalidText_ThrowsFormatExceptionQuotingTheInput(string text, string reason)
    {
        var ex = Should.Throw<FormatException>(() => GtidSet.Parse(text));

        ex.Message.ShouldContain($"'{text}'");
        ex.Message.ShouldContain(reason);
        GtidSet.TryParse(text, out var result).ShouldBeFalse();
        result.ShouldBeNull();
    }

    [Fact]
    public void Parse_Error_NamesThePosition()
    {
        var ex = Should.Throw<FormatException>(() => GtidSet.Parse($"{AText}:1-5,{BText}:7-x"));

        ex.Message.ShouldContain("at character 81");
        ex.Message.ShouldContain("near 'x'");
    }

    [Fact]
    public void Parse_VeryLongInput_QuotesAShortenedForm()
    {
        var text = string.Join(",", Enumerable.Repeat($"{AText}:1", 20)) + ",oops";

        var ex = Should.Throw<FormatException>(() => GtidSet.Parse(text));

        ex.Message.ShouldContain(text[..200]);
        ex.Message.ShouldContain($"({text.Length} chars)");
    }

    [Fact]
    public void Parse_Null_ThrowsArgumentNull()
    {
        Should.Throw<ArgumentNullException>(() => GtidSet.Parse(null!));
        GtidSet.TryParse(null, out _).ShouldBeFalse();
    }

    [Fact]
    public void Parse_ThroughIParsable_MatchesParse()
    {
        static T ParseGeneric<T>(string text)
            where T : IParsable<T> => T.Parse(text, null);

        ParseGeneric<GtidSet>($"{AText}:1-3").ShouldBe(GtidSet.Parse($"{AText}:1-3"));
    }

    [Fact]
    public void Contains_ChecksTheRightSourceAndTag()
    {
        var set = GtidSet.Parse($"{AText}:1-5:10:t:7");

        set.Contains(A, 1).ShouldBeTrue();
        set.Contains(A, 5).ShouldBeTrue();
        set.Contains(A, 6).ShouldBeFalse();
        set.Contains(A, 10).ShouldBeTrue();
        set.Contains(A, 0).ShouldBeFalse();
        set.Contains(A, long.MaxValue).ShouldBeFalse();
        set.Contains(A, "", 10).ShouldBeTrue();
        set.Contains(A, null, 10).ShouldBeTrue();
        set.Contains(A, "T", 7).ShouldBeTrue();
        set.Contains(A, "t", 5).ShouldBeFalse();
        set.Contains(B, 1).ShouldBeFalse();
    }

    [Theory]
    [InlineData("9abc")]
    [InlineData("a-b")]
    [InlineData("abcdefghijabcdefghijabcdefghijabc")]
    public void Contains_InvalidTag_ThrowsArgumentException(string tag)
    {
        var ex = Should.Throw<ArgumentException>(() => GtidSet.Empty.Contains(A, tag, 1));

        ex.ParamName.ShouldBe("tag");
        ex.Message.ShouldContain(tag);
    }

    [Fact]
    public void Add_BuildsTheSameSetAsParsing()
    {
        var set = GtidSet.Empty
            .Add(B, 3)
            .Add(A, 2)
            .Add(A, 1)
            .Add(A, "Tag", new GtidInterval(4, 6));

        set.ShouldBe(GtidSet.Parse($"{AText}:1-2:tag:4-6,{BText}:3"));
        set.Add(A, 2).ShouldBeSameAs(set);
    }

    [Fact]
    public void GtidInterval_InvalidBounds_Throw()
    {
        Should.Throw<ArgumentOutOfRangeException>(() => new GtidInterval(0, 1));
        Should.Throw<ArgumentOutOfRangeException>(() => new GtidInterval(5, 4));
        Should.Throw<ArgumentOutOfRangeException>(() => new GtidInterval(1, long.MaxValue));
        Should.Throw<ArgumentException>(() => GtidSet.Empty.Add(A, null, default));
        new GtidInterval(3, 3).ToString().ShouldBe("3");
        new GtidInterval(3, 9).ToString().ShouldBe("3-9");
        new GtidInterval(3, 9).Count.ShouldBe(7UL);
    }

    [Fact]
    public void Entry_ToString_PrintsOneSource()
    {
        GtidSet.Parse($"{AText}:x:1-2").Entries[0].ToString().ShouldBe($"{AText}:x:1-2");
    }
}
