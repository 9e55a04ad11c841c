using System.Globalization;
using System.Text;
using Cdc.Checkpoint.MySql.Gtid;
using FsCheck;
using FsCheck.Fluent;

namespace Cdc.Checkpoint.MySql.Tests.Gtid;

/// <summary>One run of transactions of one source: indexes into <see cref="GtidGenerators.Uuids"/> and <see cref="GtidGenerators.Tags"/>.</summary>
internal readonly record struct GtidPiece(int Uuid, int Tag, long First, long Last);

/// <summary>FsCheck generators for GTID sets, MariaDB positions and binlog positions, with a brute-force model.</summary>
internal static class GtidGenerators
{
    public static readonly Guid[] Uuids =
    [
        Guid.Parse("3e11fa47-71ca-11e1-9e33-c80aa9429562"),
        Guid.Parse("4e11fa47-71ca-11e1-9e33-c80aa9429562"),
        Guid.Parse("00000000-0000-0000-0000-000000000001"),
        Guid.Parse("ffffffff-ffff-ffff-ffff-fffffffffffe"),
        Guid.Parse("80000000-0000-0000-0000-000000000000"),
    ];

    public static readonly string[] Tags = ["", "alpha", "b_2", "_x", "z9"];

    /// <summary>Pieces over a small universe (3 sources, 3 tags, numbers 1..30) so random sets often overlap.</summary>
    public static Gen<GtidPiece> SmallPiece { get; } =
        from uuid in Gen.Choose(0, 2)
        from tag in Gen.Choose(0, 2)
        from first in Gen.Choose(1, 30)
        from length in Gen.Choose(0, 5)
        select new GtidPiece(uuid, tag, first, Math.Min(30, first + length));

    /// <summary>Pieces anywhere in the GNO range, including its top.</summary>
    public static Gen<GtidPiece> WidePiece { get; } =
        from uuid in Gen.Choose(0, Uuids.Length - 1)
        from tag in Gen.Choose(0, Tags.Length - 1)
        from first in Gen.OneOf(
            Gen.Choose(1, 1000).Select(x => (long)x),
            Gen.Choose(0, 1000).Select(x => GtidSet.MaxTransactionNumber - x),
            Gen.Choose(1, int.MaxValue).Select(x => (long)x * 4_000_000_000L))
        from length in Gen.OneOf(Gen.Choose(0, 10).Select(x => (long)x), Gen.Choose(0, int.MaxValue).Select(x => (long)x * 1000L))
        select new GtidPiece(uuid, tag, first, first > GtidSet.MaxTransactionNumber - length ? GtidSet.MaxTransactionNumber : first + length);

    public static Gen<GtidPiece[]> Pieces(Gen<GtidPiece> piece) =>
        Gen.Choose(0, 8).SelectMany(n => Gen.ArrayOf(piece, n));

    public static Gen<GtidSet> SmallSet { get; } = Pieces(SmallPiece).Select(Build);

    public static Gen<GtidSet> WideSet { get; } = Pieces(WidePiece).Select(Build);

    public static Gen<(GtidPiece[] Left, GtidPiece[] Right)> SmallPiecePairs { get; } =
        from left in Pieces(SmallPiece)
        from right in Pieces(SmallPiece)
        select (left, right);

    /// <summary>Pairs of small sets where one is often derived from the other, so subset relations occur.</summary>
    public static Gen<(GtidSet A, GtidSet B)> RelatedPair { get; } =
        from a in SmallSet
        from c in SmallSet
        from kind in Gen.Choose(0, 4)
        select kind switch
        {
            0 => (a, a.Union(c)),
            1 => (a, a.Subtract(c)),
            2 => (a, a),
            3 => (a.Union(c), a),
            _ => (a, c),
        };

    public static GtidSet Build(GtidPiece[] pieces)
    {
        var set = GtidSet.Empty;
        foreach (var piece in pieces)
        {
            set = set.Add(Uuids[piece.Uuid], Tags[piece.Tag], new GtidInterval(piece.First, piece.Last));
        }

        return set;
    }

    /// <summary>The brute-force model: every single transaction as a tuple.</summary>
    public static HashSet<(Guid, string, long)> Model(GtidPiece[] pieces)
    {
        var model = new HashSet<(Guid, string, long)>();
        foreach (var piece in pieces)
        {
            for (var gno = piece.First; gno <= piece.Last; gno++)
            {
                model.Add((Uuids[piece.Uuid], Tags[piece.Tag], gno));
            }
        }

        return model;
    }

    public static HashSet<(Guid, string, long)> Model(GtidSet set)
    {
        var model = new HashSet<(Guid, string, long)>();
        foreach (var entry in set.Entries)
        {
            foreach (var interval in entry.Intervals)
            {
                for (var gno = interval.First; gno <= interval.Last; gno++)
                {
                    model.Add((entry.SourceId, entry.Tag, gno));
                }
            }
        }

        return model;
    }

    /// <summary>
    /// Writes pieces the messy way a human or MySQL might: any order, repeated UUIDs, upper-case UUIDs and tags,
    /// <c>,\n</c> or <c>, </c> between elements, spaces around separators, <c>5-5</c> for single transactions.
    /// </summary>
    public static Gen<string> MessyText(GtidPiece[] pieces) =>
        Gen.ArrayOf(Gen.Choose(0, 15), pieces.Length).Select(noise =>
        {
            var builder = new StringBuilder();
            for (var i = 0; i < pieces.Length; i++)
            {
                var piece = pieces[i];
                var n = noise[i];
                if (i > 0)
                {
                    builder.Append((n & 3) switch { 0 => ",", 1 => ",\n", 2 => ", ", _ => " ,\r\n\t" });
                }

                var uuid = Uuids[piece.Uuid].ToString("D");
                builder.Append((n & 4) != 0 ? uuid.ToUpperInvariant() : uuid);
                if (Tags[piece.Tag].Length > 0)
                {
                    builder.Append((n & 8) != 0 ? " : " : ":").Append((n & 4) != 0 ? Tags[piece.Tag].ToUpperInvariant() : Tags[piece.Tag]);
                }

                builder.Append(':').Append(piece.First.ToString(CultureInfo.InvariantCulture));
                if (piece.Last != piece.First || (n & 8) != 0)
                {
                    builder.Append((n & 2) != 0 ? " - " : "-").Append(piece.Last.ToString(CultureInfo.InvariantCulture));
                }
            }

            return builder.ToString();
        });

    public static Gen<MariaDbGtidPosition> MariaDbPosition { get; } =
        from count in Gen.Choose(0, 6)
        from domains in Gen.ArrayOf(Gen.Choose(0, 5), count)
        from servers in Gen.ArrayOf(Gen.Elements(0u, 1u, 2u, uint.MaxValue), count)
        from sequences in Gen.ArrayOf(Gen.OneOf(Gen.Choose(0, 20).Select(x => (ulong)x), Gen.Elements(ulong.MaxValue, (ulong)uint.MaxValue + 1)), count)
        select new MariaDbGtidPosition(
            Enumerable.Range(0, count)
                .Select(i => new MariaDbGtid((uint)domains[i], servers[i], sequences[i]))
                .DistinctBy(g => g.DomainId));

    /// <summary>Positions over the same two domains with small sequence numbers, so every order occurs.</summary>
    public static Gen<MariaDbGtidPosition> SmallMariaDbPosition { get; } =
        from hasFirst in Gen.Elements(true, true, true, false)
        from hasSecond in Gen.Elements(true, true, false)
        from first in Gen.Choose(1, 3)
        from second in Gen.Choose(1, 3)
        from server in Gen.Elements(1u, 1u, 1u, 2u)
        select new MariaDbGtidPosition(
            (hasFirst ? [new MariaDbGtid(0, server, (ulong)first)] : Array.Empty<MariaDbGtid>())
                .Concat(hasSecond ? [new MariaDbGtid(7, 1, (ulong)second)] : Array.Empty<MariaDbGtid>()));

    public static Gen<BinlogPosition> Binlog { get; } =
        from baseName in Gen.Elements("mysql-bin", "binlog", "mariadb-bin", "host-1.example.com-bin", "a", "log bin")
        from sequence in Gen.OneOf(Gen.Choose(1, 999999).Select(x => (ulong)x), Gen.Elements(1_000_000UL, ulong.MaxValue))
        from width in Gen.Choose(1, 8)
        from position in Gen.OneOf(Gen.Choose(0, 100_000).Select(x => (ulong)x), Gen.Elements(ulong.MaxValue, 4UL))
        select new BinlogPosition($"{baseName}.{sequence.ToString(CultureInfo.InvariantCulture).PadLeft(width, '0')}", position);

    /// <summary>Characters that GTID sets, MariaDB positions and binlog positions are made of, plus troublemakers.</summary>
    private const string FuzzAlphabet = "0123456789abcdefABCDEF-:,_ \n\t+.xyzXZ/\\{}é\0\u00a0\ud800";

    public static Gen<string> FuzzText(IReadOnlyList<string> seeds) =>
        Gen.OneOf(
            Gen.ArrayOf(Gen.Elements(FuzzAlphabet.ToCharArray())).Select(chars => new string(chars)),
            from seed in Gen.Elements(seeds.ToArray())
            from edits in Gen.ArrayOf(
                from op in Gen.Choose(0, 2)
                from at in Gen.Choose(0, 10_000)
                from c in Gen.Elements(FuzzAlphabet.ToCharArray())
                select (op, at, c),
                3)
            select Mutate(seed, edits));

    private static string Mutate(string seed, (int Op, int At, char C)[] edits)
    {
        var text = new StringBuilder(seed);
        foreach (var (op, at, c) in edits)
        {
            var index = text.Length == 0 ? 0 : at % (text.Length + (op == 0 ? 1 : 0));
            switch (op)
            {
                case 0:
                    text.Insert(index, c);
                    break;
                case 1 when text.Length > 0:
                    text.Remove(index, 1);
                    break;
                case 2 when text.Length > 0:
                    text[index] = c;
                    break;
            }
        }

        return text.ToString();
    }
}
