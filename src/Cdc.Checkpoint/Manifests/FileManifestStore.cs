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

    private const string DirectoryPrefix = "checkpoint_";
    private const long MaxPointerBytes = 64;

    private readonly FileManifestStoreOptions _options;
    private readonly ILogger _logger;

    private readonly SemaphoreSlim _writeLock = new(1, 1);

    // Ids this instance wrote or found usable: pruning trusts them without re-reading. Guarded by _writeLock.
    private readonly HashSet<ulong> _knownUsable = [];
    private bool _directoryReady;

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
        RootDirectory = Path.GetFullPath(rootDirectory);
        CheckpointsDirectory = Path.Combine(RootDirectory, CheckpointsDirectoryName);
        LatestPointerPath = Path.Combine(CheckpointsDirectory, LatestPointerFileName);
        _options = options ?? new FileManifestStoreOptions();
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<FileManifestStore>();
    }

    /// <summary>The root directory.</summary>
    public string RootDirectory { get; }

    /// <summary>The directory holding the checkpoint directories and the latest pointer.</summary>
    public string CheckpointsDirectory { get; }

    /// <summary>The latest-pointer file.</summary>
    public string LatestPointerPath { get; }

    /// <summary>The options.</summary>
    public FileManifestStoreOptions Options => _options;

    /// <summary>The directory of checkpoint <paramref name="checkpointId"/> (<c>checkpoint_000042</c>), whether or not it exists.</summary>
    /// <param name="checkpointId">The id, at least 1.</param>
    /// <returns>The path.</returns>
    public string GetCheckpointDirectory(ulong checkpointId)
    {
        ArgumentOutOfRangeException.ThrowIfZero(checkpointId);
        return Path.Combine(CheckpointsDirectory, DirectoryNameOf(checkpointId));
    }

    /// <inheritdoc />
    public async ValueTask<CheckpointManifest> SaveAsync(CheckpointManifest manifest, ReadOnlyMemory<byte> sidecar = default, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (sidecar.Length > _options.MaxSidecarBytes)
        {
            throw new ArgumentException($"The sidecar of checkpoint {manifest.CheckpointId} is {sidecar.Length} bytes, more than MaxSidecarBytes ({_options.MaxSidecarBytes}).", nameof(sidecar));
        }

        // Describe the sidecar first so the whole manifest (including its state ranges) is checked before anything is written.
        var toWrite = manifest.WithStateSidecar(sidecar.IsEmpty ? null : new StateSidecarInfo(Sha256Hex(sidecar.Span), sidecar.Length));
        var bytes = ManifestFormat.Serialize(toWrite);

        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        OwnerLease? lease = null;
        try
        {
            var start = Stopwatch.GetTimestamp();
            try
            {
                EnsureCheckpointsDirectoryLocked();
                lease = await BeginWriteLockedAsync(cancellationToken).ConfigureAwait(false);
                SaveLocked(toWrite, bytes, sidecar.Span, lease);
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
                    PruneLocked(_options.RetainCount);
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

    private void SaveLocked(CheckpointManifest manifest, byte[] manifestBytes, ReadOnlySpan<byte> sidecar, OwnerLease? lease)
    {
        _ = DurableFile.RefuseSharedDirectory(CheckpointsDirectory); // before the checkpoint's directory is created in it
        var id = manifest.CheckpointId;
        var directory = GetCheckpointDirectory(id);
        var manifestPath = Path.Combine(directory, ManifestFormat.FileName);
        if (Directory.Exists(directory))
        {
            RefuseLink(directory);
            if (EntryExists(manifestPath))
            {
                throw AlreadyExists(id, manifestPath);
            }
        }
        else
        {
            try
            {
                DurableFile.CreatePrivateDirectory(directory);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new CheckpointException(
                    CheckpointErrorCode.WriteFailed,
                    $"Could not create checkpoint directory '{directory}': {ex.Message}. Nothing was saved; check that '{CheckpointsDirectory}' is writable by this user.",
                    ex)
                { Path = directory };
            }

            DurableFile.FsyncDirectory(CheckpointsDirectory, directory);
        }

        // The sidecar is created no-replace, never renamed over: a writer racing for the same id (one that bypassed the
        // lease) could otherwise replace the sidecar of a manifest that was already acknowledged.
        var sidecarPath = Path.Combine(directory, StateSidecarInfo.FileName);
        if (!sidecar.IsEmpty)
        {
            if (!DurableFile.CreateNew(directory, StateSidecarInfo.FileName, sidecar) && !SidecarMatches(sidecarPath, manifest.StateSidecar!))
            {
                RemoveLeftoverSidecar(id, sidecarPath, lease);
                if (!DurableFile.CreateNew(directory, StateSidecarInfo.FileName, sidecar))
                {
                    throw SidecarConflict(id, sidecarPath);
                }
            }
        }
        else if (EntryExists(sidecarPath))
        {
            RemoveLeftoverSidecar(id, sidecarPath, lease);
        }

        if (!DurableFile.CreateNew(directory, ManifestFormat.FileName, manifestBytes))
        {
            throw AlreadyExists(id, manifestPath);
        }

        // Bound to its manifest: before the save is acknowledged, the sidecar in place must be the one the manifest names.
        if (manifest.StateSidecar is { } declared && !SidecarMatches(sidecarPath, declared))
        {
            throw new CheckpointException(
                CheckpointErrorCode.ConflictingOffset,
                $"Checkpoint {id} was written, but its state sidecar '{sidecarPath}' no longer holds the bytes its manifest records (sha256 {declared.Sha256}): another process is writing '{RootDirectory}' without the owner lease. The save failed; recovery skips that checkpoint as invalid. Stop the other writer.")
            { Path = sidecarPath };
        }

        _knownUsable.Add(id);
        Log.ManifestSaved(_logger, id, manifest.Epoch, manifest.SourceOffsets.Count, sidecar.Length, manifestPath);
        MoveLatestPointerLocked(id);
    }

    private void MoveLatestPointerLocked(ulong id)
    {
        ulong? pointer;
        try
        {
            pointer = ReadPointer().Id;
        }
        catch (CheckpointException ex) when (ex.ErrorCode is CheckpointErrorCode.Corrupt)
        {
            pointer = null;
        }

        if (pointer is { } latest && latest >= id)
        {
            if (latest > id)
            {
                Log.LatestPointerKept(_logger, id, latest);
            }

            return;
        }

        // A missing or unreadable pointer is rewritten, but never to an id older than a manifest already on disk: the
        // pointer could only have named a checkpoint that has one.
        var target = id;
        if (pointer is null && Scan().Where(d => d.HasManifest).Max(d => d.Id) is var newest && newest > id)
        {
            Log.LatestPointerKept(_logger, id, newest);
            target = newest;
        }

        DurableFile.Replace(CheckpointsDirectory, LatestPointerFileName, Encoding.ASCII.GetBytes(target.ToString(CultureInfo.InvariantCulture) + "\n"));
    }

    /// <inheritdoc />
    public ValueTask<CheckpointManifest?> LoadLatestAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            return new(LoadLatestCore());
        }
        catch (Exception ex)
        {
            return SyncWork.Failed<CheckpointManifest?>(ex, cancellationToken);
        }
    }

    private CheckpointManifest? LoadLatestCore()
    {
        var (pointer, problem) = ReadPointer();
        if (pointer is { } id)
        {
            var manifest = LoadCore(id);
            if (manifest is not null)
            {
                return manifest;
            }

            problem = $"names checkpoint {id}, which has no manifest";
        }

        if (problem is not null)
        {
            Log.LatestPointerInvalid(_logger, LatestPointerPath, problem);
        }

        var newest = Scan().LastOrDefault(d => d.HasManifest);
        return newest.Id == 0 ? null : LoadCore(newest.Id);
    }

    /// <inheritdoc />
    public ValueTask<CheckpointManifest?> LoadAsync(ulong checkpointId, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(checkpointId);
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            return new(LoadCore(checkpointId));
        }
        catch (Exception ex)
        {
            return SyncWork.Failed<CheckpointManifest?>(ex, cancellationToken);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<ManifestListEntry>> ListAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            return new(ListCore());
        }
        catch (Exception ex)
        {
            return SyncWork.Failed<IReadOnlyList<ManifestListEntry>>(ex, cancellationToken);
        }
    }

    private List<ManifestListEntry> ListCore()
    {
        var result = new List<ManifestListEntry>();
        foreach (var entry in Scan())
        {
            if (!entry.HasManifest)
            {
                continue;
            }

            try
            {
                var manifest = LoadCore(entry.Id);
                result.Add(manifest is null
                    ? new ManifestListEntry(entry.Id, null, null, "the manifest disappeared while listing (pruned?)")
                    : new ManifestListEntry(entry.Id, manifest.Epoch, manifest.CreatedAt, null));
            }
            catch (CheckpointException ex)
            {
                result.Add(new ManifestListEntry(entry.Id, null, null, ex.Message));
            }
        }

        return result;
    }

    /// <inheritdoc />
    public async ValueTask<int> PruneAsync(int keep, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keep, 1);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        OwnerLease? lease = null;
        try
        {
            lease = await BeginWriteLockedAsync(cancellationToken).ConfigureAwait(false);
            return PruneLocked(keep);
        }
        finally
        {
            lease?.WriteGate.Release();
            _writeLock.Release();
        }
    }

    private int PruneLocked(int keep)
    {
        var directories = Scan();
        var checkpoints = directories.Where(d => d.HasManifest).ToList();
        if (checkpoints.Count <= keep)
        {
            RemoveStaleLeftoversLocked(directories, checkpoints.Count == 0 ? 0 : checkpoints[0].Id);
            return 0;
        }

        ulong? pointer = null;
        try
        {
            pointer = ReadPointer().Id;
        }
        catch (CheckpointException)
        {
            // Without a trustworthy pointer, retention alone decides; the newest usable checkpoints are kept anyway.
        }

        // Walk from the newest: the boundary is the keep-th usable checkpoint. Damaged ones newer than it stay (they
        // do not count towards keep), so pruning can never leave only unusable checkpoints behind.
        var usable = 0;
        var boundary = -1;
        for (var i = checkpoints.Count - 1; i >= 0; i--)
        {
            if (IsUsableLocked(checkpoints[i].Id) && ++usable == keep)
            {
                boundary = i;
                break;
            }
        }

        var removed = 0;
        for (var i = 0; i < boundary; i++)
        {
            var (id, path, _) = checkpoints[i];
            if (id == pointer)
            {
                continue;
            }

            RemoveCheckpointDirectory(path, Path.Combine(path, ManifestFormat.FileName));
            _knownUsable.Remove(id);
            removed++;
            Log.CheckpointPruned(_logger, id, path);
        }

        RemoveStaleLeftoversLocked(directories, boundary >= 0 ? checkpoints[boundary].Id : checkpoints[0].Id);

        // No directory fsync: a removal that a crash undoes only brings back an old checkpoint (whole, or damaged and
        // then skipped by recovery), which the next prune removes again. It would cost every save one more fsync.
        return removed;
    }

    /// <summary>
    /// Removes what interrupted saves left behind and no start-up cleanup removed: checkpoint directories without a
    /// manifest older than <paramref name="oldestKept"/>, and temp files of the latest pointer. Without this, a writer
    /// that never calls <see cref="CleanupOrphansAsync"/> kept one more of them after every crash inside a save, for ever
    /// (found by the manifest crash torture, docs/RELIABILITY.md).
    /// </summary>
    /// <remarks>
    /// Unlike <see cref="CleanupOrphansAsync"/>, this is safe while the store is in use: it runs under the write lock,
    /// so no save of this process is in flight (the pointer is only written under that lock), and checkpoint ids only
    /// grow, so no save is in progress in a directory older than a checkpoint that is kept.
    /// </remarks>
    private void RemoveStaleLeftoversLocked(List<CheckpointDirectory> directories, ulong oldestKept)
    {
        foreach (var (id, path, hasManifest) in directories)
        {
            if (!hasManifest && id < oldestKept && Directory.Exists(path))
            {
                RemoveCheckpointDirectory(path, null);
                Log.OrphanCheckpointRemoved(_logger, path);
            }
        }

        foreach (var temp in Directory.EnumerateFiles(CheckpointsDirectory, LatestPointerFileName + ".*" + DurableFile.TempSuffix))
        {
            DurableFile.TryDelete(temp);
            Log.TempFileRemoved(_logger, temp);
        }
    }

    private bool IsUsableLocked(ulong id)
    {
        if (_knownUsable.Contains(id))
        {
            return true;
        }

        try
        {
            var manifest = LoadCore(id);
            if (manifest is null)
            {
                return false;
            }

            // A cheap check (no hashing): the sidecar, if any, exists with the recorded size.
            if (manifest.StateSidecar is { } sidecar)
            {
                var info = new FileInfo(Path.Combine(GetCheckpointDirectory(id), StateSidecarInfo.FileName));
                if (!info.Exists || info.LinkTarget is not null || info.Length != sidecar.SizeBytes)
                {
                    return false;
                }
            }

            _knownUsable.Add(id);
            return true;
        }
        catch (CheckpointException)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public ValueTask<byte[]?> LoadSidecarAsync(ulong checkpointId, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(checkpointId);
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            return new(LoadCore(checkpointId) is { } manifest ? ReadSidecar(manifest) : null);
        }
        catch (Exception ex)
        {
            return SyncWork.Failed<byte[]?>(ex, cancellationToken);
        }
    }

    /// <inheritdoc />
    public ValueTask<ImmutableSortedDictionary<string, ReadOnlyMemory<byte>>> LoadOperatorStatesAsync(CheckpointManifest manifest, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            return new(LoadOperatorStatesCore(manifest));
        }
        catch (Exception ex)
        {
            return SyncWork.Failed<ImmutableSortedDictionary<string, ReadOnlyMemory<byte>>>(ex, cancellationToken);
        }
    }

    private ImmutableSortedDictionary<string, ReadOnlyMemory<byte>> LoadOperatorStatesCore(CheckpointManifest manifest)
    {
        byte[]? sidecar = null;
        if (manifest.OperatorStates.Values.Any(s => s.IsInSidecar))
        {
            sidecar = ReadSidecar(manifest) ?? throw new CheckpointException(
                CheckpointErrorCode.Corrupt,
                $"Checkpoint {manifest.CheckpointId} keeps operator state in a sidecar but its manifest declares none; it cannot be restored from '{GetCheckpointDirectory(manifest.CheckpointId)}'.");
        }

        var builder = ImmutableSortedDictionary.CreateBuilder<string, ReadOnlyMemory<byte>>(StringComparer.Ordinal);
        foreach (var (name, state) in manifest.OperatorStates)
        {
            builder[name] = state.IsInSidecar
                ? sidecar.AsMemory((int)state.SidecarOffset, (int)state.SidecarLength)
                : state.Inline;
        }

        return builder.ToImmutable();
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
            var existing = LoadCore(checkpointId) ?? throw new CheckpointException(
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
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            return new(ValidateCore(checkpointId));
        }
        catch (Exception ex)
        {
            return SyncWork.Failed<ManifestValidationResult>(ex, cancellationToken);
        }
    }

    private ManifestValidationResult ValidateCore(ulong id)
    {
        var findings = ImmutableArray.CreateBuilder<ValidationFinding>();
        var directory = GetCheckpointDirectory(id);
        var manifestPath = Path.Combine(directory, ManifestFormat.FileName);
        CheckpointManifest? manifest;
        try
        {
            manifest = LoadCore(id);
        }
        catch (CheckpointException ex)
        {
            var prefix = ex.ErrorCode == CheckpointErrorCode.Corrupt ? "corrupt manifest: " : string.Empty;
            findings.Add(new ValidationFinding(ValidationSeverity.Fatal, prefix + ex.Message));
            return new ManifestValidationResult(id, findings.ToImmutable(), null);
        }

        if (manifest is null)
        {
            findings.Add(new ValidationFinding(ValidationSeverity.Fatal, $"manifest not found for checkpoint {id} ('{manifestPath}')"));
            return new ManifestValidationResult(id, findings.ToImmutable(), null);
        }

        var sidecarPath = Path.Combine(directory, StateSidecarInfo.FileName);
        if (manifest.StateSidecar is not null)
        {
            try
            {
                ReadSidecar(manifest);
            }
            catch (CheckpointException ex)
            {
                findings.Add(new ValidationFinding(ValidationSeverity.Fatal, ex.Message));
            }
        }
        else if (EntryExists(sidecarPath))
        {
            findings.Add(new ValidationFinding(ValidationSeverity.Warning, $"'{sidecarPath}' exists but the manifest declares no sidecar; it is ignored"));
        }

        foreach (var (sink, status) in manifest.SinkCommitStatuses)
        {
            switch (status.State)
            {
                case SinkCommitState.Pending:
                    findings.Add(new ValidationFinding(ValidationSeverity.Warning, $"sink '{sink}' has not confirmed its commit of checkpoint {id} (pending)"));
                    break;
                case SinkCommitState.Failed:
                    findings.Add(new ValidationFinding(ValidationSeverity.Warning, $"sink '{sink}' failed to commit checkpoint {id}: {status.FailureMessage ?? "no reason recorded"}"));
                    break;
            }
        }

        return new ManifestValidationResult(id, findings.ToImmutable(), manifest);
    }

    /// <inheritdoc />
    public ValueTask<ManifestRecovery?> RecoverLatestValidAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            return new(RecoverLatestValidCore(cancellationToken));
        }
        catch (Exception ex)
        {
            return SyncWork.Failed<ManifestRecovery?>(ex, cancellationToken);
        }
    }

    private ManifestRecovery? RecoverLatestValidCore(CancellationToken cancellationToken)
    {
        var directories = Scan();
        var checkpoints = directories.Where(d => d.HasManifest).Select(d => d.Id).ToList();
        var highest = directories.Count == 0 ? 0 : directories[^1].Id;

        ulong? pointer = null;
        try
        {
            var (id, problem) = ReadPointer();
            pointer = id;
            if (problem is not null)
            {
                Log.LatestPointerInvalid(_logger, LatestPointerPath, problem);
            }
        }
        catch (CheckpointException ex)
        {
            Log.LatestPointerInvalid(_logger, LatestPointerPath, ex.Message);
        }

        var skipped = ImmutableArray.CreateBuilder<SkippedCheckpoint>();
        if (pointer is { } named)
        {
            highest = Math.Max(highest, named);
            if (!checkpoints.Contains(named))
            {
                if (checkpoints.Count == 0)
                {
                    throw new CheckpointException(
                        CheckpointErrorCode.Corrupt,
                        $"The latest pointer '{LatestPointerPath}' names checkpoint {named}, but no checkpoint manifest is left in '{CheckpointsDirectory}': the checkpoint history was removed or lost. Nothing was recovered and this is not treated as a fresh start; restore the directory from a backup, or delete '{LatestPointerPath}' to start from scratch on purpose.")
                    { Path = LatestPointerPath };
                }

                var reason = $"the latest pointer names it but '{Path.Combine(GetCheckpointDirectory(named), ManifestFormat.FileName)}' does not exist";
                Log.InvalidCheckpointSkipped(_logger, named, reason);
                skipped.Add(new SkippedCheckpoint(named, reason));
            }
        }

        var examined = 0;
        for (var i = checkpoints.Count - 1; i >= 0; i--)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var id = checkpoints[i];
            examined++;
            var result = ValidateCore(id);
            if (result.IsValid)
            {
                Log.CheckpointRecovered(_logger, id, result.Manifest!.Epoch, CheckpointsDirectory, examined, skipped.Count);
                return new ManifestRecovery(
                    result.Manifest,
                    skipped.ToImmutable(),
                    result.Findings.Where(f => f.Severity == ValidationSeverity.Warning).ToImmutableArray(),
                    highest,
                    examined);
            }

            Log.InvalidCheckpointSkipped(_logger, id, result.FatalReason);
            skipped.Add(new SkippedCheckpoint(id, result.FatalReason));
        }

        if (checkpoints.Count == 0)
        {
            return null;
        }

        throw new CheckpointException(
            CheckpointErrorCode.Corrupt,
            $"None of the {checkpoints.Count} checkpoints in '{CheckpointsDirectory}' is valid, so nothing can be recovered (this is not a fresh start): {string.Join("; ", skipped.Select(s => $"checkpoint {s.CheckpointId}: {s.Reason}"))}. Restore a checkpoint directory from a backup, or move '{CheckpointsDirectory}' away to start from scratch on purpose.")
        { Path = CheckpointsDirectory };
    }

    /// <inheritdoc />
    public async ValueTask<OrphanCleanupResult> CleanupOrphansAsync(CancellationToken cancellationToken = default)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        OwnerLease? lease = null;
        try
        {
            lease = await BeginWriteLockedAsync(cancellationToken).ConfigureAwait(false);
            return CleanupLocked();
        }
        finally
        {
            lease?.WriteGate.Release();
            _writeLock.Release();
        }
    }

    private OrphanCleanupResult CleanupLocked()
    {
        var directories = Scan();
        ulong latest = 0;
        foreach (var d in directories)
        {
            if (d.HasManifest)
            {
                latest = Math.Max(latest, d.Id);
            }
        }

        try
        {
            latest = Math.Max(latest, ReadPointer().Id ?? 0);
        }
        catch (CheckpointException)
        {
            // Only the manifests decide then.
        }

        var removedDirectories = ImmutableArray.CreateBuilder<ulong>();
        var removedTemps = ImmutableArray.CreateBuilder<string>();
        RemoveTempFiles(CheckpointsDirectory, removedTemps);
        foreach (var (id, path, hasManifest) in directories)
        {
            if (!hasManifest && id < latest)
            {
                // Older than the latest checkpoint and without a manifest: a save that never completed. A newer one
                // could be a save still in progress in another process, so it is left alone.
                RemoveCheckpointDirectory(path, null);
                removedDirectories.Add(id);
                Log.OrphanCheckpointRemoved(_logger, path);
            }
            else
            {
                RemoveTempFiles(path, removedTemps);
            }
        }

        if (removedDirectories.Count > 0 || removedTemps.Count > 0)
        {
            DurableFile.FsyncDirectory(CheckpointsDirectory);
        }

        return new OrphanCleanupResult(removedDirectories.ToImmutable(), removedTemps.ToImmutable());
    }

    private void RemoveTempFiles(string directory, ImmutableArray<string>.Builder removed)
    {
        if (!Directory.Exists(directory))
        {
            return;
        }

        foreach (var file in Directory.EnumerateFiles(directory, "*" + DurableFile.TempSuffix))
        {
            DurableFile.TryDelete(file);
            if (!EntryExists(file))
            {
                removed.Add(file);
                Log.TempFileRemoved(_logger, file);
            }
        }
    }

    private CheckpointManifest? LoadCore(ulong id)
    {
        var directory = GetCheckpointDirectory(id);
        RefuseLink(CheckpointsDirectory);
        RefuseLink(directory);
        var path = Path.Combine(directory, ManifestFormat.FileName);
        var bytes = ReadFile(path, _options.MaxManifestBytes);
        if (bytes is null)
        {
            return null;
        }

        var manifest = ManifestFormat.Parse(bytes, path, _options.Codecs, id);
        Log.ManifestLoaded(_logger, id, manifest.Epoch, path);
        return manifest;
    }

    /// <summary>Reads and verifies the sidecar a manifest declares, or returns <see langword="null"/> when it declares none.</summary>
    private byte[]? ReadSidecar(CheckpointManifest manifest)
    {
        if (manifest.StateSidecar is not { } info)
        {
            return null;
        }

        var path = Path.Combine(GetCheckpointDirectory(manifest.CheckpointId), StateSidecarInfo.FileName);
        const string Fix = "The checkpoint cannot be used; recovery falls back to an older one, or restore the checkpoint directory from a backup.";
        byte[]? bytes;
        try
        {
            bytes = ReadFile(path, Math.Min(info.SizeBytes, _options.MaxSidecarBytes));
        }
        catch (CheckpointException ex) when (ex.ErrorCode == CheckpointErrorCode.RecordTooLarge)
        {
            throw new CheckpointException(
                CheckpointErrorCode.Corrupt,
                $"state sidecar '{path}' size mismatch: it is larger than the {info.SizeBytes} bytes the manifest of checkpoint {manifest.CheckpointId} records (or than MaxSidecarBytes). {Fix}",
                ex)
            { Path = path };
        }

        if (bytes is null)
        {
            throw new CheckpointException(
                CheckpointErrorCode.Corrupt,
                $"state sidecar '{path}' referenced by the manifest of checkpoint {manifest.CheckpointId} (sha256 {info.Sha256}) was not found. {Fix}")
            { Path = path };
        }

        if (bytes.LongLength != info.SizeBytes)
        {
            throw new CheckpointException(
                CheckpointErrorCode.Corrupt,
                $"state sidecar '{path}' size mismatch: the manifest of checkpoint {manifest.CheckpointId} records {info.SizeBytes} bytes, the file has {bytes.LongLength}. {Fix}")
            { Path = path };
        }

        var actual = Sha256Hex(bytes);
        if (!string.Equals(actual, info.Sha256, StringComparison.Ordinal))
        {
            throw new CheckpointException(
                CheckpointErrorCode.Corrupt,
                $"state sidecar '{path}' checksum mismatch: the manifest of checkpoint {manifest.CheckpointId} records sha256 {info.Sha256}, the file has {actual}. {Fix}")
            { Path = path };
        }

        return bytes;
    }

    /// <summary><c>DurableFile.ReadPrivate</c>, with I/O errors (EIO, a vanished directory) reported as <see cref="CheckpointException"/>.</summary>
    private static byte[]? ReadFile(string path, long maxBytes)
    {
        try
        {
            // Not SafeFile.Rules.SingleLink: a manifest is published with link(2) and then loses its temp name, so for an
            // instant it has two; the store never writes through an existing file, so a second name redirects nothing.
            return SafeFile.ReadAll(path, maxBytes, SafeFile.Rules.Private | SafeFile.Rules.OwnedByUser);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(
                CheckpointErrorCode.ReadFailed,
                $"Could not read '{path}': {ex.Message}. The checkpoint cannot be used until it is readable; check the disk and the file's owner.",
                ex)
            { Path = path };
        }
    }

    /// <summary>Reads the latest pointer: its id, or the problem with it; (null, null) when there is none.</summary>
    /// <exception cref="CheckpointException">The pointer is a link or has insecure permissions.</exception>
    private (ulong? Id, string? Problem) ReadPointer()
    {
        byte[]? bytes;
        try
        {
            bytes = ReadFile(LatestPointerPath, MaxPointerBytes);
        }
        catch (CheckpointException ex) when (ex.ErrorCode == CheckpointErrorCode.RecordTooLarge)
        {
            return (null, $"is larger than {MaxPointerBytes} bytes, so it is not a pointer written by this library");
        }

        if (bytes is null)
        {
            return (null, null);
        }

        var text = Encoding.ASCII.GetString(bytes).Trim();
        if (text.Length == 0)
        {
            return (null, "is empty");
        }

        return text.Length <= 20 && text.All(char.IsAsciiDigit) && ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0
            ? (id, null)
            : (null, $"holds '{(text.Length > 40 ? text[..40] + "…" : text)}', which is not a checkpoint id");
    }

    private void EnsureCheckpointsDirectoryLocked()
    {
        if (_directoryReady && Directory.Exists(CheckpointsDirectory))
        {
            return;
        }

        try
        {
            if (!Directory.Exists(RootDirectory))
            {
                var parent = Path.GetDirectoryName(RootDirectory);
                if (parent is null || !Directory.Exists(parent))
                {
                    throw new CheckpointException(
                        CheckpointErrorCode.DirectoryNotFound,
                        $"Cannot create the manifest store directory '{RootDirectory}': its parent '{parent}' does not exist. Create the parent directory or fix the path.")
                    { Path = RootDirectory };
                }

                DurableFile.CreatePrivateDirectory(RootDirectory);
                DurableFile.FsyncDirectory(parent, RootDirectory);
            }

            if (!Directory.Exists(CheckpointsDirectory))
            {
                DurableFile.CreatePrivateDirectory(CheckpointsDirectory);
                DurableFile.FsyncDirectory(RootDirectory, CheckpointsDirectory);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(
                CheckpointErrorCode.WriteFailed,
                $"Could not create '{CheckpointsDirectory}': {ex.Message}. Check that '{RootDirectory}' is writable by this user.",
                ex)
            { Path = CheckpointsDirectory };
        }

        RefuseLink(CheckpointsDirectory);
        _directoryReady = true;
    }

    /// <summary>The checkpoint directories, ascending by id; names that are not canonical checkpoint names and links are ignored.</summary>
    private List<CheckpointDirectory> Scan()
    {
        var result = new List<CheckpointDirectory>();
        if (!Directory.Exists(CheckpointsDirectory))
        {
            return result;
        }

        RefuseLink(CheckpointsDirectory);
        foreach (var directory in new DirectoryInfo(CheckpointsDirectory).EnumerateDirectories(DirectoryPrefix + "*"))
        {
            if (directory.LinkTarget is not null || !TryParseDirectoryName(directory.Name, out var id))
            {
                continue;
            }

            result.Add(new CheckpointDirectory(id, directory.FullName, EntryExists(Path.Combine(directory.FullName, ManifestFormat.FileName))));
        }

        result.Sort((a, b) => a.Id.CompareTo(b.Id));
        return result;
    }

    private void RemoveCheckpointDirectory(string path, string? manifestPath)
    {
        try
        {
            // The manifest goes first: if the process dies half-way, what is left is normally an orphan (no manifest),
            // which recovery ignores and cleanup removes. Should a crash persist the removals in another order, what is
            // left is an old checkpoint missing its sidecar, which validation rejects: never a wrong recovery.
            if (manifestPath is not null)
            {
                File.Delete(manifestPath);
            }

            Directory.Delete(path, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(
                CheckpointErrorCode.WriteFailed,
                $"Could not remove checkpoint directory '{path}': {ex.Message}. Check the permissions of '{CheckpointsDirectory}'.",
                ex)
            { Path = path };
        }
    }

    internal static string DirectoryNameOf(ulong id) => DirectoryPrefix + id.ToString("D6", CultureInfo.InvariantCulture);

    /// <summary>Parses <c>checkpoint_000042</c>; only the canonical spelling of an id ≥ 1 is accepted, so two names never alias one id.</summary>
    internal static bool TryParseDirectoryName(string name, out ulong id)
    {
        id = 0;
        if (!name.StartsWith(DirectoryPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var digits = name.AsSpan(DirectoryPrefix.Length);
        foreach (var c in digits)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return ulong.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out id)
            && id > 0
            && string.Equals(DirectoryNameOf(id), name, StringComparison.Ordinal);
    }

    private static void RefuseLink(string path)
    {
        if (new DirectoryInfo(path).LinkTarget is not null)
        {
            throw DurableFile.SymlinkRefused(path);
        }
    }

    private static bool EntryExists(string path)
    {
        var info = new FileInfo(path);
        return info.Exists || info.LinkTarget is not null;
    }

    internal static string Sha256Hex(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>Whether the file at <paramref name="path"/> holds exactly the sidecar <paramref name="declared"/> describes.</summary>
    private bool SidecarMatches(string path, StateSidecarInfo declared)
    {
        try
        {
            var bytes = ReadFile(path, Math.Min(declared.SizeBytes + 1, _options.MaxSidecarBytes));
            return bytes is not null && bytes.LongLength == declared.SizeBytes && string.Equals(Sha256Hex(bytes), declared.Sha256, StringComparison.Ordinal);
        }
        catch (CheckpointException)
        {
            return false;
        }
    }

    /// <summary>
    /// A sidecar in the directory of a checkpoint that has no manifest yet. Under the owner lease nobody else writes the
    /// store, so it is the leftover of an interrupted save and is removed. Without the lease it may be another writer's,
    /// about to be named by its manifest: it is never touched.
    /// </summary>
    private static void RemoveLeftoverSidecar(ulong id, string path, OwnerLease? lease)
    {
        if (lease is null)
        {
            throw SidecarConflict(id, path);
        }

        DurableFile.TryDelete(path);
    }

    private static CheckpointException SidecarConflict(ulong id, string path) => new(
        CheckpointErrorCode.ConflictingOffset,
        $"Checkpoint {id} is being saved by another writer: its state sidecar '{path}' exists with other bytes and no manifest yet. Nothing of this save was kept; it is never replaced. Only one process may write a manifest store (the owner lease).")
    { Path = path };

    private CheckpointException AlreadyExists(ulong id, string manifestPath) => new(
        CheckpointErrorCode.ConflictingOffset,
        $"Checkpoint {id} already exists ('{manifestPath}'); a saved manifest is never overwritten (only UpdateSinkStatusesAsync rewrites one). Nothing was written. Another writer may be using '{RootDirectory}', or the id was reused: save under an id above the highest one in use (ManifestRecovery.HighestCheckpointId).")
    { Path = manifestPath };

    private readonly record struct CheckpointDirectory(ulong Id, string Path, bool HasManifest);
}
