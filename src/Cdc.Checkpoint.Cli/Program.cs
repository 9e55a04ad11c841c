using System.Runtime.Versioning;

// File modes, O_NOFOLLOW reads and flock leases are what the tool checks: it is a Unix tool (the library's durability
// and lease guarantees are Linux-only as well).
[assembly: UnsupportedOSPlatform("windows")]

namespace Cdc.Checkpoint.Cli;

internal static class Program
{
    public static Task<int> Main(string[] args) => CliApp.RunAsync(args, Console.Out, Console.Error);
}
