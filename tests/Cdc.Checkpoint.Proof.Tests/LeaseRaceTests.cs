using Cdc.Checkpoint.Proof.Tests.Support;
using Cdc.Checkpoint.Torture;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Proof.Tests;

/// <summary>
/// Two real processes race for one directory's owner lease, round after round (CDC_LEASE_ROUNDS, default 100); every
/// tenth round the owner is SIGKILLed and the other must take over at its first attempt.
/// </summary>
public sealed class LeaseRaceTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Lease_TwoProcessesRacingManyRounds_ExactlyOneOwnerEachRoundAndTakeoverInOneAttemptAfterKill()
    {
        var rounds = ProofSettings.LeaseRounds;
        const int KillEvery = 10;
        output.WriteLine($"lease races: {rounds} rounds, seed {ProofSettings.Seed}");

        var report = await LeaseRace.RunAsync(_dir.Path, rounds, KillEvery, ProofSettings.Seed, new OutputWriter(output), TestContext.Current.CancellationToken);
        output.WriteLine(report.ToString());

        report.Violations.ShouldBeEmpty();
        report.Rounds.ShouldBe(rounds);
        (report.Wins[0] + report.Wins[1]).ShouldBe(rounds);
        report.Kills.ShouldBe(rounds / KillEvery);
        report.TakeoversInOneAttempt.ShouldBe(report.Kills);

        // One acquisition per round plus one takeover per kill, each growing the epoch by exactly one.
        report.FinalEpoch.ShouldBe(rounds + report.Kills);
    }
}
