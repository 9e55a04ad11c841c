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
// This file holds what a held lease does (prove it is still held, flush the directory through its descriptor, remember
// the files its owner wrote, release); OwnerLease.Acquisition.cs takes it, OwnerLease.Probe.cs looks at it from outside.
internal sealed partial class OwnerLease
{
    public const string FileName = ".cdc-checkpoint.lease";
    public const string RustcdcOwnerFileName = ".rustcdc_checkpoint.owner";

    private static readonly Dictionary<string, OwnerLease> Held = new(StringComparer.Ordinal);
    private static readonly Lock HeldGate = new();

    private readonly SafeFileHandle _handle;
    private readonly FileStatus _leaseFile;
    private readonly FileStatus _directory;
    private readonly string _leaseFilePath;
    private SafeFileHandle? _directoryHandle;
    private string? _lostReason;
    private int _references;

    private OwnerLease(string directory, SafeFileHandle handle, LeaseInfo info, in FileStatus leaseFile, in FileStatus directoryStatus)
    {
        Directory = directory;
        _handle = handle;
        Info = info;
        _leaseFile = leaseFile;
        _directory = directoryStatus;
        _leaseFilePath = Path.Combine(directory, FileName);
        _references = 1;
    }

    /// <summary>
    /// What each record file looked like when this owner last read or wrote it (device, inode, size, mtime, ctime), so
    /// that a change made by anyone else is noticed instead of being taken for the owner's own state.
    /// </summary>
    private readonly Dictionary<string, FileStatus> _stamps = new(StringComparer.Ordinal);

    /// <summary>Remembers what <paramref name="path"/> looks like now that this owner has read or written it (<see langword="null"/>: unknown or gone).</summary>
    public void Remember(string path, FileStatus? status)
    {
        lock (_stamps)
        {
            if (status is { } known)
            {
                _stamps[path] = known;
            }
            else
            {
                _stamps.Remove(path);
            }
        }
    }

    /// <summary>The files this owner remembers.</summary>
    public List<string> RememberedPaths()
    {
        lock (_stamps)
        {
            return [.. _stamps.Keys];
        }
    }

    /// <summary>
    /// The reason <paramref name="path"/> is not what this owner last read or wrote, or <see langword="null"/> when it is
    /// (or when the owner has no memory of it). <paramref name="now"/> is <see langword="null"/> when the file is missing.
    /// </summary>
    public string? ChangedBehindOurBack(string path, FileStatus? now, bool expectedToExist)
    {
        FileStatus before;
        lock (_stamps)
        {
            if (!_stamps.TryGetValue(path, out before))
            {
                return expectedToExist || now is null ? null : "it appeared although this owner had read the directory without it";
            }
        }

        if (now is not { } current)
        {
            return "it was deleted";
        }

        // Without the times (the log's segment between appends: see LibC.LstatWithoutTimes) a change of mode, owner or
        // links, which would have moved the ctime, is compared itself; what the file holds is proven by reading it back
        // (CheckpointLog.RefuseIfRewritten).
        var sameTimes = current.HasTimes && before.HasTimes
            ? current.ModifiedTicks == before.ModifiedTicks && current.ChangedTicks == before.ChangedTicks
            : current.Mode == before.Mode && current.OwnerId == before.OwnerId && current.Links == before.Links;
        return current.SameFileAs(before) && current.Size == before.Size && sameTimes
            ? null
            : current.SameFileAs(before) ? "it was rewritten in place" : "it was replaced by another file";
    }

    /// <summary>Why the lease was lost, or <see langword="null"/> while it is held.</summary>
    public string? LostReason => Volatile.Read(ref _lostReason);

    /// <summary>
    /// Proves, before a write, that this process still owns the directory at <see cref="Directory"/>: the lease file at
    /// that path is the inode it locked (not deleted, not re-created by another owner, not a copy after the directory was
    /// moved), it has one link, and the directory at the path is the one it opened. Otherwise the lease is lost for
    /// good: this call and every later one throw <see cref="CheckpointErrorCode.LeaseLost"/>.
    /// </summary>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.LeaseLost"/>, or an I/O error of the stat.</exception>
    /// <returns>
    /// What the stat of the directory said (default off Linux): a writer checks its permissions from it instead of
    /// asking the kernel a second time (<see cref="DurableFile.RefuseSharedDirectory(in FileStatus, string, string?)"/>).
    /// </returns>
    public FileStatus EnsureHeld(ILogger logger)
    {
        if (LostReason is { } lost)
        {
            throw LeaseLost(lost);
        }

        if (!LibC.IsSupported)
        {
            return default;
        }

        var path = _leaseFilePath;
        string? reason = null;
        var errno = LibC.Stat(Directory, out var directoryNow);
        if (errno == LibC.ENOENT || errno == LibC.ENOTDIR || (errno == 0 && !directoryNow.SameFileAs(_directory)))
        {
            reason = $"the directory at '{Directory}' is no longer the one this process opened (it was moved, replaced or removed)";
        }
        else if (errno != 0)
        {
            throw SafeFile.Failure(errno, Directory, "stat the checkpoint directory");
        }
        else
        {
            // The directory at the path is the one this lease opened (above), and so is the held descriptor (checked when
            // it was opened): the lease file is looked up relative to it, without a second walk of the whole path.
            errno = LibC.LstatAt(DirectoryDescriptor(logger), FileName, out var leaseNow);
            if (errno == LibC.ENOENT)
            {
                reason = $"the lease file '{path}' was deleted";
            }
            else if (errno != 0)
            {
                throw SafeFile.Failure(errno, path, "stat the lease file");
            }
            else if (!leaseNow.SameFileAs(_leaseFile))
            {
                reason = $"the lease file '{path}' is no longer the file this process locked (it was deleted and re-created, possibly by another owner)";
            }
            else if (leaseNow.Links != 1)
            {
                reason = $"the lease file '{path}' has {leaseNow.Links} hard links";
            }
        }

        if (reason is null)
        {
            return directoryNow;
        }

        throw Lose(logger, reason);
    }

    /// <summary>
    /// lstat of the entry <paramref name="name"/> of the owned directory, through the held directory descriptor. Only
    /// after <see cref="EnsureHeld"/> in the same operation, which proved that the directory at the path is the held one:
    /// the answer is then the one lstat of the full path gives, for one path walk fewer. <see langword="null"/> when
    /// nothing is there, or off Linux.
    /// </summary>
    /// <param name="logger">Logs a lost lease.</param>
    /// <param name="name">The entry.</param>
    /// <param name="withTimes">
    /// <see langword="false"/> for a file this owner writes in place: the times are then not asked for
    /// (<see cref="LibC.LstatWithoutTimes"/> says why).
    /// </param>
    /// <exception cref="CheckpointException">The stat failed otherwise.</exception>
    public FileStatus? StatEntry(ILogger logger, string name, bool withTimes = true)
    {
        if (!LibC.IsSupported)
        {
            return null;
        }

        var directory = DirectoryDescriptor(logger);
        var errno = withTimes ? LibC.LstatAt(directory, name, out var status) : LibC.LstatAtWithoutTimes(directory, name, out status);
        return errno switch
        {
            0 => status,
            LibC.ENOENT => null,
            _ => throw SafeFile.Failure(errno, Path.Combine(Directory, name), "stat"),
        };
    }

    /// <summary>
    /// <see cref="StatEntry"/> of a file this owner has just written, to remember it; unknown (<see langword="null"/>,
    /// so nothing is remembered and the next load reads the directory again) when the stat fails.
    /// </summary>
    public FileStatus? StatEntryAfterWrite(ILogger logger, string name)
    {
        try
        {
            return StatEntry(logger, name);
        }
        catch (CheckpointException)
        {
            return null;
        }
    }

    private CheckpointException Lose(ILogger logger, string reason)
    {
        Interlocked.CompareExchange(ref _lostReason, reason, null);
        Log.LeaseLost(logger, Directory, reason);
        return LeaseLost(LostReason!);
    }

    /// <summary>
    /// fsyncs the owned directory through a descriptor held for the lease's lifetime (opened at the first call, and
    /// refused unless it is the directory this lease locked), instead of an open, fsync and close per write. The
    /// descriptor also sees every writeback error of the directory since the previous fsync, where a fresh one sees
    /// only errors nobody has reported yet. Callers hold <see cref="WriteGate"/>. Off Linux nothing is flushed, as in
    /// <see cref="DurableFile.FsyncDirectory(string, string?)"/>.
    /// </summary>
    /// <param name="logger">Logs a lost lease.</param>
    /// <param name="changedPath">The entry whose rename is made durable, for the error message.</param>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.WriteFailed"/> when the fsync fails; <see cref="CheckpointErrorCode.LeaseLost"/> when the directory is not the locked one.</exception>
    public void FsyncDirectory(ILogger logger, string changedPath)
    {
        if (!LibC.IsSupported)
        {
            return;
        }

        DurableFile.FsyncDirectory(DirectoryDescriptor(logger), Directory, changedPath);
    }

    private int DirectoryDescriptor(ILogger logger)
    {
        if (_directoryHandle is { } open)
        {
            return FdOf(open);
        }

        var fd = LibC.OpenDirectory(Directory);
        if (fd < 0)
        {
            throw SafeFile.Failure(-fd, Directory, "open the checkpoint directory");
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            if (!SafeFile.Stat(handle, Directory).SameFileAs(_directory))
            {
                throw Lose(logger, $"the directory at '{Directory}' is no longer the one this process opened (it was moved, replaced or removed)");
            }
        }
        catch
        {
            handle.Dispose();
            throw;
        }

        _directoryHandle = handle;
        return fd;
    }

    private CheckpointException LeaseLost(string reason) => new(
        CheckpointErrorCode.LeaseLost,
        $"This process lost the owner lease of '{Directory}': {reason}. Another process may own the directory now, so this one writes nothing more. Stop this consumer, check which process owns the directory (cdc-checkpoint lease '{Directory}'), and restart it; never delete the lease file of a running owner.")
    { Path = Path.Combine(Directory, FileName) };

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
            _directoryHandle?.Dispose();
            WriteGate.Dispose();
        }

        Log.LeaseReleased(logger, Directory);
    }

    private static int FdOf(SafeFileHandle handle) => (int)handle.DangerousGetHandle();
}
