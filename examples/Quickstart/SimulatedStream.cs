using NpgsqlTypes;

namespace Quickstart;

/// <summary>One committed transaction of the simulated WAL stream: its commit LSN and its change events.</summary>
internal sealed record Transaction(int Id, NpgsqlLogSequenceNumber CommitLsn, IReadOnlyList<string> Events);

/// <summary>
/// A deterministic stand-in for a pgoutput stream: transactions with growing commit LSNs, each with a few row
/// changes. The consumer process and the verifying parent build the same stream from the same seed.
/// </summary>
internal static class SimulatedStream
{
    public const string SlotName = "quickstart_slot";
    public const ulong SystemIdentifier = 7_311_234_567_890_123_456;

    public static IReadOnlyList<Transaction> Build(int transactions, int seed = 20261121)
    {
        var random = new Random(seed);
        var lsn = (ulong)NpgsqlLogSequenceNumber.Parse("0/16B3748");
        var list = new List<Transaction>(transactions);
        for (var id = 1; id <= transactions; id++)
        {
            var events = new List<string>();
            var count = random.Next(1, 6);
            for (var e = 0; e < count; e++)
            {
                lsn += (ulong)random.Next(40, 400);
                events.Add($"tx{id}:insert:orders:{id * 10 + e}");
            }

            lsn += (ulong)random.Next(24, 64); // the commit record
            list.Add(new Transaction(id, new NpgsqlLogSequenceNumber(lsn), events));
        }

        return list;
    }
}
