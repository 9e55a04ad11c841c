using System.Globalization;

namespace Cdc.Checkpoint.Torture;

/// <summary>The campaign modes: the long runs whose figures docs/RELIABILITY.md publishes.</summary>
public static class Campaigns
{
    /// <summary><c>crash DIR [KILLS] [SEED]</c> (<c>log-crash</c> for a CheckpointLog): crash torture, 1,000 kills by default.</summary>
    /// <param name="dir">The checkpoint directory.</param>
    /// <param name="args">The command line.</param>
    /// <param name="log">Torture a <see cref="Files.CheckpointLog"/> instead of a <see cref="Files.FileCheckpoint"/>.</param>
    /// <returns>0 when every invariant held, 1 otherwise.</returns>
    public static async Task<int> CrashAsync(string dir, string[] args, bool log = false)
    {
        var kills = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1000;
        var seed = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : Environment.TickCount;
        Console.WriteLine($"crash torture{(log ? " (checkpoint log)" : "")}: {kills} kills on {Path.GetFullPath(dir)}, seed {seed}");
        var report = await CrashTorture.RunAsync(dir, kills, seed, Console.Out, checkpointLog: log);
        return Finish("crash torture", report.ToString(), report.Violations);
    }

    /// <summary><c>lease-races DIR [ROUNDS] [SEED]</c>: lease races, 1,000 rounds by default, the owner killed every 10th round.</summary>
    /// <param name="dir">The checkpoint directory.</param>
    /// <param name="args">The command line.</param>
    /// <returns>0 when every invariant held, 1 otherwise.</returns>
    public static async Task<int> LeaseRacesAsync(string dir, string[] args)
    {
        var rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1000;
        var seed = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : Environment.TickCount;
        Console.WriteLine($"lease races: {rounds} rounds on {Path.GetFullPath(dir)}, seed {seed}");
        var report = await LeaseRace.RunAsync(dir, rounds, killEvery: 10, seed, Console.Out);
        return Finish("lease races", report.ToString(), report.Violations);
    }

    private static int Finish(string name, string summary, List<string> violations)
    {
        foreach (var violation in violations)
        {
            Console.WriteLine($"VIOLATION: {violation}");
        }

        Console.WriteLine($"{name}: {summary}");
        Console.WriteLine(violations.Count == 0 ? $"{name}: PASSED" : $"{name}: FAILED");
        return violations.Count == 0 ? 0 : 1;
    }
}
