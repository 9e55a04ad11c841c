using System.Globalization;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Internal;
using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Streaming;

/// <summary>
/// The layout StreamCheckpointManager wrote before it persisted through a manifest store: one file per checkpoint,
/// <c>stream-checkpoint-{id:D20}.snap</c>, directly in the data directory. At open every such file is read and each
/// valid snapshot is saved into the manifest store under its own id, then its file is deleted; a file that cannot be
/// read is logged, left in place and reported (its id still counts, and with nothing else to resume from the manager
/// fails closed), never ignored.
/// </summary>
internal static class LegacyStreamSnapshots
{
    private const string FilePrefix = "stream-checkpoint-";
    private const string FileSuffix = ".snap";
    private const int IdDigits = 20;

    public static string FileNameOf(ulong id) => FilePrefix + id.ToString("D20", CultureInfo.InvariantCulture) + FileSuffix;

    /// <summary>Migrates the legacy snapshots of <paramref name="directory"/> into <paramref name="target"/>.</summary>
    /// <returns>The highest id any legacy file name carries, and why each file left in place could not be migrated.</returns>
    /// <exception cref="CheckpointException">The directory cannot be listed, or the store cannot be written.</exception>
    public static async ValueTask<(ulong HighestId, List<string> Unreadable, int Migrated)> MigrateAsync(
        string directory, StreamSnapshotStore target, long maxSnapshotBytes, ILogger logger, CancellationToken cancellationToken)
    {
        var unreadable = new List<string>();
        var candidates = List(directory, logger);
        if (candidates.Count == 0)
        {
            return (0, unreadable, 0);
        }

        // Oldest first, so the store's latest pointer ends on the newest snapshot.
        candidates.Sort(static (a, b) => a.Id.CompareTo(b.Id));
        var migrated = 0;
        foreach (var (id, path) in candidates)
        {
            StreamCheckpoint checkpoint;
            try
            {
                var bytes = DurableFile.ReadPrivate(path, maxSnapshotBytes);
                if (bytes is null)
                {
                    continue;
                }

                checkpoint = StreamSnapshotCodec.Decode(bytes, path);
                if (checkpoint.Id != id)
                {
                    throw new CheckpointException(CheckpointErrorCode.Corrupt, $"the file name says checkpoint {id} but the contents are checkpoint {checkpoint.Id}") { Path = path };
                }

                if (await target.Store.LoadAsync(id, cancellationToken).ConfigureAwait(false) is { } existing)
                {
                    // Migrated before a crash that kept the file, or an id the store already uses for something else.
                    if (!checkpoint.Equals(await target.LoadAsync(existing, cancellationToken).ConfigureAwait(false)))
                    {
                        throw new CheckpointException(CheckpointErrorCode.ConflictingOffset, $"the manifest store already holds a different checkpoint {id}") { Path = path };
                    }
                }
                else
                {
                    await target.SaveAsync(checkpoint, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (CheckpointException ex) when (ex.ErrorCode is not (CheckpointErrorCode.WriteFailed or CheckpointErrorCode.LeaseHeld) && !ex.IsTransient)
            {
                Log.StreamSnapshotSkipped(logger, path, ex.Message);
                unreadable.Add($"{Path.GetFileName(path)}: {ex.ErrorCode}");
                continue;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Log.StreamSnapshotSkipped(logger, path, $"could not read it: {ex.Message}");
                unreadable.Add($"{Path.GetFileName(path)}: unreadable");
                continue;
            }

            // Only now that the store holds it durably.
            DeleteMigrated(path, logger);
            migrated++;
        }

        if (migrated > 0)
        {
            Log.StreamSnapshotsMigrated(logger, migrated, directory, unreadable.Count);
        }

        return (candidates[^1].Id, unreadable, migrated);
    }

    private static List<(ulong Id, string Path)> List(string directory, ILogger logger)
    {
        var candidates = new List<(ulong Id, string Path)>();
        if (!Directory.Exists(directory))
        {
            return candidates;
        }

        try
        {
            // Every entry with a snapshot's name, whatever it is: a directory there is an unreadable snapshot, never "none".
            foreach (var path in SafeFile.ListEntries(directory, FilePrefix + "*" + FileSuffix))
            {
                var name = Path.GetFileName(path);
                var digits = name.AsSpan(FilePrefix.Length, name.Length - FilePrefix.Length - FileSuffix.Length);
                if (digits.Length == IdDigits && ulong.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
                {
                    candidates.Add((id, path));
                }
                else
                {
                    Log.StreamSnapshotSkipped(logger, path, "the file name does not carry a 20-digit checkpoint id");
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(
                CheckpointErrorCode.DirectoryNotFound,
                $"Could not list the stream checkpoint directory '{directory}': {ex.Message}. Check that it is a directory readable by this user.",
                ex)
            { Path = directory };
        }

        return candidates;
    }

    private static void DeleteMigrated(string path, ILogger logger)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Harmless: the next open finds the same checkpoint already in the store and deletes the file then.
            Log.StreamSnapshotDeleteFailed(logger, path, ex.Message);
        }
    }
}
