using System.Globalization;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Cdc.Checkpoint.Leasing;

/// <summary>
/// The owner lease of a checkpoint directory: one process at a time may write to it.
/// </summary>
/// <remarks>
/// Mutual exclusion is a kernel advisory lock (<c>flock(LOCK_EX)</c>) on the lease file, held for the owner's whole
/// lifetime. The kernel drops it when the owner exits for any reason, so a crashed owner never blocks the next one and
/// a reused process id cannot pose as a live owner. The file's contents (host, pid, process start time, acquisition
/// time, epoch) only describe the last owner. Within one process the lease is re-entrant: every
/// <see cref="FileCheckpoint"/> on the same directory shares it, and it is released when the last one is disposed.
/// The file is rewritten in place (never renamed), because the lock belongs to its inode.
/// </remarks>
internal sealed class OwnerLease
{
    public const string FileName = ".cdc-checkpoint.lease";
    public const string RustcdcOwnerFileName = ".rustcdc_checkpoint.owner";

    private static readonly Dictionary<string, OwnerLease> Held = new(StringComparer.Ordinal);
    private static readonly Lock HeldGate = new();

    private readonly SafeFileHandle _handle;
    private int _references;

    private OwnerLease(string directory, SafeFileHandle handle, LeaseInfo info)
    {
        Directory = directory;
        _handle = handle;
        Info = info;
        _references = 1;
    }

    public string Directory { get; }

    public LeaseInfo Info { get; }

    /// <summary>Serialises writers of this directory inside the process.</summary>
    public SemaphoreSlim WriteGate { get; } = new(1, 1);

    /// <summary>State that users of the lease cache while they own the directory exclusively.</summary>
    public object? SharedState { get; set; }

    public static OwnerLease Acquire(string directory, ILogger logger, TimeProvider timeProvider)
    {
        var fullPath = Path.GetFullPath(directory);
        lock (HeldGate)
        {
            if (Held.TryGetValue(fullPath, out var existing))
            {
                existing._references++;
                return existing;
            }

            var lease = AcquireNew(fullPath, logger, timeProvider);
            Held.Add(fullPath, lease);
            return lease;
        }
    }

    /// <summary>The lease held by this process on <paramref name="directory"/>, if any.</summary>
    public static LeaseInfo? HeldByThisProcess(string directory)
    {
        lock (HeldGate)
        {
            return Held.TryGetValue(Path.GetFullPath(directory), out var lease) ? lease.Info : null;
        }
    }

    public void Release(ILogger logger)
    {
        lock (HeldGate)
        {
            if (--_references > 0)
            {
                return;
            }

            Held.Remove(Directory);
            _handle.Dispose(); // closing the only descriptor drops the flock
            WriteGate.Dispose();
        }

        Log.LeaseReleased(logger, Directory);
    }

    private static OwnerLease AcquireNew(string directory, ILogger logger, TimeProvider timeProvider)
    {
        var path = Path.Combine(directory, FileName);
        var handle = OpenLeaseFile(path);
        try
        {
            if (LibC.IsSupported)
            {
                var errno = LibC.Flock(FdOf(handle), LibC.LOCK_EX | LibC.LOCK_NB);
                if (errno == LibC.EWOULDBLOCK)
                {
                    var holder = LeaseInfo.TryParse(ReadAll(handle));
                    var owner = holder?.ToString() ?? "another process (its lease record is being written)";
                    Log.LeaseHeld(logger, directory, owner);
                    throw new CheckpointException(
                        CheckpointErrorCode.LeaseHeld,
                        $"Checkpoint directory '{directory}' is owned by {owner}. Only one process may write a checkpoint directory: stop that process, or give this consumer its own directory.")
                    { Path = path };
                }

                if (errno != 0)
                {
                    throw new CheckpointException(
                        CheckpointErrorCode.WriteFailed,
                        $"Could not lock the lease file '{path}': {LibC.Describe(errno)}. The file system must support flock (local file systems do).")
                    { Path = path };
                }
            }

            CheckRustcdcOwner(directory);

            var previous = LeaseInfo.TryParse(ReadAll(handle));
            var info = new LeaseInfo(
                Environment.MachineName,
                Environment.ProcessId,
                ProcessStartTime(Environment.ProcessId),
                timeProvider.GetUtcNow(),
                (previous?.Epoch ?? 0) + 1);
            WriteInPlace(handle, path, info.ToJsonBytes());
            DurableFile.FsyncDirectory(directory);

            if (previous is not null && (previous.Host != info.Host || previous.ProcessId != info.ProcessId || previous.ProcessStartTime != info.ProcessStartTime))
            {
                Log.LeaseTakenOver(logger, directory, previous);
            }

            Log.LeaseAcquired(logger, directory, info.Epoch);
            RemoveLeftoverTempFiles(directory, logger);
            return new OwnerLease(directory, handle, info);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static SafeFileHandle OpenLeaseFile(string path)
    {
        if (!LibC.IsSupported)
        {
            if (new FileInfo(path).LinkTarget is not null)
            {
                throw DurableFile.SymlinkRefused(path);
            }

            return File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }

        var fd = LibC.OpenOrCreateNoFollow(path, 0x180 /* 0600 */);
        if (fd >= 0)
        {
            var handle = new SafeFileHandle(fd, ownsHandle: true);
            var mode = File.GetUnixFileMode(handle);
            if ((mode & ~(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute)) != 0)
            {
                handle.Dispose();
                throw new CheckpointException(
                    CheckpointErrorCode.InsecurePermissions,
                    $"Lease file '{path}' has insecure permissions {DurableFile.FormatMode(mode)}. Run: chmod 600 '{path}'")
                { Path = path };
            }

            return handle;
        }

        throw -fd == LibC.ELOOP
            ? DurableFile.SymlinkRefused(path)
            : new CheckpointException(
                CheckpointErrorCode.WriteFailed,
                $"Could not open the lease file '{path}': {LibC.Describe(-fd)}. The checkpoint directory must be writable by this user.")
            { Path = path };
    }

    /// <summary>Respects a live rustcdc owner on this host (<c>HOSTNAME:PID</c> in <c>.rustcdc_checkpoint.owner</c>).</summary>
    private static void CheckRustcdcOwner(string directory)
    {
        var path = Path.Combine(directory, RustcdcOwnerFileName);
        byte[]? bytes;
        try
        {
            bytes = DurableFile.ReadPrivate(path, 4096, requirePrivate: false);
        }
        catch (CheckpointException)
        {
            return; // not a regular file we can read: nothing that names a live owner
        }

        if (bytes is null)
        {
            return;
        }

        var text = System.Text.Encoding.UTF8.GetString(bytes).Trim();
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
        {
            return;
        }

        var host = text[..colon];
        if (string.Equals(host, Environment.MachineName, StringComparison.OrdinalIgnoreCase) && pid != Environment.ProcessId && IsProcessAlive(pid))
        {
            throw new CheckpointException(
                CheckpointErrorCode.LeaseHeld,
                $"Checkpoint directory '{directory}' is owned by a rustcdc process ({host} pid {pid}, from '{path}'). Stop it before using this directory here.")
            { Path = path };
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

    private static void RemoveLeftoverTempFiles(string directory, ILogger logger)
    {
        foreach (var path in System.IO.Directory.EnumerateFiles(directory, "checkpoint_*" + DurableFile.TempSuffix))
        {
            DurableFile.TryDelete(path);
            Log.TempFileRemoved(logger, path);
        }
    }

    private static int FdOf(SafeFileHandle handle) => (int)handle.DangerousGetHandle();

    internal static byte[] ReadAll(SafeFileHandle handle)
    {
        var length = RandomAccess.GetLength(handle);
        if (length is <= 0 or > 64 * 1024)
        {
            return [];
        }

        var buffer = new byte[length];
        var read = RandomAccess.Read(handle, buffer, 0);
        return buffer[..read];
    }

    private static void WriteInPlace(SafeFileHandle handle, string path, byte[] bytes)
    {
        try
        {
            RandomAccess.Write(handle, bytes, 0);
            RandomAccess.SetLength(handle, bytes.Length);
        }
        catch (IOException ex)
        {
            throw new CheckpointException(CheckpointErrorCode.WriteFailed, $"Could not write the lease file '{path}': {ex.Message}", ex) { Path = path };
        }

        if (LibC.IsSupported)
        {
            var errno = LibC.Fsync(FdOf(handle));
            if (errno != 0)
            {
                throw new CheckpointException(CheckpointErrorCode.WriteFailed, $"fsync of the lease file '{path}' failed: {LibC.Describe(errno)}. Check the disk.") { Path = path };
            }
        }
    }

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

        var fd = LibC.OpenReadNoFollow(path);
        if (fd < 0)
        {
            return -fd == LibC.ENOENT
                ? new LeaseStatus(LeaseState.None, null, RustcdcOwner(fullPath))
                : throw (-fd == LibC.ELOOP ? DurableFile.SymlinkRefused(path) : new CheckpointException(CheckpointErrorCode.Corrupt, $"Could not open the lease file '{path}': {LibC.Describe(-fd)}") { Path = path });
        }

        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        var info = LeaseInfo.TryParse(ReadAll(handle));
        var errno = LibC.Flock(fd, LibC.LOCK_EX | LibC.LOCK_NB);
        if (errno == 0)
        {
            _ = LibC.Flock(fd, LibC.LOCK_UN);
            return new LeaseStatus(LeaseState.Free, info, RustcdcOwner(fullPath));
        }

        return new LeaseStatus(LeaseState.Held, info, RustcdcOwner(fullPath));
    }

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
}
