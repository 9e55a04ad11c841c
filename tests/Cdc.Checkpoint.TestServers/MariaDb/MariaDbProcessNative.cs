using System.Runtime.InteropServices;

namespace Cdc.Checkpoint.TestServers.MariaDb;

/// <summary>libc calls the MariaDB fixture needs: SIGTERM for a clean shutdown (the effective user id is TestEnvironment.IsRoot).</summary>
internal static partial class MariaDbProcessNative
{
    public const int SIGTERM = 15;
    public const int SIGKILL = 9;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int KillNative(int pid, int signal);

    /// <summary>Sends <paramref name="signal"/>; <see langword="false"/> when the process no longer exists.</summary>
    public static bool Signal(int pid, int signal) => KillNative(pid, signal) == 0;
}
