using System.Globalization;
using System.Text;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Leasing;
using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Manifests;

/// <summary>
/// The save path of a <see cref="FileManifestStore"/>: the checkpoint directory, the no-replace sidecar and manifest,
/// and the latest pointer that only moves forward. Runs under the store's write lock (and owner lease, when taken).
/// </summary>
internal sealed class FileManifestWriter(FileManifestObjects objects, FileManifestRetention retention, ILogger logger)
{
    private bool _directoryReady;

    public void Save(CheckpointManifest manifest, byte[] manifestBytes, ReadOnlySpan<byte> sidecar, OwnerLease? lease)
    {
        _ = DurableFile.RefuseSharedDirectory(objects.CheckpointsDirectory); // before the checkpoint's directory is created in it
        var id = manifest.CheckpointId;
        var directory = objects.DirectoryOf(id);
        var manifestPath = Path.Combine(directory, ManifestFormat.FileName);
        if (Directory.Exists(directory))
        {
            FileManifestObjects.RefuseLink(directory);
            if (FileManifestObjects.EntryExists(manifestPath))
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
                    $"Could not create checkpoint directory '{directory}': {ex.Message}. Nothing was saved; check that '{objects.CheckpointsDirectory}' is writable by this user.",
                    ex)
                { Path = directory };
            }

            DurableFile.FsyncDirectory(objects.CheckpointsDirectory, directory);
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
        else if (FileManifestObjects.EntryExists(sidecarPath))
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
                $"Checkpoint {id} was written, but its state sidecar '{sidecarPath}' no longer holds the bytes its manifest records (sha256 {declared.Sha256}): another process is writing '{objects.RootDirectory}' without the owner lease. The save failed; recovery skips that checkpoint as invalid. Stop the other writer.")
            { Path = sidecarPath };
        }

        retention.MarkUsable(id);
        Log.ManifestSaved(logger, id, manifest.Epoch, manifest.SourceOffsets.Count, sidecar.Length, manifestPath);
        MoveLatestPointer(id);
    }

    private void MoveLatestPointer(ulong id)
    {
        ulong? pointer;
        try
        {
            pointer = objects.ReadPointer().CheckpointId;
        }
        catch (CheckpointException ex) when (ex.ErrorCode is CheckpointErrorCode.Corrupt)
        {
            pointer = null;
        }

        if (pointer is { } latest && latest >= id)
        {
            if (latest > id)
            {
                Log.LatestPointerKept(logger, id, latest);
            }

            return;
        }

        // A missing or unreadable pointer is rewritten, but never to an id older than a manifest already on disk: the
        // pointer could only have named a checkpoint that has one.
        var target = id;
        if (pointer is null && objects.Scan().Where(d => d.HasManifest).Max(d => d.Id) is var newest && newest > id)
        {
            Log.LatestPointerKept(logger, id, newest);
            target = newest;
        }

        DurableFile.Replace(objects.CheckpointsDirectory, FileManifestStore.LatestPointerFileName, Encoding.ASCII.GetBytes(target.ToString(CultureInfo.InvariantCulture) + "\n"));
    }

    public void EnsureCheckpointsDirectory()
    {
        if (_directoryReady && Directory.Exists(objects.CheckpointsDirectory))
        {
            return;
        }

        try
        {
            if (!Directory.Exists(objects.RootDirectory))
            {
                var parent = Path.GetDirectoryName(objects.RootDirectory);
                if (parent is null || !Directory.Exists(parent))
                {
                    throw new CheckpointException(
                        CheckpointErrorCode.DirectoryNotFound,
                        $"Cannot create the manifest store directory '{objects.RootDirectory}': its parent '{parent}' does not exist. Create the parent directory or fix the path.")
                    { Path = objects.RootDirectory };
                }

                DurableFile.CreatePrivateDirectory(objects.RootDirectory);
                DurableFile.FsyncDirectory(parent, objects.RootDirectory);
            }

            if (!Directory.Exists(objects.CheckpointsDirectory))
            {
                DurableFile.CreatePrivateDirectory(objects.CheckpointsDirectory);
                DurableFile.FsyncDirectory(objects.RootDirectory, objects.CheckpointsDirectory);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(
                CheckpointErrorCode.WriteFailed,
                $"Could not create '{objects.CheckpointsDirectory}': {ex.Message}. Check that '{objects.RootDirectory}' is writable by this user.",
                ex)
            { Path = objects.CheckpointsDirectory };
        }

        FileManifestObjects.RefuseLink(objects.CheckpointsDirectory);
        _directoryReady = true;
    }

    /// <summary>Whether the file at <paramref name="path"/> holds exactly the sidecar <paramref name="declared"/> describes.</summary>
    private bool SidecarMatches(string path, StateSidecarInfo declared)
    {
        try
        {
            var bytes = FileManifestObjects.ReadFile(path, Math.Min(declared.SizeBytes + 1, objects.MaxSidecarBytesLimit));
            return bytes is not null && bytes.LongLength == declared.SizeBytes && string.Equals(ManifestObjects.Sha256Hex(bytes), declared.Sha256, StringComparison.Ordinal);
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
        $"Checkpoint {id} already exists ('{manifestPath}'); a saved manifest is never overwritten (only UpdateSinkStatusesAsync rewrites one). Nothing was written. Another writer may be using '{objects.RootDirectory}', or the id was reused: save under an id above the highest one in use (ManifestRecovery.HighestCheckpointId).")
    { Path = manifestPath };
}
