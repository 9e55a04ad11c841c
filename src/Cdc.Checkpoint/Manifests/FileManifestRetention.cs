using System.Collections.Immutable;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Files;
using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Manifests;

/// <summary>
/// Pruning and orphan cleanup of a <see cref="FileManifestStore"/>. Every method runs under the store's write lock
/// (and owner lease), so no save of this process is in flight while it removes anything.
/// </summary>
internal sealed class FileManifestRetention(FileManifestObjects objects, ILogger logger)
{
    // Ids this store wrote or found usable: pruning trusts them without re-reading. Guarded by the store's write lock.
    private readonly HashSet<ulong> _knownUsable = [];

    public void MarkUsable(ulong id) => _knownUsable.Add(id);

    public int Prune(int keep)
    {
        var directories = objects.Scan();
        var checkpoints = directories.Where(d => d.HasManifest).ToList();
        if (checkpoints.Count <= keep)
        {
            RemoveStaleLeftovers(directories, checkpoints.Count == 0 ? 0 : checkpoints[0].Id);
            return 0;
        }

        ulong? pointer = null;
        try
        {
            pointer = objects.ReadPointer().CheckpointId;
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
            if (IsUsable(checkpoints[i].Id) && ++usable == keep)
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
            Log.CheckpointPruned(logger, id, path);
        }

        RemoveStaleLeftovers(directories, boundary >= 0 ? checkpoints[boundary].Id : checkpoints[0].Id);

        // No directory fsync: a removal that a crash undoes only brings back an old checkpoint (whole, or damaged and
        // then skipped by recovery), which the next prune removes again. It would cost every save one more fsync.
        return removed;
    }

    /// <summary>
    /// Removes what interrupted saves left behind and no start-up cleanup removed: checkpoint directories without a
    /// manifest older than <paramref name="oldestKept"/>, and temp files of the latest pointer. Without this, a writer
    /// that never calls <see cref="FileManifestStore.CleanupOrphansAsync"/> kept one more of them after every crash
    /// inside a save, for ever (found by the manifest crash torture, docs/RELIABILITY.md).
    /// </summary>
    /// <remarks>
    /// Unlike <see cref="Cleanup"/>, this is safe while the store is in use: it runs under the write lock, so no save of
    /// this process is in flight (the pointer is only written under that lock), and checkpoint ids only grow, so no save
    /// is in progress in a directory older than a checkpoint that is kept.
    /// </remarks>
    private void RemoveStaleLeftovers(List<FileManifestObjects.CheckpointDirectory> directories, ulong oldestKept)
    {
        foreach (var (id, path, hasManifest) in directories)
        {
            if (!hasManifest && id < oldestKept && Directory.Exists(path))
            {
                RemoveCheckpointDirectory(path, null);
                Log.OrphanCheckpointRemoved(logger, path);
            }
        }

        foreach (var temp in Directory.EnumerateFiles(objects.CheckpointsDirectory, FileManifestStore.LatestPointerFileName + ".*" + DurableFile.TempSuffix))
        {
            DurableFile.TryDelete(temp);
            Log.TempFileRemoved(logger, temp);
        }
    }

    private bool IsUsable(ulong id)
    {
        if (_knownUsable.Contains(id))
        {
            return true;
        }

        try
        {
            var manifest = objects.Load(id);
            if (manifest is null)
            {
                return false;
            }

            // A cheap check (no hashing): the sidecar, if any, exists with the recorded size.
            if (manifest.StateSidecar is { } sidecar)
            {
                var info = new FileInfo(objects.SidecarPathOf(id));
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

    public OrphanCleanupResult Cleanup()
    {
        var directories = objects.Scan();
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
            latest = Math.Max(latest, objects.ReadPointer().CheckpointId ?? 0);
        }
        catch (CheckpointException)
        {
            // Only the manifests decide then.
        }

        var removedDirectories = ImmutableArray.CreateBuilder<ulong>();
        var removedTemps = ImmutableArray.CreateBuilder<string>();
        RemoveTempFiles(objects.CheckpointsDirectory, removedTemps);
        foreach (var (id, path, hasManifest) in directories)
        {
            if (!hasManifest && id < latest)
            {
                // Older than the latest checkpoint and without a manifest: a save that never completed. A newer one
                // could be a save still in progress in another process, so it is left alone.
                RemoveCheckpointDirectory(path, null);
                removedDirectories.Add(id);
                Log.OrphanCheckpointRemoved(logger, path);
            }
            else
            {
                RemoveTempFiles(path, removedTemps);
            }
        }

        if (removedDirectories.Count > 0 || removedTemps.Count > 0)
        {
            DurableFile.FsyncDirectory(objects.CheckpointsDirectory);
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
            if (!FileManifestObjects.EntryExists(file))
            {
                removed.Add(file);
                Log.TempFileRemoved(logger, file);
            }
        }
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
                $"Could not remove checkpoint directory '{path}': {ex.Message}. Check the permissions of '{objects.CheckpointsDirectory}'.",
                ex)
            { Path = path };
        }
    }
}
