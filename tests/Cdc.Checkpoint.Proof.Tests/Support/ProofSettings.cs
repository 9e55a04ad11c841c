using System.Globalization;

namespace Cdc.Checkpoint.Proof.Tests.Support;

/// <summary>
/// The sizes of the proof campaigns: small by default so CI stays quick, raised by environment variables for the
/// published runs (docs/RELIABILITY.md).
/// </summary>
public static class ProofSettings
{
    /// <summary>SIGKILLs of the crash torture (<c>CDC_TORTURE_KILLS</c>, default 40).</summary>
    public static int TortureKills => Read("CDC_TORTURE_KILLS", 40);

    /// <summary>Rounds of the lease race (<c>CDC_LEASE_ROUNDS</c>, default 100).</summary>
    public static int LeaseRounds => Read("CDC_LEASE_ROUNDS", 100);

    /// <summary>Fuzz cases per parser (<c>CDC_FUZZ_CASES</c>, default 10,000).</summary>
    public static int FuzzCases => Read("CDC_FUZZ_CASES", 10_000);

    /// <summary>Seed of the random choices (<c>CDC_PROOF_SEED</c>, default: a new one each run, printed by the tests).</summary>
    public static int Seed { get; } = Read("CDC_PROOF_SEED", Environment.TickCount & int.MaxValue);

    private static int Read(string name, int fallback)
    {
        var text = Environment.GetEnvironmentVariable(name);
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0
            ? value
            : throw new InvalidOperationException($"{name} must be a positive integer, not '{text}'.");
    }
}
