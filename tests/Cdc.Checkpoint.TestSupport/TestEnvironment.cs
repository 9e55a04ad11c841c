using System.Runtime.InteropServices;

namespace Cdc.Checkpoint.TestSupport;

/// <summary>Facts about the machine the tests run on, and the one rule for a test whose server is missing.</summary>
public static partial class TestEnvironment
{
    /// <summary>
    /// Gets a value indicating whether the tests run under CI (<c>CI=true</c> or <c>CI=1</c>). The only reader of the
    /// variable in the tests: everything that depends on it asks here.
    /// </summary>
    public static bool IsCi =>
        Environment.GetEnvironmentVariable("CI") is { } ci
        && (ci.Equals("true", StringComparison.OrdinalIgnoreCase) || ci == "1");

    /// <summary>Gets a value indicating whether the process runs as root (effective user id 0) on a Unix system.</summary>
    public static bool IsRoot => !OperatingSystem.IsWindows() && GetEffectiveUserId() == 0;

    /// <summary>
    /// Starts or reaches a server a test needs, applying the one rule for a missing server: the test fails, with the
    /// reason and the fix. Under CI (<see cref="IsCi"/>) that is required (a skip would read as a pass); on a developer
    /// machine the rule is the same, so a run without the servers never looks green. No fixture skips or returns early.
    /// </summary>
    /// <typeparam name="T">The server type.</typeparam>
    /// <param name="server">What is needed, e.g. <c>PostgreSQL 15</c>, for the message.</param>
    /// <param name="start">Starts or connects to the server.</param>
    /// <returns>The server.</returns>
    /// <exception cref="ServerUnavailableException">The server cannot be started or reached.</exception>
    public static async Task<T> RequireServerAsync<T>(string server, Func<Task<T>> start)
    {
        ArgumentNullException.ThrowIfNull(start);
        try
        {
            return await start().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not ServerUnavailableException)
        {
            throw new ServerUnavailableException(server, ex);
        }
    }

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserId();
}

/// <summary>A server a test needs cannot be started or reached; the test fails (it never skips). See <see cref="TestEnvironment.RequireServerAsync{T}"/>.</summary>
public sealed class ServerUnavailableException : InvalidOperationException
{
    /// <summary>Initializes a new instance of the <see cref="ServerUnavailableException"/> class.</summary>
    /// <param name="server">What is needed.</param>
    /// <param name="inner">Why it cannot be had; its message carries the fix and the server log.</param>
    public ServerUnavailableException(string server, Exception inner)
        : base(
            $"{server} is unavailable, so this test fails{(TestEnvironment.IsCi ? " (CI=true: a missing server fails, never skips)" : " (a missing server fails, never skips; CI=true is no different)")}: {inner?.Message}",
            inner)
    {
    }
}
