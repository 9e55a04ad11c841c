using System.Globalization;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Internal;

namespace Cdc.Checkpoint.Leasing;

// Looking at a directory's lease from outside, without taking it (inspect, the readiness probe), and what the lease
// record says about its owner process.
internal sealed partial class OwnerLease
{
    /// <summary>Reports who holds the lease of <paramref name="directory"/> without taking it.</summary>
    public static LeaseStatus Probe(string directory)
    {
        var fullPath = Path.GetFullPath(directory);
        var mine = HeldByThisProcess(fullPath);
        if (mine is not null)
        {
            return new LeaseStatus(LeaseState.Held, mine, RustcdcOwner(fullPath));
        }

        var path = Path.Combine(fullPath, FileName);
        if (!LibC.IsSupported)
        {
            return new LeaseStatus(File.Exists(path) ? LeaseState.Free : LeaseState.None, null, RustcdcOwner(fullPath));
        }

        using var handle = SafeFile.OpenRead(path, SafeFile.Rules.SingleLink | SafeFile.Rules.OwnedByUser, out var status);
        if (handle is null)
        {
            return new LeaseStatus(LeaseState.None, null, RustcdcOwner(fullPath));
        }

        var info = LeaseInfo.TryParse(SafeFile.Read(handle, path, status, MaxLeaseBytes));
        var fd = FdOf(handle);
        var errno = LibC.Flock(fd, LibC.LOCK_EX | LibC.LOCK_NB);
        if (errno == 0)
        {
            _ = LibC.Flock(fd, LibC.LOCK_UN);
            return new LeaseStatus(LeaseState.Free, info, RustcdcOwner(fullPath));
        }

        return new LeaseStatus(LeaseState.Held, info, RustcdcOwner(fullPath));
    }

    /// <summary>The trimmed text of the directory's rustcdc owner file, or <see langword="null"/> when there is none or it is not a regular file we can read (then it names no live owner).</summary>
    private static string? RustcdcOwner(string directory)
    {
        try
        {
            var bytes = DurableFile.ReadPrivate(Path.Combine(directory, RustcdcOwnerFileName), 4096, requirePrivate: false);
            return bytes is null ? null : System.Text.Encoding.UTF8.GetString(bytes).Trim();
        }
        catch (CheckpointException)
        {
            return null;
        }
    }

    internal static bool IsProcessAlive(int pid) =>
        pid > 0 && (OperatingSystem.IsLinux() ? System.IO.Directory.Exists($"/proc/{pid}") : ProcessExists(pid));

    private static bool ProcessExists(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Field 22 of /proc/PID/stat: start time in clock ticks after boot; 0 when unavailable.</summary>
    internal static ulong ProcessStartTime(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var afterName = stat.LastIndexOf(')');
            if (afterName < 0)
            {
                return 0;
            }

            var fields = stat[(afterName + 2)..].Split(' ');
            return fields.Length > 19 && ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) ? ticks : 0;
        }
        catch (IOException)
        {
            return 0;
        }
        catch (UnauthorizedAccessException)
        {
            return 0;
        }
    }
}
