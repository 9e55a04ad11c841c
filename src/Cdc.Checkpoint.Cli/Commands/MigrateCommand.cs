using System.CommandLine;
using Cdc.Checkpoint.Cli.Output;
using Cdc.Checkpoint.Cli.Reading;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Cli.Commands;

/// <summary><c>migrate DIR [--dry-run]</c>: upgrade older record versions (rustcdc v1, unchecksummed v2) to the current one, keeping backups.</summary>
internal static class MigrateCommand
{
    public static Command Create(Terminal terminal)
    {
        var directory = CommonOptions.Directory();
        var dryRun = new Option<bool>("--dry-run") { Description = "Only show what would be upgraded, and whether it would be refused; change nothing." };
        var command = new Command(
            "migrate",
            "Rewrite every record of an older format version (rustcdc v1, or v2 which has no checksum) in the current format (v3, with a CRC-32C), atomically, keeping the original bytes as checkpoint_<source>.json.v<N>.bak. "
            + "Offsets and counts are unchanged. Takes the owner lease.")
        {
            directory,
            dryRun,
        };
        command.SetAction((parseResult, cancellationToken) => RunAsync(terminal, parseResult.GetRequiredValue(directory), parseResult.GetValue(dryRun), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(Terminal terminal, string directory, bool dryRun, CancellationToken cancellationToken)
    {
        var scan = CheckpointDirectoryScan.Read(directory);
        MutationGuard.EnsureWritable(scan, dryRun ? "migrate (dry run)" : "migrate");
        var old = scan.Records
            .Where(r => r.Record!.FormatVersion < FileCheckpoint.CurrentFormatVersion)
            .OrderBy(r => r.Record!.SourceType.EndsWith(SourceTypeName.SnapshotSuffix, StringComparison.Ordinal) ? 0 : 1)
            .ThenBy(r => r.Record!.CommittedEventCount)
            .ThenBy(r => r.SourceType, StringComparer.Ordinal)
            .ToList();
        if (old.Count == 0)
        {
            terminal.Line($"Nothing to migrate: {(scan.Records.Count == 0 ? "there are no records" : $"all {scan.Records.Count} record(s) are format version {FileCheckpoint.CurrentFormatVersion}")} in {scan.DirectoryPath}.");
            return ExitCodes.Success;
        }

        foreach (var file in old)
        {
            EnsureBackupFree(file);
        }

        if (dryRun)
        {
            foreach (var file in old)
            {
                terminal.Line($"would upgrade {file.Path}: version {file.Record!.FormatVersion} -> {FileCheckpoint.CurrentFormatVersion}, original kept as {BackupPath(file)}");
                terminal.Line($"  {file.Record.Offset} (count {file.Record.CommittedEventCount})");
            }

            terminal.Line("Dry run: nothing was changed.");
            return ExitCodes.Success;
        }

        var checkpoint = new FileCheckpoint(scan.DirectoryPath, new FileCheckpointOptions { Codecs = CheckpointDirectoryScan.Codecs });
        IReadOnlyList<RecordUpgrade> upgrades;
        await using (checkpoint.ConfigureAwait(false))
        {
            upgrades = await checkpoint.UpgradeAsync(dryRun: false, cancellationToken).ConfigureAwait(false);
        }

        foreach (var upgrade in upgrades)
        {
            terminal.Line($"upgraded {upgrade.Path}: version {upgrade.FromVersion} -> {upgrade.ToVersion}, original kept as {upgrade.BackupPath}");
        }

        terminal.Line($"Migrated {upgrades.Count} record(s) in {scan.DirectoryPath}.");
        return ExitCodes.Success;
    }

    private static string BackupPath(CheckpointRecordFileStatus file) => $"{file.Path}.v{file.Record!.FormatVersion}.bak";

    /// <summary>Refuses to replace an existing backup that holds other bytes than the record: that original would be lost.</summary>
    private static void EnsureBackupFree(CheckpointRecordFileStatus file)
    {
        var backup = BackupPath(file);
        var info = new FileInfo(backup);
        if (info.LinkTarget is null && !info.Exists && !Directory.Exists(backup))
        {
            return;
        }

        if (info.LinkTarget is not null || Directory.Exists(backup))
        {
            throw MutationGuard.Refusal(
                CheckpointErrorCode.SymbolicLinkRefused,
                backup,
                $"Refusing to migrate: the backup path '{backup}' is taken by a {(info.LinkTarget is not null ? "symbolic link" : "directory")}. Move it away and run the command again.");
        }

        // A check made before the lease is taken, so that a refusal changes no byte; FileCheckpoint.UpgradeAsync makes it
        // again under the lease with its private, no-symlink reads before it writes anything.
        var current = ReadForComparison(file.Path);
        var kept = ReadForComparison(backup);
        if (current is null || kept is null || !current.AsSpan().SequenceEqual(kept))
        {
            throw MutationGuard.Refusal(
                CheckpointErrorCode.ConflictingOffset,
                backup,
                $"Refusing to migrate: backup '{backup}' already exists and differs from '{file.Path}'; migrating would replace it and lose that original. Move the backup away and run the command again.");
        }
    }

    // The bytes of a regular file no larger than a record may be; null for anything else (which then counts as different).
    private static byte[]? ReadForComparison(string path)
    {
        var info = new FileInfo(path);
        return info.Exists && info.LinkTarget is null && info.Length <= new FileCheckpointOptions().MaxRecordBytes ? File.ReadAllBytes(path) : null;
    }
}
