using System.Diagnostics;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Leasing;
using Xunit;

namespace Cdc.Checkpoint.Cli.Tests.Support;

/// <summary>
/// Another live process holding a directory's owner lease: <c>flock --exclusive --no-fork LEASE sleep 60</c>, the same
/// kernel lock a consumer holds. Killed at dispose.
/// </summary>
public sealed class FlockHolder : IAsyncDisposable
{
    private readonly Process _process;

    private FlockHolder(Process process) => _process = process;

    public int ProcessId => _process.Id;

    /// <summary>Starts the holder and waits until the lease is seen as held. The lease file must exist (mode 0600).</summary>
    public static async Task<FlockHolder> HoldAsync(string directory)
    {
        var leaseFile = Path.Combine(directory, FileCheckpoint.LeaseFileName);
        File.Exists(leaseFile).ShouldBeTrueOrThrow($"{leaseFile} must exist before it is locked");
        var start = new ProcessStartInfo("flock") { UseShellExecute = false };
        foreach (var arg in new[] { "--exclusive", "--no-fork", leaseFile, "sleep", "60" })
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start flock");
        var holder = new FlockHolder(process);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (FileCheckpoint.GetLeaseStatus(directory).State != LeaseState.Held)
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                await holder.DisposeAsync();
                throw new InvalidOperationException($"flock did not take {leaseFile}");
            }

            await Task.Delay(20, TestContext.Current.CancellationToken);
        }

        return holder;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}

internal static class Guard
{
    public static void ShouldBeTrueOrThrow(this bool condition, string message)
    {
        if (!condition)
        {
            throw new InvalidOperationException(message);
        }
    }
}
