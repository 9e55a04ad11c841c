using System.Runtime.InteropServices;

namespace Cdc.Checkpoint.TestServers.MariaDb;

/// <summary>libc calls the MariaDB fixture needs: SIGTERM for a clean shutdown and the effective user id.</summary>
internal static partial class MariaDbProcessNative
{
    public const int SIGTERM = 15;
    public const int SIGKILL = 9;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int KillNative(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserIdNative();

    /// <summary><see langword="true"/> when running as root (mariadbd then needs <c>user=mysql</c>).</summary>
    public static bool IsRoot => OperatingSystem.IsLinux() && GetEffectiveUserIdNative() == 0;

    /// <summary>Sends <paramref name="signal"/>; <see langword="false"/> when the process no longer exists.</summary>
    public static bool Signal(int pid, int signal) => KillNative(pid, signal) == 0;
}
