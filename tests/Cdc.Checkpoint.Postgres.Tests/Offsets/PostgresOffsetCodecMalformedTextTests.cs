using System.Text;
using System.Text.Json;
using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using FsCheck;
using FsCheck.Fluent;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Offsets;

/// <summary>
/// JSON that parses but holds text that cannot be decoded (a lone surrogate escape, bytes that are not UTF-8): the codec,
/// called directly and not only through <see cref="OffsetCodecRegistry"/>, refuses it with a <see cref="FormatException"/>
/// naming the member, never with the <see cref="InvalidOperationException"/> that decoding throws.
/// </summary>
public sealed class PostgresOffsetCodecMalformedTextTests
{
    private const string NotUnicode = "is not valid Unicode text";

    // '@' marks where the undecodable text goes; the second value is what the message must name.
    public static TheoryData<string, string, int> Places
    {
        get
        {
            var data = new TheoryData<string, string, int>();
            var places = new (string Template, string Named)[]
            {
                ("""{"lsn":"@","slot_name":"s"}""", "'lsn'"),
                ("""{"lsn":"0/1","slot_name":"@"}""", "'slot_name'"),
                ("""{"lsn":"0/1","slot_name":"s","system_identifier":"@"}""", "'system_identifier'"),
                ("""{"lsn":"0/1","slot_name":"s","database":"@"}""", "'database'"),
                ("""{"lsn":"0/1","slot_name":"s","@":1}""", "the member name '"),
                ("""{"@":"0/1","slot_name":"s"}""", "the member name '"),
                ("""{"lsn":"0/1","slot_name":"s","database":["d","@"]}""", "'database[1]'"),
                ("""{"lsn":"0/1","slot_name":"s","database":{"x":"@"}}""", "'database.x'"),
            };
            foreach (var (template, named) in places)
            {
                for (var token = 0; token < MalformedJson.Undecodable.Length; token++)
                {
                    data.Add(template, named, token);
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Places))]
    public void Read_UndecodableText_ThrowsFormatExceptionNamingTheMemberAndQuotingTheJson(string template, string named, int token)
    {
        var bytes = Fill(template, MalformedJson.Undecodable[token]);
        using var document = JsonDocument.Parse(bytes);

        var ex = Should.Throw<FormatException>(() => PostgresOffsetCodec.Instance.Read("postgres", document.RootElement, 2));

        ex.Message.ShouldContain($"{named}");
        ex.Message.ShouldContain(NotUnicode);
        ex.Message.ShouldContain(Encoding.UTF8.GetString(bytes)); // the JSON, bytes that are not UTF-8 shown as U+FFFD
    }

    [Theory]
    [MemberData(nameof(Places))]
    public void RegistryRead_UndecodableText_ThrowsTheCodecsFormatException(string template, string named, int token)
    {
        using var document = JsonDocument.Parse(Fill(template, MalformedJson.Undecodable[token]));

        var ex = Should.Throw<FormatException>(() => OffsetCodecRegistry.Empty.WithPostgres().Read("postgres_snapshot", document.RootElement, 1));

        ex.Message.ShouldContain(named);
        ex.Message.ShouldContain(NotUnicode);
        ex.InnerException.ShouldBeNull();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void Parse_TextWithLoneSurrogateCharacter_ThrowsFormatExceptionQuotingIt(int which)
    {
        // Built here: a lone surrogate in [InlineData] does not survive xunit's serialisation of test cases.
        var json = which switch
        {
            0 => "{\"lsn\":\"0/1\",\"slot_name\":\"" + '\ud800' + "\"}",
            1 => "{\"lsn\":\"0/1\",\"slot_name\":\"s\",\"database\":\"a" + '\udc00' + "\"}",
            _ => "{\"" + '\ud800' + "\":1}",
        };

        var ex = Should.Throw<FormatException>(() => PostgresOffsetCodec.Parse("postgres", json));

        ex.Message.ShouldContain(json);
        ex.Message.ShouldContain("lone surrogate");
    }

    [Fact]
    public void Read_AnyStringMemberOfAValidOffsetMadeUndecodable_ThrowsFormatExceptionNamingIt()
    {
        var gen =
            from offset in Generators.Offset
            from member in Gen.Elements("lsn", "slot_name", "system_identifier", "database", "(name)")
            from token in Gen.Choose(0, MalformedJson.Undecodable.Length - 1)
            from prefix in Gen.Elements("", "0/", "a", "é")
            select (offset, member, token, prefix);

        Check.One(Config.QuickThrowOnFailure.WithMaxTest(1000), Prop.ForAll(Arb.From(gen), t =>
        {
            var (offset, member, token, prefix) = t;
            var bad = (byte[])[.. Encoding.UTF8.GetBytes(prefix), .. MalformedJson.Undecodable[token]];
            var bytes = Replace(offset.ToJsonString(), member, bad);
            using var document = JsonDocument.Parse(bytes);
            var ex = Should.Throw<FormatException>(() => PostgresOffsetCodec.Instance.Read(offset.SourceType, document.RootElement, 2));
            ex.Message.ShouldContain(NotUnicode);
            ex.Message.ShouldContain(member == "(name)" ? "the member name '" : $"'{member}'");
        }));
    }

    [Fact]
    public void Read_MutatedValidJson_ThrowsNothingButFormatException()
    {
        // Mutations of valid offsets, rustcdc v1 records and near misses, with undecodable text among the tokens. Input
        // the parser refuses never reaches a codec; everything it accepts must be read or refused with FormatException.
        var seeds = Gen.OneOf(
            Generators.Offset.Select(o => o.ToJsonString()),
            Generators.Lsn.Select(l => $$"""{"lsn":{{(ulong)l}},"slot_name":"my_slot"}"""),
            Gen.Elements("""{"lsn":"0/1","slot_name":"s","system_identifier":7299,"timeline":1,"database":"db"}""", """{}""", """[]"""));
        var parsed = 0;
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(3000), Prop.ForAll(Arb.From(MalformedJson.Mutated(seeds, "\"0/1\"")), input =>
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
                foreach (var version in new[] { 1, 2 })
                {
                    try
                    {
                        PostgresOffsetCodec.Instance.Read("postgres", document.RootElement, version).ShouldBeOfType<PostgresOffset>();
                    }
                    catch (FormatException ex)
                    {
                        ex.Message.ShouldStartWith("PostgreSQL offset '");
                    }
                }
            }
        }));

        parsed.ShouldBeGreaterThan(100, "most mutations should still parse, or the property tests little");
    }

    private static byte[] Fill(string template, byte[] token)
    {
        var at = template.IndexOf('@', StringComparison.Ordinal);
        return [.. Encoding.UTF8.GetBytes(template[..at]), .. token, .. Encoding.UTF8.GetBytes(template[(at + 1)..])];
    }

    // Rebuilds the offset object with one member's string value (or, for "(name)", one member's name) replaced by bad.
    private static byte[] Replace(string json, string member, byte[] bad)
    {
        using var document = JsonDocument.Parse(json);
        var output = new List<byte>(Encoding.UTF8.GetBytes("{"));
        var first = true;
        var replaced = false;
        foreach (var property in document.RootElement.EnumerateObject())
        {
            output.AddRange(Encoding.UTF8.GetBytes(first ? "\"" : ",\""));
            first = false;
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
            // The offset had no such member (optional ones may be absent): add it.
            output.AddRange([(byte)',', (byte)'"', .. Encoding.UTF8.GetBytes(member), (byte)'"', (byte)':', (byte)'"', .. bad, (byte)'"']);
        }

        output.AddRange(Encoding.UTF8.GetBytes("}"));
        return [.. output];
    }
}
