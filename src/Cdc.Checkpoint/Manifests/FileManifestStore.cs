using System.Collections.Immutable;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Leasing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cdc.Checkpoint.Manifests;

/// <summary>
/// A manifest store in a directory:
/// <c>&lt;root&gt;/checkpoints/checkpoint_000001/manifest.json</c>, an optional <c>state.bin</c> sidecar next to it,
/// and <c>&lt;root&gt;/checkpoints/latest</c> holding the id of the latest checkpoint as text.
/// </summary>
/// <remarks>
/// <para>
/// Every file is written with <c>DurableFile</c> (temp file 0600 → fsync → rename → fsync directory); directories are
/// created 0700 and their parent fsynced. A save writes the sidecar, then the manifest (both no-replace: an existing
/// file is never overwritten), then the pointer, which never moves back to an older id. Reads never follow a
/// symbolic link, refuse files readable by group or other, and cap sizes.
/// </para>
/// <para>
/// One writer process per store: the first write (save, sink-status update, prune, orphan cleanup) takes the owner
/// lease of <see cref="RootDirectory"/> — the lease of <c>FileCheckpoint</c>, the same <c>.cdc-checkpoint.lease</c> file
/// and epoch — and holds it until the store is disposed (or the process ends); another process's write fails with
/// <see cref="CheckpointErrorCode.LeaseHeld"/>. Reads (load, list, validate, recover) never take it. Even writers
/// that bypass the lease cannot invalidate an acknowledged checkpoint: the sidecar is created no-replace and checked
/// against the checksum its manifest records after the manifest is in place, so of two writers racing for an id one
/// wins and the other gets <see cref="CheckpointErrorCode.ConflictingOffset"/>.
/// </para>
/// <para>
/// Thread-safe: writes are serialized inside the process; reads run concurrently with them and see either the old or
/// the new file.
/// </para>
/// </remarks>
public sealed class FileManifestStore : IManifestStore, IDisposable, IAsyncDisposable
{
    /// <summary>The sub-directory of the root that holds the checkpoints.</summary>
    public const string CheckpointsDirectoryName = "checkpoints";

    /// <summary>The latest-pointer file name, inside <see cref="CheckpointsDirectoryName"/>.</summary>
    public const string LatestPointerFileName = "latest";

    /// <summary>The name of the manifest file in each checkpoint directory.</summary>
    public const string ManifestFileName = ManifestFormat.FileName;

    private readonly FileManifestStoreOptions _options;
    private readonly ILogger _logger;
    private readonly FileManifestObjects _objects;
    private readonly FileManifestRetention _retention;
    private readonly FileManifestWriter _writer;

    private readonly SemaphoreSlim _writeLock = new(1, 1);

    // Taken by the first write, under _writeLock; released by Dispose.
    private OwnerLease? _lease;
    private bool _disposed;

    /// <summary>Creates a store rooted at <paramref name="rootDirectory"/>; nothing is created until the first save.</summary>
    /// <param name="rootDirectory">The root; it is created (0700) on the first save if its parent exists.</param>
    /// <param name="options">Options, or <see langword="null"/> for the defaults.</param>
    /// <param name="loggerFactory">Logger factory, or <see langword="null"/> for none.</param>
    /// <exception cref="ArgumentException"><paramref name="rootDirectory"/> is empty.</exception>
    public FileManifestStore(string rootDirectory, FileManifestStoreOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(rootDirectory);
        _options = options ?? new FileManifestStoreOptions();
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<FileManifestStore>();
        _objects = new FileManifestObjects(Path.GetFullPath(rootDirectory), _options, _logger);
        _retention = new FileManifestRetention(_objects, _logger);
        _writer = new FileManifestWriter(_objects, _retention, _logger);
    }

    /// <summary>The root directory.</summary>
    public string RootDirectory => _objects.RootDirectory;

    /// <summary>The directory holding the checkpoint directories and the latest pointer.</summary>
    public string CheckpointsDirectory => _objects.CheckpointsDirectory;

    /// <summary>The latest-pointer file.</summary>
    public string LatestPointerPath => _objects.LatestPointerPath;

    /// <summary>The options.</summary>
    public FileManifestStoreOptions Options => _options;

    /// <summary>The directory of checkpoint <paramref name="checkpointId"/> (<c>checkpoint_000042</c>), whether or not it exists.</summary>
    /// <param name="checkpointId">The id, at least 1.</param>
    /// <returns>The path.</returns>
    public string GetCheckpointDirectory(ulong checkpointId)
    {
        ArgumentOutOfRangeException.ThrowIfZero(checkpointId);
        return _objects.DirectoryOf(checkpointId);
    }

    /// <inheritdoc />
    public async ValueTask<CheckpointManifest> SaveAsync(CheckpointManifest manifest, ReadOnlyMemory<byte> sidecar = default, CancellationToken cancellationToken = default)
    {
        // Describe the sidecar first so the whole manifest (including its state ranges) is checked before anything is written.
        var (toWrite, bytes) = _objects.PrepareSave(manifest, sidecar.Span);

        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        OwnerLease? lease = null;
        try
        {
            var start = Stopwatch.GetTimestamp();
            try
            {
                _writer.EnsureCheckpointsDirectory();
                lease = await BeginWriteLockedAsync(cancellationToken).ConfigureAwait(false);
                _writer.Save(toWrite, bytes, sidecar.Span, lease);
                ManifestMetrics.RecordWrite(start, null);
            }
            catch (CheckpointException ex)
            {
                ManifestMetrics.RecordWrite(start, ex.ErrorCode);
                throw;
            }

            if (_options.RetainCount > 0)
            {
                try
                {
                    _retention.Prune(_options.RetainCount);
                }
                catch (Exception ex) when (ex is CheckpointException or IOException or UnauthorizedAccessException)
                {
                    // The checkpoint is durable; failing to remove old ones must not turn the save into a failure.
                    Log.PruneFailed(_logger, CheckpointsDirectory, ex.Message);
                }
            }

            return toWrite;
        }
        finally
        {
            lease?.WriteGate.Release();
            _writeLock.Release();
        }
    }

    /// <summary>Releases this store's share of the owner lease (the process keeps it while another store or checkpoint on the root holds it).</summary>
    public void Dispose()
    {
        _disposed = true;
        Interlocked.Exchange(ref _lease, null)?.Release(_logger);
    }

    /// <inheritdoc cref="Dispose"/>
    /// <returns>A completed task.</returns>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Under <see cref="_writeLock"/>: takes the owner lease of the root on the first write, enters the process-wide
    /// write gate of the root and proves the lease is still held. Returns <see langword="null"/> when there is nothing to
    /// lease yet (no root directory: nothing to write either) or for the race test that bypasses it.
    /// </summary>
    private async ValueTask<OwnerLease?> BeginWriteLockedAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_options.WithoutOwnerLeaseForTests || !Directory.Exists(RootDirectory))
        {
            return null;
        }

        var lease = _lease ??= OwnerLease.Acquire(RootDirectory, _logger, TimeProvider.System);
        await lease.WriteGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            lease.EnsureHeld(_logger);
            return lease;
        }
        catch
        {
            lease.WriteGate.Release();
            throw;
        }
    }

    /// <inheritdoc />
    public ValueTask<CheckpointManifest?> LoadLatestAsync(CancellationToken cancellationToken = default) =>
        Guard(ct => _objects.LoadLatestAsync(ct), cancellationToken);

    /// <inheritdoc />
    public ValueTask<CheckpointManifest?> LoadAsync(ulong checkpointId, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(checkpointId);
        return Guard(ct => _objects.LoadAsync(checkpointId, ct), cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<ManifestListEntry>> ListAsync(CancellationToken cancellationToken = default) =>
        Guard(ct => _objects.ListAsync(ct), cancellationToken);

    /// <inheritdoc />
    public async ValueTask<int> PruneAsync(int keep, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keep, 1);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        OwnerLease? lease = null;
        try
        {
            lease = await BeginWriteLockedAsync(cancellationToken).ConfigureAwait(false);
            return _retention.Prune(keep);
        }
        finally
        {
            lease?.WriteGate.Release();
            _writeLock.Release();
        }
    }

    /// <inheritdoc />
    public ValueTask<byte[]?> LoadSidecarAsync(ulong checkpointId, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(checkpointId);
        return Guard(ct => _objects.LoadSidecarAsync(checkpointId, ct), cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<ImmutableSortedDictionary<string, ReadOnlyMemory<byte>>> LoadOperatorStatesAsync(CheckpointManifest manifest, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        return Guard(ct => _objects.LoadOperatorStatesAsync(manifest, ct), cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<CheckpointManifest> UpdateSinkStatusesAsync(ulong checkpointId, IReadOnlyDictionary<string, SinkCommitStatus> statuses, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(checkpointId);
        ArgumentNullException.ThrowIfNull(statuses);
        foreach (var (sink, status) in statuses)
        {
            ManifestNames.Validate(sink, "sink", nameof(statuses));
            ArgumentNullException.ThrowIfNull(status, nameof(statuses));
        }

        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        OwnerLease? lease = null;
        try
        {
            lease = await BeginWriteLockedAsync(cancellationToken).ConfigureAwait(false);
            var start = Stopwatch.GetTimestamp();
            var directory = GetCheckpointDirectory(checkpointId);
            var existing = _objects.Load(checkpointId) ?? throw new CheckpointException(
                CheckpointErrorCode.DirectoryNotFound,
                $"Cannot update sink statuses of checkpoint {checkpointId}: '{Path.Combine(directory, ManifestFormat.FileName)}' does not exist (pruned, or never saved). Update a checkpoint listed by ListAsync.")
            { Path = directory };
            var updated = existing.WithSinkCommitStatuses(existing.SinkCommitStatuses.SetItems(statuses));
            try
            {
                DurableFile.Replace(directory, ManifestFormat.FileName, ManifestFormat.Serialize(updated));
                ManifestMetrics.RecordWrite(start, null);
            }
            catch (CheckpointException ex)
            {
                ManifestMetrics.RecordWrite(start, ex.ErrorCode);
                throw;
            }

            if (_logger.IsEnabled(LogLevel.Information))
            {
                var described = string.Join(", ", statuses.Select(s => $"{s.Key}={s.Value.State}"));
                Log.SinkStatusesUpdated(_logger, checkpointId, described);
            }

            return updated;
        }
        finally
        {
            lease?.WriteGate.Release();
            _writeLock.Release();
        }
    }

    /// <inheritdoc />
    public ValueTask<ManifestValidationResult> ValidateAsync(ulong checkpointId, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(checkpointId);
        return Guard(ct => _objects.ValidateAsync(checkpointId, ct), cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<ManifestRecovery?> RecoverLatestValidAsync(CancellationToken cancellationToken = default) =>
        Guard(ct => _objects.RecoverLatestValidAsync(ct), cancellationToken);

    /// <inheritdoc />
    public async ValueTask<OrphanCleanupResult> CleanupOrphansAsync(CancellationToken cancellationToken = default)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        OwnerLease? lease = null;
        try
        {
            lease = await BeginWriteLockedAsync(cancellationToken).ConfigureAwait(false);
            return _retention.Cleanup();
        }
        finally
        {
            lease?.WriteGate.Release();
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Runs a read of the shared <see cref="ManifestObjects"/> part: its file reads are synchronous, so a failure is put
    /// into the returned task (see <c>SyncWork</c>) instead of being thrown from the call.
    /// </summary>
    private static ValueTask<T> Guard<T>(Func<CancellationToken, ValueTask<T>> read, CancellationToken cancellationToken)
    {
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            return read(cancellationToken);
        }
        catch (Exception ex)
        {
            return SyncWork.Failed<T>(ex, cancellationToken);
        }
    }

    internal static string DirectoryNameOf(ulong id) => FileManifestObjects.DirectoryNameOf(id);

    /// <summary>Parses <c>checkpoint_000042</c>; only the canonical spelling of an id ≥ 1 is accepted, so two names never alias one id.</summary>
    /// <summary>Whether <paramref name="name"/> is the canonical name of a checkpoint directory (<c>checkpoint_000042</c>), and of which id.</summary>
    /// <param name="name">A directory name (not a path) under <see cref="CheckpointsDirectory"/>.</param>
    /// <param name="id">The checkpoint id it names.</param>
    /// <returns><see langword="true"/> for a canonical name; the store ignores every other entry.</returns>
    public static bool TryParseDirectoryName(string name, out ulong id)
    {
        ArgumentNullException.ThrowIfNull(name);
        return FileManifestObjects.TryParseDirectoryName(name, out id);
    }

    /// <summary>
    /// Reads the latest pointer as recovery does, without changing it: the id it names, or what is wrong with it (recovery
    /// then scans the checkpoints instead); both <see langword="null"/> when there is no pointer.
    /// </summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The reading.</returns>
    /// <exception cref="CheckpointException">The pointer is a symbolic link, has insecure permissions or cannot be read.</exception>
    public ValueTask<LatestPointerReading> ReadLatestPointerAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(_objects.ReadPointer());
    }

    internal static string Sha256Hex(ReadOnlySpan<byte> data) => ManifestObjects.Sha256Hex(data);
}
