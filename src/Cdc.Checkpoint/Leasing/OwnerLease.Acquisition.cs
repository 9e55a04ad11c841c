using System.Globalization;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Cdc.Checkpoint.Leasing;

// Taking the lease of a directory for the first time in this process: the lease file opened without following links and
// checked, the kernel lock, a live rustcdc owner respected, the next epoch written in place and flushed, leftovers of an
// interrupted write removed.
internal sealed partial class OwnerLease
{
    private static OwnerLease AcquireNew(string directory, ILogger logger, TimeProvider timeProvider)
    {
        var path = Path.Combine(directory, FileName);
        var directoryStatus = CheckDirectory(directory);
        var handle = OpenLeaseFile(path, out var leaseStatus);
        try
        {
            if (LibC.IsSupported)
            {
                var errno = LibC.Flock(FdOf(handle), LibC.LOCK_EX | LibC.LOCK_NB);
                LeaseInfo? holder = null;
                if (errno == LibC.EWOULDBLOCK)
                {
                    // Read once: the read moves the descriptor's offset.
                    holder = LeaseInfo.TryParse(ReadAll(handle, path));
                    errno = WaitForOwnRelease(handle, holder);
                }

                if (errno == LibC.EWOULDBLOCK)
                {
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

            var previous = LeaseInfo.TryParse(ReadAll(handle, path));
            if (previous is { Epoch: long.MaxValue or < 0 })
            {
                throw new CheckpointException(
                    CheckpointErrorCode.LimitReached,
                    $"The lease file '{path}' holds epoch {previous.Epoch}, which cannot grow; epochs never wrap or restart. It was not written by this library: stop every consumer of '{directory}', then remove the lease file.")
                { Path = path };
            }

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
            return new OwnerLease(directory, handle, info, leaseStatus, directoryStatus);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Refuses to own a directory that group or other users can write (they could plant, replace or delete records
    /// and the lease); reading such a directory (inspect, verify) stays possible.
    /// </summary>
    private static FileStatus CheckDirectory(string directory) => DurableFile.RefuseSharedDirectory(directory);

    /// <summary>
    /// The lease record names this very process although it holds no lease here: this process released it, and a child it
    /// forked at that moment still shares the lock's open file description until it calls exec (the descriptor is
    /// close-on-exec, but fork copies it first). Waits up to a second for that child to exec, then answers as flock did.
    /// </summary>
    private static int WaitForOwnRelease(SafeFileHandle handle, LeaseInfo? holder)
    {
        if (holder is null || holder.ProcessId != Environment.ProcessId
            || !string.Equals(holder.Host, Environment.MachineName, StringComparison.OrdinalIgnoreCase)
            || holder.ProcessStartTime != ProcessStartTime(Environment.ProcessId))
        {
            return LibC.EWOULDBLOCK;
        }

        var errno = LibC.EWOULDBLOCK;
        for (var attempt = 0; attempt < 100 && errno == LibC.EWOULDBLOCK; attempt++)
        {
            Thread.Sleep(10);
            errno = LibC.Flock(FdOf(handle), LibC.LOCK_EX | LibC.LOCK_NB);
        }

        return errno;
    }

    private static SafeFileHandle OpenLeaseFile(string path, out FileStatus status)
    {
        if (!LibC.IsSupported)
        {
            status = default;
            if (new FileInfo(path).LinkTarget is not null)
            {
                throw DurableFile.SymlinkRefused(path);
            }

            return File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }

        var fd = LibC.OpenOrCreateNoFollow(path, 0x180 /* 0600 */);
        if (fd < 0)
        {
            throw SafeFile.Failure(-fd, path, "open the lease file");
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            // A FIFO, a hard link to another file or a file of another user is never locked, read or written.
            status = SafeFile.Stat(handle, path);
            SafeFile.Check(status, path, SafeFile.Rules.SingleLink | SafeFile.Rules.OwnedByUser);
            if ((status.Permissions & ~(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute)) != 0)
            {
                throw new CheckpointException(
                    CheckpointErrorCode.InsecurePermissions,
                    $"Lease file '{path}' has insecure permissions {DurableFile.FormatMode(status.Permissions)}. Run: chmod 600 '{path}'")
                { Path = path };
            }

            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Respects a live rustcdc owner on this host (<c>HOSTNAME:PID</c> in <c>.rustcdc_checkpoint.owner</c>).</summary>
    private static void CheckRustcdcOwner(string directory)
    {
        var path = Path.Combine(directory, RustcdcOwnerFileName);
        if (RustcdcOwner(directory) is { } text && LeaseStatus.NamesLiveOtherProcess(text, out var host, out var pid))
        {
            throw new CheckpointException(
                CheckpointErrorCode.LeaseHeld,
                $"Checkpoint directory '{directory}' is owned by a rustcdc process ({host} pid {pid}, from '{path}'). Stop it before using this directory here.")
            { Path = path };
        }
    }

    private static void RemoveLeftoverTempFiles(string directory, ILogger logger)
    {
        foreach (var path in SafeFile.ListEntries(directory, "checkpoint_*" + DurableFile.TempSuffix))
        {
            DurableFile.TryDelete(path);
            Log.TempFileRemoved(logger, path);
        }
    }

    /// <summary>The largest lease file read; anything larger was not written by us and is refused, never read as "no lease".</summary>
    internal const int MaxLeaseBytes = 64 * 1024;

    internal static byte[] ReadAll(SafeFileHandle handle, string path)
    {
        if (!LibC.IsSupported)
        {
            var length = RandomAccess.GetLength(handle);
            var buffer = new byte[Math.Min(length, MaxLeaseBytes)];
            return buffer[..RandomAccess.Read(handle, buffer, 0)];
        }

        var status = SafeFile.Stat(handle, path);
        SafeFile.Check(status, path, SafeFile.Rules.None);

        // The lease file is read through the descriptor that locks it, sometimes twice (who holds it, then the epoch
        // to continue from): each read starts at the beginning, or the second would see nothing and restart the epoch.
        var errno = LibC.SeekToStart(FdOf(handle));
        if (errno != 0)
        {
            throw SafeFile.Failure(errno, path, "seek");
        }

        return SafeFile.Read(handle, path, status, MaxLeaseBytes);
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
}
