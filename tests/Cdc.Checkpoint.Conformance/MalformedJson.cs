using System.Globalization;
using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Cdc.Checkpoint.Conformance;

/// <summary>
/// Byte-level inputs for codec robustness tests: text that is valid JSON but not valid Unicode, and mutations of valid
/// offset JSON that mix such text with JSON punctuation and boundary values.
/// </summary>
public static class MalformedJson
{
    /// <summary>
    /// String contents that <c>JsonDocument</c> accepts but cannot decode: lone surrogate escapes and bytes that are
    /// not UTF-8 (a lone byte ≥ 0x80, a truncated sequence, a CESU-8 surrogate, a code point above U+10FFFF, an
    /// overlong encoding).
    /// </summary>
    public static byte[][] Undecodable { get; } =
    [
        "\\ud800"u8.ToArray(),
        "\\udfff"u8.ToArray(),
        "x\\uDBFFy"u8.ToArray(),
        "\\udc00\\ud800"u8.ToArray(),
        [0xFF],
        [0x80],
        [0xC3],
        [0xE2, 0x82],
        [0xED, 0xA0, 0x80],
        [0xF4, 0x90, 0x80, 0x80],
        [0xC0, 0xAF],
    ];

    private static readonly byte[][] CommonTokens =
    [
        .. Undecodable,
        "\""u8.ToArray(), "{"u8.ToArray(), "}"u8.ToArray(), "["u8.ToArray(), "]"u8.ToArray(), ":"u8.ToArray(), ","u8.ToArray(),
        "null"u8.ToArray(), "true"u8.ToArray(), "0"u8.ToArray(), "-1"u8.ToArray(), "1e400"u8.ToArray(), "18446744073709551616"u8.ToArray(),
        "\\u0000"u8.ToArray(), "\\\""u8.ToArray(), "\\\\"u8.ToArray(), "é"u8.ToArray(), "\\ud83d\\ude00"u8.ToArray(),
    ];

    /// <summary>One edit: insert a token, replace a byte with a token, delete a few bytes, or flip a bit.</summary>
    private readonly record struct Edit(int Kind, int Position, int Token, int Amount);

    private static Gen<Edit> EditGen(int tokens) =>
        from kind in Gen.Choose(0, 3)
        from position in Gen.Choose(0, int.MaxValue)
        from token in Gen.Choose(0, tokens - 1)
        from amount in Gen.Choose(1, 8)
        select new Edit(kind, position, token, amount);

    /// <summary>
    /// The UTF-8 of valid JSON texts from <paramref name="seeds"/>, each edited 1–6 times with JSON punctuation, boundary
    /// values, undecodable text and the caller's <paramref name="domainTokens"/> (JSON fragments typical of its format).
    /// </summary>
    public static Gen<JsonBytes> Mutated(Gen<string> seeds, params string[] domainTokens)
    {
        byte[][] tokens = [.. CommonTokens, .. domainTokens.Select(Encoding.UTF8.GetBytes)];
        return from seed in seeds
               from count in Gen.Choose(1, 6)
               from edits in Gen.ArrayOf(EditGen(tokens.Length), count)
               select new JsonBytes(Apply(Encoding.UTF8.GetBytes(seed), edits, tokens));
    }

    private static byte[] Apply(byte[] seed, Edit[] edits, byte[][] tokens)
    {
        var bytes = new List<byte>(seed);
        foreach (var edit in edits)
        {
            var at = bytes.Count == 0 ? 0 : edit.Position % (bytes.Count + 1);
            switch (edit.Kind)
            {
                case 0:
                    bytes.InsertRange(at, tokens[edit.Token]);
                    break;
                case 1 when at < bytes.Count:
                    bytes.RemoveAt(at);
                    bytes.InsertRange(at, tokens[edit.Token]);
                    break;
                case 2 when at < bytes.Count:
                    bytes.RemoveRange(at, Math.Min(edit.Amount, bytes.Count - at));
                    break;
                case 3 when at < bytes.Count:
                    bytes[at] ^= (byte)(1 << (edit.Amount % 8));
                    break;
                default:
                    bytes.InsertRange(at, tokens[edit.Token]);
                    break;
            }
        }

        return [.. bytes];
    }
}

/// <summary>Bytes meant as JSON, shown readably when a property fails (bytes that are not ASCII as \xNN).</summary>
public sealed record JsonBytes(byte[] Bytes)
{
    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (var b in Bytes)
        {
            text.Append(b < 0x80 ? ((char)b).ToString() : string.Create(CultureInfo.InvariantCulture, $"\\x{b:X2}"));
        }

        return text.ToString();
    }
}
