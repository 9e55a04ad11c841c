using System.Globalization;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Leasing;

namespace Cdc.Checkpoint.Torture;

/// <summary>What a lease-race campaign saw.</summary>
public sealed class LeaseRaceReport
{
    /// <summary>Rounds raced.</summary>
    public int Rounds { get; set; }

    /// <summary>Rounds won by each of the two contender slots.</summary>
    public int[] Wins { get; } = new int[2];

    /// <summary>Owners killed with SIGKILL.</summary>
    public int Kills { get; set; }

    /// <summary>Kills after which the other contender took the lease at its first attempt.</summary>
    public int TakeoversInOneAttempt { get; set; }

    /// <summary>The lease epoch at the end.</summary>
    public long FinalEpoch { get; set; }

    /// <summary>Every broken invariant; empty when the campaign passed.</summary>
    public List<string> Violations { get; } = [];

    /// <inheritdoc />
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"rounds {Rounds} (wins {Wins[0]}/{Wins[1]}), owners killed {Kills}, takeovers at the first attempt {TakeoversInOneAttempt}, final epoch {FinalEpoch}, violations {Violations.Count}");
}

/// <summary>
/// Lease races: two real processes (harness <c>lease-race</c>) try to take one directory's lease at the same moment,
/// round after round. Invariants: exactly one owner per round, the other refused with LeaseHeld; the epoch grows by
/// exactly one per acquisition; the lease file and a probe from a third process name the winner; and when the owner
/// is SIGKILLed, the other takes the lease at its first attempt.
/// </summary>
public static class LeaseRace
{
    private static readonly TimeSpan LineTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Runs <paramref name="rounds"/> races on <paramref name="directory"/>.</summary>
    /// <param name="directory">The checkpoint directory (created when missing).</param>
    /// <param name="rounds">How many rounds.</param>
    /// <param name="killEvery">Every this many rounds the owner is killed instead of releasing.</param>
    /// <param name="seed">Seed of the order in which the two are told to try.</param>
    /// <param name="log">Progress output, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Stops between rounds.</param>
    /// <returns>The report.</returns>
    public static async Task<LeaseRaceReport> RunAsync(string directory, int rounds, int killEvery, int seed, TextWriter? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rounds);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(killEvery);
        directory = Path.GetFullPath(directory);
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, DurableFile.PrivateDirectoryMode);
        }

        var report = new LeaseRaceReport();
        var random = new Random(seed);
        var lastEpoch = FileCheckpoint.GetLeaseStatus(directory).Owner?.Epoch ?? 0;
        var contenders = new HarnessChild[2];
        try
        {
            contenders[0] = await StartReadyAsync(directory);
            contenders[1] = await StartReadyAsync(directory);
            for (var round = 1; round <= rounds; round++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                report.Rounds++;
                var first = random.Next(2);
                contenders[first].Send("try");
                contenders[1 - first].Send("try");
                var answers = new string?[2];
                answers[0] = await contenders[0].ReadLineAsync(LineTimeout);
                answers[1] = await contenders[1].ReadLineAsync(LineTimeout);

                var owners = Enumerable.Range(0, 2).Where(i => answers[i]?.StartsWith("owner ", StringComparison.Ordinal) == true).ToList();
                var refused = Enumerable.Range(0, 2).Count(i => answers[i] == $"refused {CheckpointErrorCode.LeaseHeld}");
                if (owners.Count != 1 || refused != 1)
                {
                    report.Violations.Add($"round {round}: expected one owner and one LeaseHeld refusal, got '{answers[0]}' and '{answers[1]}'");
                    foreach (var i in owners)
                    {
                        contenders[i].Send("release");
                        await contenders[i].ReadUntilAsync("released", LineTimeout);
                    }

                    if (owners.Count > 0)
                    {
                        lastEpoch = FileCheckpoint.GetLeaseStatus(directory).Owner?.Epoch ?? lastEpoch;
                    }

                    continue;
                }

                var owner = owners[0];
                var loser = 1 - owner;
                report.Wins[owner]++;
                var epoch = long.Parse(answers[owner]!["owner ".Length..], CultureInfo.InvariantCulture);
                if (epoch != lastEpoch + 1)
                {
                    report.Violations.Add($"round {round}: the owner's epoch is {epoch}, expected {lastEpoch + 1}");
                }

                lastEpoch = epoch;
                var status = FileCheckpoint.GetLeaseStatus(directory);
                if (status.State != LeaseState.Held || status.Owner?.ProcessId != contenders[owner].ProcessId || status.Owner.Epoch != epoch)
                {
                    report.Violations.Add($"round {round}: a probe saw {status.State} by {status.Owner}, expected held by pid {contenders[owner].ProcessId} at epoch {epoch}");
                }

                if (round % killEvery == 0)
                {
                    contenders[owner].Kill();
                    await contenders[owner].WaitForExitAsync(cancellationToken);
                    await contenders[owner].DisposeAsync();
                    report.Kills++;

                    // The kernel dropped the dead owner's lock: the other contender's first attempt must succeed.
                    contenders[loser].Send("try");
                    var takeover = await contenders[loser].ReadLineAsync(LineTimeout);
                    if (takeover == $"owner {lastEpoch + 1}")
                    {
                        report.TakeoversInOneAttempt++;
                        lastEpoch++;
                        contenders[loser].Send("release");
                        await ExpectAsync(contenders[loser], "released", round, report);
                    }
                    else
                    {
                        report.Violations.Add($"round {round}: after the owner was killed the other contender's first attempt got '{takeover}', expected 'owner {lastEpoch + 1}'");
                        if (takeover?.StartsWith("owner ", StringComparison.Ordinal) == true)
                        {
                            lastEpoch = long.Parse(takeover["owner ".Length..], CultureInfo.InvariantCulture);
                            contenders[loser].Send("release");
                            await ExpectAsync(contenders[loser], "released", round, report);
                        }
                    }

                    contenders[owner] = await StartReadyAsync(directory);
                }
                else
                {
                    contenders[owner].Send("release");
                    await ExpectAsync(contenders[owner], "released", round, report);
                }

                if (round % 100 == 0 || round == rounds)
                {
                    log?.WriteLine($"lease races: {round}/{rounds} rounds, {report.Violations.Count} violations");
                }
            }

            foreach (var contender in contenders)
            {
                contender.Send("exit");
                await contender.WaitForExitAsync(cancellationToken);
                if (contender.ExitCode != 0)
                {
                    report.Violations.Add($"a contender exited with {contender.ExitCode}: {contender.StandardError.Trim()}");
                }
            }

            report.FinalEpoch = lastEpoch;
            var final = FileCheckpoint.GetLeaseStatus(directory);
            if (final.State != LeaseState.Free || final.Owner?.Epoch != lastEpoch)
            {
                report.Violations.Add($"at the end the lease is {final.State} at epoch {final.Owner?.Epoch}, expected free at epoch {lastEpoch}");
            }
        }
        finally
        {
            foreach (var contender in contenders)
            {
                if (contender is not null)
                {
                    await contender.DisposeAsync();
                }
            }
        }

        return report;
    }

    private static async Task<HarnessChild> StartReadyAsync(string directory)
    {
        var child = HarnessChild.Start(["lease-race", directory]);
        var ready = await child.ReadLineAsync(LineTimeout);
        if (ready != "ready")
        {
            await child.DisposeAsync();
            throw new InvalidOperationException($"A lease-race contender did not start: '{ready}'. {child.StandardError}");
        }

        return child;
    }

    private static async Task ExpectAsync(HarnessChild child, string expected, int round, LeaseRaceReport report)
    {
        var line = await child.ReadLineAsync(LineTimeout);
        if (line != expected)
        {
            report.Violations.Add($"round {round}: expected '{expected}', got '{line}'");
        }
    }
}
