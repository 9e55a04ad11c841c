using System.Text;
using System.Text.Json;
using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.Offsets;
using FsCheck;
using FsCheck.Fluent;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests;

/// <summary>
/// JSON that parses but holds text that cannot be decoded (a lone surrogate escape, bytes that are not UTF-8): both
/// codecs, called directly and not only through <see cref="OffsetCodecRegistry"/>, in both format versions, refuse it
/// with a <see cref="FormatException"/> naming the field, never with the <see cref="InvalidOperationException"/> that
/// decoding throws.
/// </summary>
public sealed class OffsetCodecMalformedTextTests
{
    private const string NotUnicode = "is not valid Unicode text";

    // '@' marks where the undecodable text goes; the last value but one is what the message must name.
    private static readonly (string SourceType, int Version, string Template, string Named)[] PlaceList =
    [
        ("mysql", 2, """{"gtid_set":"@"}""", "'gtid_set'"),
        ("mysql", 2, """{"binlog_file":"@","binlog_position":4}""", "'binlog_file'"),
        ("mysql", 2, """{"gtid_set":"","server_uuid":"@"}""", "'server_uuid'"),
        ("mysql", 2, """{"gtid_set":"","@":1}""", "the member name '"),
        ("mysql", 2, """{"gtid_set":"","skip_events":["@"]}""", "'skip_events[0]'"),
        ("mysql_snapshot", 1, """{"gtid":"@","binlog_file":"","binlog_pos":0}""", "'gtid'"),
        ("mysql", 1, """{"gtid":"","binlog_file":"@","binlog_pos":4}""", "'binlog_file'"),
        ("mysql", 1, """{"gtid":"","binlog_file":"mysql-bin.000001","binlog_pos":4,"@":1}""", "the member name '"),
        ("mariadb", 2, """{"gtid_position":"@"}""", "'gtid_position'"),
        ("mariadb", 2, """{"binlog_file":"@","binlog_position":4}""", "'binlog_file'"),
        ("mariadb_snapshot", 2, """{"@":"0-1-1"}""", "the member name '"),
        ("mariadb", 1, """{"gtid":"@","binlog_file":"","binlog_pos":0}""", "'gtid'"),
        ("mariadb", 1, """{"gtid":"0-1-1","binlog_file":"@","binlog_pos":4}""", "'binlog_file'"),
    ];

    public static TheoryData<int, int> Places
    {
        get
        {
            var data = new TheoryData<int, int>();
            for (var place = 0; place < PlaceList.Length; place++)
            {
                for (var token = 0; token < MalformedJson.Undecodable.Length; token++)
                {
                    data.Add(place, token);
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Places))]
    public void Read_UndecodableText_ThrowsFormatExceptionNamingTheFieldAndQuotingTheJson(int place, int token)
    {
        var (sourceType, version, template, named) = PlaceList[place];
        var bytes = Fill(template, MalformedJson.Undecodable[token]);
        using var document = JsonDocument.Parse(bytes);

        var ex = Should.Throw<FormatException>(() => CodecFor(sourceType).Read(sourceType, document.RootElement, version));

        ex.Message.ShouldContain(named);
        ex.Message.ShouldContain(NotUnicode);
        ex.Message.ShouldContain(sourceType);
        ex.Message.ShouldContain(Encoding.UTF8.GetString(bytes)); // the JSON, bytes that are not UTF-8 shown as U+FFFD
    }

    [Theory]
    [MemberData(nameof(Places))]
    public void RegistryRead_UndecodableText_ThrowsTheCodecsFormatException(int place, int token)
    {
        var (sourceType, version, template, named) = PlaceList[place];
        using var document = JsonDocument.Parse(Fill(template, MalformedJson.Undecodable[token]));

        var ex = Should.Throw<FormatException>(() => OffsetCodecRegistry.Empty.WithMySql().Read(sourceType, document.RootElement, version));

        ex.Message.ShouldContain(named);
        ex.Message.ShouldContain(NotUnicode);
        ex.InnerException.ShouldBeNull();
    }

    [Fact]
    public void Read_AnyStringFieldOfAValidMySqlOffsetMadeUndecodable_ThrowsFormatExceptionNamingIt()
    {
        var gen =
            from offset in OffsetPropertyTests.AnyMySqlOffset
            from member in Gen.Elements("gtid_set", "binlog_file", "server_uuid", "(name)")
            from token in Gen.Choose(0, MalformedJson.Undecodable.Length - 1)
            from prefix in Gen.Elements("", "3e11fa47-71ca-11e1-9e33-c80aa9429562:", "mysql-bin.", "é")
            select (Json: offset.ToJsonString(), offset.SourceType, member, token, prefix);

        CheckUndecodableField(gen);
    }

    [Fact]
    public void Read_AnyStringFieldOfAValidMariaDbOffsetMadeUndecodable_ThrowsFormatExceptionNamingIt()
    {
        var gen =
            from offset in OffsetPropertyTests.AnyMariaDbOffset
            from member in Gen.Elements("gtid_position", "binlog_file", "(name)")
            from token in Gen.Choose(0, MalformedJson.Undecodable.Length - 1)
            from prefix in Gen.Elements("", "0-1-", "mysql-bin.", "é")
            select (Json: offset.ToJsonString(), offset.SourceType, member, token, prefix);

        CheckUndecodableField(gen);
    }

    [Fact]
    public void Read_MutatedValidJson_ThrowsNothingButFormatException()
    {
        // Mutations of valid offsets of both kinds and of rustcdc v1 records, with undecodable text among the tokens,
        // read by both codecs in both format versions. Input the parser refuses never reaches a codec; everything it
        // accepts must be read or refused with FormatException.
        var seeds = Gen.OneOf(
            OffsetPropertyTests.AnyMySqlOffset.Select(o => o.ToJsonString()),
            OffsetPropertyTests.AnyMariaDbOffset.Select(o => o.ToJsonString()),
            Gen.Elements(
                """{"gtid":"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5","binlog_file":"mysql-bin.000003","binlog_pos":4}""",
                """{"gtid":"0-1-100","binlog_file":"","binlog_pos":0}""",
                """{"gtid_set":"","server_uuid":"3e11fa47-71ca-11e1-9e33-c80aa9429562","server_id":1,"skip_events":2,"skip_rows":3}""",
                """{}"""));
        var parsed = 0;
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(3000), Prop.ForAll(Arb.From(MalformedJson.Mutated(seeds, "\"mysql-bin.000001\"", "\"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5\"")), input =>
        {
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(input.Bytes);
            }
            catch (JsonException)
            {
                return;
            }

            parsed++;
            using (document)
            {
                foreach (var (codec, sourceType) in new (IOffsetCodec, string)[] { (MySqlOffsetCodec.Instance, "mysql"), (MariaDbOffsetCodec.Instance, "mariadb") })
                {
                    foreach (var version in new[] { 1, 2 })
                    {
                        try
                        {
                            codec.Read(sourceType, document.RootElement, version).SourceType.ShouldBe(sourceType);
                        }
                        catch (FormatException ex)
                        {
                            ex.Message.ShouldContain(sourceType);
                        }
                    }
                }
            }
        }));

        parsed.ShouldBeGreaterThan(100, "most mutations should still parse, or the property tests little");
    }

    private static IOffsetCodec CodecFor(string sourceType) =>
        sourceType.StartsWith("mysql", StringComparison.Ordinal) ? MySqlOffsetCodec.Instance : MariaDbOffsetCodec.Instance;

    private static void CheckUndecodableField(Gen<(string Json, string SourceType, string Member, int Token, string Prefix)> gen) =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(1000), Prop.ForAll(Arb.From(gen), t =>
        {
            var bad = (byte[])[.. Encoding.UTF8.GetBytes(t.Prefix), .. MalformedJson.Undecodable[t.Token]];
            using var document = JsonDocument.Parse(Replace(t.Json, t.Member, bad));
            var ex = Should.Throw<FormatException>(() => CodecFor(t.SourceType).Read(t.SourceType, document.RootElement, 2));
            ex.Message.ShouldContain(NotUnicode);
            ex.Message.ShouldContain(t.Member == "(name)" ? "the member name '" : $"'{t.Member}'");
        }));

    private static byte[] Fill(string template, byte[] token)
    {
        var at = template.IndexOf('@', StringComparison.Ordinal);
        return [.. Encoding.UTF8.GetBytes(template[..at]), .. token, .. Encoding.UTF8.GetBytes(template[(at + 1)..])];
    }

    // Rebuilds the offset object with one member's string value (or, for "(name)", the first member's name) replaced
    // by bad; a member the offset lacks is added.
    private static byte[] Replace(string json, string member, byte[] bad)
    {
        using var document = JsonDocument.Parse(json);
        var output = new List<byte> { (byte)'{' };
        var replaced = false;
        foreach (var property in document.RootElement.EnumerateObject())
        {
            if (output.Count > 1)
            {
                output.Add((byte)',');
            }

            output.Add((byte)'"');
            if (member == "(name)" && !replaced)
            {
                output.AddRange(bad);
                replaced = true;
            }
            else
            {
                output.AddRange(Encoding.UTF8.GetBytes(property.Name));
            }

            output.AddRange(Encoding.UTF8.GetBytes("\":"));
            output.AddRange(property.Name == member ? [(byte)'"', .. bad, (byte)'"'] : Encoding.UTF8.GetBytes(property.Value.GetRawText()));
            replaced |= property.Name == member;
        }

        if (!replaced)
        {
            output.AddRange([.. Encoding.UTF8.GetBytes(output.Count > 1 ? ",\"" : "\""), .. Encoding.UTF8.GetBytes(member), .. "\":\""u8, .. bad, (byte)'"']);
        }

        output.Add((byte)'}');
        return [.. output];
    }
}
