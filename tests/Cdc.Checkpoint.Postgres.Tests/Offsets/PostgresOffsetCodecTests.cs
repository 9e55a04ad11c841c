using System.Text.Json;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using FsCheck;
using FsCheck.Fluent;
using NpgsqlTypes;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Offsets;

public sealed class PostgresOffsetCodecTests
{
    private static CheckpointOffset Read(string json, int formatVersion = 2, string sourceType = "postgres")
    {
        using var document = JsonDocument.Parse(json);
        return PostgresOffsetCodec.Instance.Read(sourceType, document.RootElement, formatVersion);
    }

    [Fact]
    public void ToJsonString_AllMembers_WritesCanonicalShape()
    {
        var offset = new PostgresOffset(new NpgsqlLogSequenceNumber(0x16B3748), "my_slot", 7299123456789012345, 1, "app");

        offset.ToJsonString().ShouldBe(
            """{"lsn":"0/16B3748","slot_name":"my_slot","system_identifier":"7299123456789012345","timeline":1,"database":"app"}""");
    }

    [Fact]
    public void ToJsonString_OptionalMembersUnknown_LeavesThemOut()
    {
        new PostgresOffset(new NpgsqlLogSequenceNumber(ulong.MaxValue), "s").ToJsonString()
            .ShouldBe("""{"lsn":"FFFFFFFF/FFFFFFFF","slot_name":"s"}""");
    }

    [Fact]
    public void ToJsonString_SystemIdentifierAboveJavaScriptRange_IsWrittenAsExactString()
    {
        var offset = new PostgresOffset(default, "s", ulong.MaxValue);

        offset.ToJsonElement().GetProperty("system_identifier").GetString().ShouldBe("18446744073709551615");
    }

    [Fact]
    public void ToJsonString_DatabaseWithQuotesAndUnicode_IsEscapedAndReadBack()
    {
        var offset = new PostgresOffset(default, "s", database: "my \"db\" é日");

        ((PostgresOffset)Read(offset.ToJsonString())).Database.ShouldBe("my \"db\" é日");
    }

    [Theory]
    [InlineData("postgres")]
    [InlineData("postgres_snapshot")]
    public void Read_WrittenJson_RoundTrips(string sourceType)
    {
        var offset = new PostgresOffset(new NpgsqlLogSequenceNumber(0x2_0000_0010), "slot_1", 42, 7, "db", sourceType);

        var read = Read(offset.ToJsonString(), sourceType: sourceType);

        read.ShouldBeOfType<PostgresOffset>();
        read.ShouldBe(offset);
        read.SourceType.ShouldBe(sourceType);
        read.CompareTo(offset).ShouldBe(OffsetOrder.Same);
    }

    [Fact]
    public void Read_RustcdcVersion1Record_ReadsNumericLsn()
    {
        var offset = (PostgresOffset)Read("""{"lsn":23803720,"slot_name":"my_slot"}""", formatVersion: 1);

        offset.Lsn.ShouldBe(new NpgsqlLogSequenceNumber(23803720));
        PostgresOffset.FormatLsn(offset.Lsn).ShouldBe("0/16B3748");
        offset.SlotName.ShouldBe("my_slot");
        offset.SystemIdentifier.ShouldBeNull();
        offset.Timeline.ShouldBeNull();
        offset.Database.ShouldBeNull();
        offset.ToJsonString().ShouldBe("""{"lsn":"0/16B3748","slot_name":"my_slot"}""");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Read_LsnAsNumberOrText_GivesSameOffsetInAnyVersion(int formatVersion)
    {
        var fromNumber = Read("""{"lsn":18446744073709551615,"slot_name":"s"}""", formatVersion);
        var fromText = Read("""{"lsn":"ffffffff/ffffffff","slot_name":"s"}""", formatVersion);

        fromNumber.ShouldBe(fromText);
        ((PostgresOffset)fromNumber).Lsn.ShouldBe(new NpgsqlLogSequenceNumber(ulong.MaxValue));
    }

    [Fact]
    public void Read_SystemIdentifierAsNumber_IsAccepted()
    {
        ((PostgresOffset)Read("""{"lsn":"0/1","slot_name":"s","system_identifier":7299123456789012345}"""))
            .SystemIdentifier.ShouldBe(7299123456789012345UL);
    }

    [Fact]
    public void Read_NullOptionalMembers_CountAsAbsent()
    {
        var offset = (PostgresOffset)Read("""{"lsn":"0/1","slot_name":"s","system_identifier":null,"timeline":null,"database":null}""");

        offset.ShouldBe(new PostgresOffset(new NpgsqlLogSequenceNumber(1), "s"));
    }

    [Fact]
    public void Read_MembersInAnyOrder_AreAccepted()
    {
        Read("""{"database":"d","timeline":2,"slot_name":"s","lsn":"0/1"}""")
            .ShouldBe(new PostgresOffset(new NpgsqlLogSequenceNumber(1), "s", timeline: 2, database: "d"));
    }

    [Theory]
    [InlineData("""{"slot_name":"s"}""", "'lsn' is missing")]
    [InlineData("""{"lsn":null,"slot_name":"s"}""", "'lsn' is missing")]
    [InlineData("""{"lsn":"0/1"}""", "'slot_name' is missing")]
    [InlineData("""{"lsn":"0/1","slot_name":null}""", "'slot_name' is missing")]
    [InlineData("""{"lsn":"G/0","slot_name":"s"}""", "\"G/0\"")]
    [InlineData("""{"lsn":"","slot_name":"s"}""", "'lsn'")]
    [InlineData("""{"lsn":" 0/1","slot_name":"s"}""", "'lsn'")]
    [InlineData("""{"lsn":"100000000/0","slot_name":"s"}""", "'lsn'")]
    [InlineData("""{"lsn":-1,"slot_name":"s"}""", "'lsn' -1")]
    [InlineData("""{"lsn":1.5,"slot_name":"s"}""", "'lsn' 1.5")]
    [InlineData("""{"lsn":18446744073709551616,"slot_name":"s"}""", "'lsn' 18446744073709551616")]
    [InlineData("""{"lsn":true,"slot_name":"s"}""", "'lsn' true")]
    [InlineData("""{"lsn":{},"slot_name":"s"}""", "'lsn' {}")]
    [InlineData("""{"lsn":"0/1","slot_name":""}""", "'slot_name'")]
    [InlineData("""{"lsn":"0/1","slot_name":42}""", "'slot_name' must be a string")]
    [InlineData("""{"lsn":"0/1","slot_name":"s","system_identifier":"-1"}""", "'system_identifier'")]
    [InlineData("""{"lsn":"0/1","slot_name":"s","system_identifier":"0"}""", "'system_identifier' is 0")]
    [InlineData("""{"lsn":"0/1","slot_name":"s","system_identifier":" 1"}""", "'system_identifier'")]
    [InlineData("""{"lsn":"0/1","slot_name":"s","system_identifier":"18446744073709551616"}""", "'system_identifier'")]
    [InlineData("""{"lsn":"0/1","slot_name":"s","system_identifier":""}""", "'system_identifier'")]
    [InlineData("""{"lsn":"0/1","slot_name":"s","timeline":0}""", "'timeline' is 0")]
    [InlineData("""{"lsn":"0/1","slot_name":"s","timeline":-1}""", "'timeline' must be an integer from 1 to 4294967295")]
    [InlineData("""{"lsn":"0/1","slot_name":"s","timeline":"1"}""", "'timeline' must be an integer")]
    [InlineData("""{"lsn":"0/1","slot_name":"s","timeline":4294967296}""", "'timeline' must be an integer")]
    [InlineData("""{"lsn":"0/1","slot_name":"s","database":""}""", "'database'")]
    [InlineData("""{"lsn":"0/1","slot_name":"s","extra":1}""", "unknown member 'extra'")]
    [InlineData("""{"lsn":"0/1","slot_name":"s","slot_name":"t"}""", "member 'slot_name' appears more than once")]
    [InlineData("""{"lsn":"0/1","lsn":"0/2","slot_name":"s"}""", "member 'lsn' appears more than once")]
    [InlineData("""{"lsn":"0/1","slot_name":"s","database":["a"]}""", "'database' must be a string")]
    [InlineData("""["0/1","s"]""", "expected a JSON object")]
    [InlineData("\"0/1\"", "expected a JSON object")]
    [InlineData("null", "expected a JSON object")]
    public void Read_InvalidOffset_ThrowsFormatExceptionQuotingJson(string json, string reason)
    {
        using var document = JsonDocument.Parse(json);

        var ex = Assert.Throws<FormatException>(() => PostgresOffsetCodec.Instance.Read("postgres", document.RootElement, 2));

        ex.Message.ShouldContain(document.RootElement.GetRawText());
        ex.Message.ShouldContain(reason);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("{\"lsn\":\"0/1\",\"slot_name\":\"s\"} trailing")]
    public void Parse_InvalidJsonText_ThrowsFormatExceptionQuotingText(string json)
    {
        var ex = Assert.Throws<FormatException>(() => PostgresOffsetCodec.Parse("postgres", json));

        ex.Message.ShouldContain($"'{json}'");
    }

    [Fact]
    public void Parse_ValidJsonText_ReadsOffset()
    {
        PostgresOffsetCodec.Parse("postgres_snapshot", """{"lsn":"0/10","slot_name":"s"}""")
            .ShouldBe(new PostgresOffset(new NpgsqlLogSequenceNumber(16), "s", sourceType: "postgres_snapshot"));
    }

    [Theory]
    [InlineData("postgres", true)]
    [InlineData("postgres_snapshot", true)]
    [InlineData("mysql", false)]
    [InlineData("mariadb", false)]
    [InlineData("postgresql", false)]
    [InlineData("postgres_snapshot_snapshot", false)]
    [InlineData("", false)]
    [InlineData("Postgres", false)]
    public void CanRead_SourceType_AcceptsOnlyPostgresFamily(string sourceType, bool expected)
    {
        PostgresOffsetCodec.Instance.CanRead(sourceType).ShouldBe(expected);
    }

    [Fact]
    public void Read_SourceTypeOutsideFamily_ThrowsArgumentException()
    {
        using var document = JsonDocument.Parse("""{"lsn":"0/1","slot_name":"s"}""");

        Assert.Throws<ArgumentException>(() => PostgresOffsetCodec.Instance.Read("mysql", document.RootElement, 2))
            .ParamName.ShouldBe("sourceType");
    }

    [Fact]
    public void OffsetCodec_StaticAndInstance_AreTheSameCodec()
    {
        PostgresOffset.OffsetCodec.ShouldBeSameAs(PostgresOffsetCodec.Instance);
        CodecOf<PostgresOffset>().ShouldBeSameAs(PostgresOffsetCodec.Instance);

        static IOffsetCodec CodecOf<T>()
            where T : CheckpointOffset, ITypedOffset<T> => T.OffsetCodec;
    }

    [Fact]
    public void WithPostgres_Registry_ResolvesPostgresFamilyAndLeavesOthersGeneric()
    {
        var registry = OffsetCodecRegistry.Empty.WithPostgres();
        using var document = JsonDocument.Parse("""{"lsn":23803720,"slot_name":"my_slot"}""");

        registry.Resolve("postgres").ShouldBeSameAs(PostgresOffsetCodec.Instance);
        registry.Resolve("postgres_snapshot").ShouldBeSameAs(PostgresOffsetCodec.Instance);
        registry.Resolve("mysql").ShouldBeSameAs(GenericOffsetCodec.Instance);
        registry.Read("postgres", document.RootElement, 1).ShouldBeOfType<PostgresOffset>().SlotName.ShouldBe("my_slot");
        registry.WithPostgres().ShouldBeSameAs(registry);
    }

    [Fact]
    public void ReadAfterWrite_AnyOffset_RoundTrips()
    {
        Check.One(
            Config.QuickThrowOnFailure.WithMaxTest(500),
            Prop.ForAll(Arb.From(Generators.Offset), offset =>
            {
                var json = offset.ToJsonString();
                var read = (PostgresOffset)Read(json, sourceType: offset.SourceType);
                return read.Equals(offset)
                       && read.ToJsonString() == json
                       && read.Lsn == offset.Lsn
                       && read.SlotName == offset.SlotName
                       && read.SystemIdentifier == offset.SystemIdentifier
                       && read.Timeline == offset.Timeline
                       && read.Database == offset.Database
                       && read.CompareTo(offset) == OffsetOrder.Same;
            }));
    }

    [Fact]
    public void CompareTo_AnyTwoLsnsOnOneSlot_AgreesWithLsnOrderAndIsAntisymmetric()
    {
        Prop.ForAll(Arb.From(Generators.Lsn), Arb.From(Generators.Lsn), (a, b) =>
            {
                var x = new PostgresOffset(a, "s", 1, 1);
                var y = new PostgresOffset(b, "s", 1, 1);
                var expected = a < b ? OffsetOrder.Before : a > b ? OffsetOrder.After : OffsetOrder.Same;
                var mirrored = a < b ? OffsetOrder.After : a > b ? OffsetOrder.Before : OffsetOrder.Same;
                return x.CompareTo(y) == expected && y.CompareTo(x) == mirrored;
            })
            .QuickCheckThrowOnFailure();
    }
}
