using System.Buffers.Binary;
using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Cdc.Checkpoint.Proof.Tests.Fuzzing;

/// <summary>One fuzz input and where it came from; its text shows the input when a property fails.</summary>
public sealed class FuzzCase(byte[] bytes, string origin)
{
    public byte[] Bytes { get; } = bytes;

    public string Origin { get; } = origin;

    public string Text => Encoding.UTF8.GetString(Bytes);

    public override string ToString()
    {
        var preview = Text.Length > 1500 ? Text[..1500] + "…" : Text;
        var escaped = new StringBuilder();
        foreach (var c in preview)
        {
            escaped.Append(char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString());
        }

        return $"{Origin}, {Bytes.Length} bytes: \"{escaped}\" (base64 {Convert.ToBase64String(Bytes.Length > 4096 ? Bytes[..4096] : Bytes)})";
    }
}

/// <summary>A single edit of a byte string.</summary>
public readonly record struct Mutation(int Kind, int Position, int Amount, int Value);

/// <summary>
/// Mutation-based input generation: valid seeds are edited by bit flips, byte changes, insertions, deletions,
/// duplications, truncation, splicing and dictionary tokens (the parser's own punctuation, keywords and boundary
/// numbers), so most inputs stay close enough to valid to reach deep into a parser.
/// </summary>
public static class Mutator
{
    private static readonly uint[] InterestingUInt32 = [0, 1, 2, 3, 4, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF];

    private static readonly Gen<Mutation> MutationGen =
        from kind in Gen.Choose(0, 10)
        from position in Gen.Choose(0, int.MaxValue)
        from amount in Gen.Choose(0, int.MaxValue)
        from value in Gen.Choose(0, int.MaxValue)
        select new Mutation(kind, position, amount, value);

    /// <summary>Seeds from <paramref name="seeds"/>, each edited 1–8 times.</summary>
    public static Gen<FuzzCase> Mutated(Gen<byte[]> seeds, string[] dictionary) =>
        from seed in seeds
        from other in seeds
        from count in Gen.Choose(1, 8)
        from edits in Gen.ArrayOf(MutationGen, count)
        select new FuzzCase(Apply(seed, other, edits, dictionary), $"seed mutated by {string.Join(' ', edits.Select(e => e.Kind))}");

    /// <summary>Arbitrary bytes of any length up to the size (the input no parser should ever trust).</summary>
    public static Gen<FuzzCase> RandomBytes { get; } =
        ArbMap.Default.GeneratorFor<byte[]>().Select(b => new FuzzCase(b, "random bytes"));

    /// <summary>Random text over <paramref name="alphabet"/> tokens (grammar-aware generation for text parsers).</summary>
    public static Gen<FuzzCase> TokenText(string[] alphabet) =>
        from count in Gen.Choose(0, 40)
        from tokens in Gen.ArrayOf(Gen.Elements(alphabet), count)
        select new FuzzCase(Encoding.UTF8.GetBytes(string.Concat(tokens)), "token text");

    /// <summary>Applies <paramref name="edits"/> to a copy of <paramref name="seed"/>.</summary>
    public static byte[] Apply(byte[] seed, byte[] other, Mutation[] edits, string[] dictionary)
    {
        var data = new List<byte>(seed);
        foreach (var edit in edits)
        {
            var length = data.Count;
            var at = length == 0 ? 0 : edit.Position % length;
            var insertAt = edit.Position % (length + 1);
            switch (edit.Kind)
            {
                case 0 when length > 0:
                    data[at] ^= (byte)(1 << (edit.Value % 8));
                    break;
                case 1 when length > 0:
                    data[at] = (byte)edit.Value;
                    break;
                case 2:
                    data.Insert(insertAt, (byte)edit.Value);
                    break;
                case 3 when length > 0:
                    data.RemoveRange(at, Math.Min(1 + (edit.Amount % 16), length - at));
                    break;
                case 4 when length > 0:
                    var chunk = data.GetRange(at, Math.Min(1 + (edit.Amount % 32), length - at));
                    data.InsertRange(edit.Value % (length + 1), chunk);
                    break;
                case 5:
                    data.RemoveRange(insertAt, length - insertAt);
                    break;
                case 6 when dictionary.Length > 0:
                    data.InsertRange(insertAt, Encoding.UTF8.GetBytes(dictionary[edit.Value % dictionary.Length]));
                    break;
                case 7 when dictionary.Length > 0 && length > 0:
                    var token = Encoding.UTF8.GetBytes(dictionary[edit.Value % dictionary.Length]);
                    data.RemoveRange(at, Math.Min(1 + (edit.Amount % 8), length - at));
                    data.InsertRange(at, token);
                    break;
                case 8 when length >= 4:
                    // A boundary value over a 32-bit little-endian field (counts and lengths of binary formats).
                    var field = new byte[4];
                    BinaryPrimitives.WriteUInt32LittleEndian(field, InterestingUInt32[edit.Value % InterestingUInt32.Length]);
                    var start = Math.Min(at, length - 4);
                    for (var i = 0; i < 4; i++)
                    {
                        data[start + i] = field[i];
                    }

                    break;
                case 9 when other.Length > 0:
                    // Splice: the head of this input with the tail of another seed.
                    var from = edit.Amount % other.Length;
                    data.RemoveRange(insertAt, length - insertAt);
                    data.AddRange(other.AsSpan(from).ToArray());
                    break;
                case 10 when length > 0:
                    // Repeat a piece many times (deep nesting, long runs of digits).
                    var piece = data.GetRange(at, Math.Min(1 + (edit.Amount % 4), length - at));
                    var times = 1 + (edit.Value % 200);
                    for (var i = 0; i < times; i++)
                    {
                        data.InsertRange(at, piece);
                    }

                    break;
            }
        }

        return [.. data];
    }
}
