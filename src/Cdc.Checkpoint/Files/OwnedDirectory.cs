using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.Offsets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cdc.Checkpoint.Files;

/// <summary>
/// The checkpoint directory a local store owns (<see cref="FileCheckpoint"/>, <see cref="CheckpointLog"/>): the part
/// both stores share. It makes sure the directory exists (created 0700 only when asked), takes the owner lease at the
/// first operation and claims the directory for one kind of store, holds the lease until the store is disposed, and
/// words the refusals every save of either store makes the same way (a file changed behind the owner's back, a second
/// source family, the last write sequence, the outcome's log line and metric).
/// </summary>
/// <remarks>
/// The lease itself (the kernel lock, the held directory descriptor, the proof that it is still held) is
/// <see cref="OwnerLease"/>; what a store caches about the directory lives in <see cref="OwnerLease.SharedState"/>, so
/// every instance of the process on one directory sees the same state under the lease's write gate.
/// </remarks>
internal sealed class OwnedDirectory
{
    private readonly object _store;
    private readonly bool _createDirectory;
    private readonly string _storeTag;
    private readonly Action<OwnerLease> _claim;
    private readonly Lock _gate = new();
    private OwnerLease? _lease;
    private bool _disposed;

    /// <param name="store">The store that owns this part (named by <see cref="ObjectDisposedException"/>).</param>
    /// <param name="directory">The full path of the checkpoint directory.</param>
    /// <param name="createDirectory">Create a missing directory (mode 0700) instead of refusing it.</param>
    /// <param name="storeTag">The store's <c>store</c> metric tag (<c>file</c>, <c>log</c>).</param>
    /// <param name="claim">
    /// Runs once per instance with the freshly taken lease, under the lease's lock, before the lease is handed out: it
    /// refuses a directory that belongs to another kind of store (the lease is then released) and sets up the store's
    /// <see cref="OwnerLease.SharedState"/>.
    /// </param>
    /// <param name="logger">The store's logger.</param>
    /// <param name="timeProvider">The store's clock.</param>
    public OwnedDirectory(object store, string directory, bool createDirectory, string storeTag, Action<OwnerLease> claim, ILogger logger, TimeProvider timeProvider)
    {
        _store = store;
        Path = directory;
        _createDirectory = createDirectory;
        _storeTag = storeTag;
        _claim = claim;
        Logger = logger;
        TimeProvider = timeProvider;
    }

    /// <summary>The part of <paramref name="store"/>, with the store's public constructor's defaults applied.</summary>
    /// <param name="store">The store (its type names the logger's category).</param>
    /// <param name="directory">The directory as the user gave it (made a full path here).</param>
    /// <param name="createDirectory">Create a missing directory (mode 0700) instead of refusing it.</param>
    /// <param name="storeTag">The store's <c>store</c> metric tag.</param>
    /// <param name="claim">See the constructor.</param>
    /// <param name="loggerFactory">The user's logger factory; no logging when <see langword="null"/>.</param>
    /// <param name="timeProvider">The user's clock; the system clock when <see langword="null"/>.</param>
    public static OwnedDirectory For<TStore>(TStore store, string directory, bool createDirectory, string storeTag, Action<OwnerLease> claim, ILoggerFactory? loggerFactory, TimeProvider? timeProvider)
        where TStore : class => new(
            store,
            System.IO.Path.GetFullPath(directory),
            createDirectory,
            storeTag,
            claim,
            (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<TStore>(),
            timeProvider ?? TimeProvider.System);

    /// <summary>The full path of the checkpoint directory.</summary>
    public string Path { get; }

    public ILogger Logger { get; }

    public TimeProvider TimeProvider { get; }

    /// <summary>The owner lease this instance holds, or <see langword="null"/> before the first operation.</summary>
    public LeaseInfo? Lease
    {
        get
        {
            lock (_gate)
            {
                return _lease?.Info;
            }
        }
    }

    /// <summary>The owner lease, taken (and the directory claimed) at the first call.</summary>
    /// <exception cref="ObjectDisposedException">The store is disposed.</exception>
    /// <exception cref="CheckpointException">The directory is missing, shared, owned by another process or by another kind of store.</exception>
    public OwnerLease EnsureLease()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, _store);
            if (_lease is not null)
            {
                return _lease;
            }

            EnsureDirectory(Path, _createDirectory);
            var lease = OwnerLease.Acquire(Path, Logger, TimeProvider);
            try
            {
                lock (lease)
                {
                    _claim(lease);
                }
            }
            catch
            {
                lease.Release(Logger);
                throw;
            }

            _lease = lease;
            return lease;
        }
    }

    /// <summary>The store's <c>AcquireLeaseAsync</c>: errors and cancellation through the returned task.</summary>
    public ValueTask<LeaseInfo> AcquireLeaseAsync(CancellationToken cancellationToken)
    {
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            return ValueTask.FromResult(EnsureLease().Info);
        }
        catch (Exception ex)
        {
            return SyncWork.Failed<LeaseInfo>(ex, cancellationToken);
        }
    }

    /// <summary>
    /// Gives this instance's share of the lease back (the lock is dropped when the last instance of the process on the
    /// directory goes). <paramref name="leaving"/> runs first with the lease, for the store's own clean-up.
    /// </summary>
    public void Dispose(Action<OwnerLease>? leaving = null)
    {
        OwnerLease? lease;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            lease = _lease;
            _lease = null;
        }

        if (lease is not null)
        {
            leaving?.Invoke(lease);
            lease.Release(Logger);
        }
    }

    /// <summary>Makes sure a checkpoint directory exists: creates it (0700) only when asked to, never silently starts elsewhere.</summary>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.DirectoryNotFound"/>.</exception>
    public static void EnsureDirectory(string directory, bool create)
    {
        if (Directory.Exists(directory))
        {
            return;
        }

        if (File.Exists(directory))
        {
            throw new CheckpointException(
                CheckpointErrorCode.DirectoryNotFound,
                $"Checkpoint path '{directory}' is a file, not a directory. Point the checkpoint at a directory of its own.")
            { Path = directory };
        }

        var parent = System.IO.Path.GetDirectoryName(directory);
        if (create && Directory.Exists(parent))
        {
            DurableFile.CreatePrivateDirectory(directory);
            DurableFile.FsyncDirectory(parent);
            return;
        }

        throw new CheckpointException(
            CheckpointErrorCode.DirectoryNotFound,
            $"Checkpoint directory '{directory}' does not exist. Create it (mkdir -m 700 '{directory}') or set the options' CreateDirectory; a consumer never starts from the beginning because its directory is missing.")
        { Path = directory };
    }

    /// <summary>
    /// The refusal of a directory claimed by, or holding the files of, the other kind of store: a store there would
    /// start from nothing.
    /// </summary>
    public CheckpointException WrongKind(string kind, string why, string fix) => new(
        CheckpointErrorCode.Misconfigured,
        $"'{Path}' cannot hold a {kind}: {why}. {fix}")
    { Path = Path };

    /// <summary>
    /// Refuses a file that is not what this owner last read or wrote: someone wrote the directory without its lease, so
    /// neither its value nor the owner's may be trusted. Every later load and save fails the same way until the process
    /// restarts (a new process has no memory to compare with, and takes the directory as it finds it).
    /// </summary>
    /// <param name="lease">The lease that remembers the file.</param>
    /// <param name="path">The file.</param>
    /// <param name="now">What the file looks like now; <see langword="null"/> when it is missing.</param>
    /// <param name="expectedToExist">The owner knows the file exists (an unknown file appearing is then no change).</param>
    /// <param name="what">The file in words, e.g. "Checkpoint record".</param>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.ModifiedExternally"/>.</exception>
    public void RefuseIfChanged(OwnerLease lease, string path, FileStatus? now, bool expectedToExist, string what)
    {
        var reason = LibC.IsSupported ? lease.ChangedBehindOurBack(path, now, expectedToExist) : null;
        if (reason is not null)
        {
            throw ModifiedExternally(path, what, reason);
        }
    }

    /// <summary>The <see cref="CheckpointErrorCode.ModifiedExternally"/> refusal of <paramref name="path"/>, logged.</summary>
    public CheckpointException ModifiedExternally(string path, string what, string reason)
    {
        Log.ModifiedExternally(Logger, path, reason);
        return new CheckpointException(
            CheckpointErrorCode.ModifiedExternally,
            $"{what} '{path}' was changed by another writer since this process last read or wrote it ({reason}); it was neither used nor overwritten. A process writes '{Path}' without holding its lease: stop it, decide which state is right (cdc-checkpoint inspect), then restart this consumer.")
        { Path = path };
    }

    /// <summary>Refuses to save an offset of another source family than the records the directory holds.</summary>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.MixedSourceFamilies"/>.</exception>
    public void RefuseMixedFamily(IEnumerable<CheckpointRecord> records, CheckpointOffset offset)
    {
        foreach (var record in records)
        {
            if (!string.Equals(SourceTypeName.FamilyOf(record.SourceType), offset.SourceFamily, StringComparison.Ordinal))
            {
                throw new CheckpointException(
                    CheckpointErrorCode.MixedSourceFamilies,
                    $"Refusing to save a {offset.SourceType} checkpoint in '{Path}': it already holds a {record.SourceType} record. Use one directory per source family.")
                { Path = Path };
            }
        }
    }

    /// <summary>The write sequence after <paramref name="maxSequence"/>: sequences only grow, so at the maximum nothing more is written.</summary>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.LimitReached"/>.</exception>
    public ulong NextSequence(ulong maxSequence, string path) => maxSequence < ulong.MaxValue
        ? maxSequence + 1
        : throw new CheckpointException(
            CheckpointErrorCode.LimitReached,
            $"The checkpoint in '{Path}' has write sequence {maxSequence}, the largest possible; sequences never wrap, so '{path}' was not written. No checkpoint written by this library gets there: check it (cdc-checkpoint inspect) and re-seed the position into a fresh directory.")
        { Path = path };

    /// <summary>A save that was refused before anything was written: logged as such and counted with its error.</summary>
    public void SaveRefused(string sourceType, long started, CheckpointException exception)
    {
        Log.SaveRefused(Logger, sourceType, exception.Message);
        CheckpointMetrics.RecordSave(_storeTag, sourceType, started, exception.ErrorCode);
    }

    /// <summary>A save whose write failed: logged as such and counted with its error.</summary>
    public void SaveFailed(string sourceType, long started, CheckpointException exception)
    {
        Log.SaveFailed(Logger, sourceType, exception.Message);
        CheckpointMetrics.RecordSave(_storeTag, sourceType, started, exception.ErrorCode);
    }

    /// <summary>A save that had nothing to write (the same position again).</summary>
    public void SaveRepeated(string sourceType, long started) => CheckpointMetrics.RecordSave(_storeTag, sourceType, started, null);

    /// <summary>A durable save or rewind: counted, and logged (a rewind with its reason and the position it replaced).</summary>
    public void Saved(CheckpointOffset offset, ulong committedEventCount, string path, long started, string? reason, CheckpointRecord? existing)
    {
        CheckpointMetrics.RecordSave(_storeTag, offset.SourceType, started, null);
        if (reason is null)
        {
            Log.CheckpointSaved(Logger, offset.SourceType, offset, committedEventCount, path);
        }
        else
        {
            Log.CheckpointRewound(Logger, offset.SourceType, existing?.Offset, existing?.CommittedEventCount, offset, committedEventCount, reason);
        }
    }

    /// <summary>Appends a rewind or reset line to the directory's audit log, before the change it records is written.</summary>
    public void Audit(string action, string sourceType, CheckpointRecord? existing, string newText, string reason) =>
        AuditLog.Append(Path, FileCheckpoint.AuditLogFileName, AuditLog.FormatLine(TimeProvider, action, sourceType, existing, newText, reason));

    /// <summary>
    /// lstat of <paramref name="path"/> (Linux); <see langword="null"/> when it is missing or off Linux. Without the times
    /// (<paramref name="withTimes"/> <see langword="false"/>) for a file this process writes in place: see
    /// <see cref="LibC.LstatWithoutTimes"/>.
    /// </summary>
    /// <exception cref="CheckpointException">The stat failed otherwise.</exception>
    public static FileStatus? StatNow(string path, bool withTimes)
    {
        if (!LibC.IsSupported)
        {
            return null;
        }

        var errno = withTimes ? LibC.Lstat(path, out var status) : LibC.LstatWithoutTimes(path, out status);
        return errno switch
        {
            0 => status,
            LibC.ENOENT => null,
            _ => throw SafeFile.Failure(errno, path, "stat"),
        };
    }

    /// <summary>The file as this owner just wrote it; unknown (nothing remembered) when the stat fails.</summary>
    public static FileStatus? StatAfterWrite(string path) =>
        LibC.IsSupported && LibC.Lstat(path, out var status) == 0 ? status : null;
}
