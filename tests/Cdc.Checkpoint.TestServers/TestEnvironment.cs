using System.Runtime.InteropServices;

namespace Cdc.Checkpoint.TestServers;

/// <summary>Facts about the machine the tests run on.</summary>
public static partial class TestEnvironment
{
    /// <summary>
    /// <see langword="true"/> under CI (<c>CI=true</c> or <c>CI=1</c>). A test that needs a server must fail there when it
    /// cannot get one, never skip or pass.
    /// </summary>
    public static bool IsCi =>
        Environment.GetEnvironmentVariable("CI") is { } ci
        && (ci.Equals("true", StringComparison.OrdinalIgnoreCase) || ci == "1");

    /// <summary><see langword="true"/> when the process runs as root (effective user id 0) on a Unix system.</summary>
    public static bool IsRoot => !OperatingSystem.IsWindows() && GetEffectiveUserId() == 0;

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserId();
}
