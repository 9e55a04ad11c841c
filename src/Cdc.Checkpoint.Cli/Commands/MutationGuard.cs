using Cdc.Checkpoint.Cli.Reading;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Cli.Commands;

/// <summary>
/// The checks a mutating verb makes from outside, before it takes the lease. Taking the lease rewrites the lease file,
/// so every refusal that can be known in advance is made here: a refused command changes no byte of any file. The
/// library repeats every check under the lease, so a race between the two only turns into the library's refusal.
/// </summary>
internal static class MutationGuard
{
    /// <summary>Refuses when another process owns the directory or a record cannot be trusted.</summary>
    /// <exception cref="CheckpointException">The refusal; its message ends with "Nothing was changed."</exception>
    public static void EnsureWritable(CheckpointDirectoryScan scan, string verb)
    {
        var dir = scan.DirectoryPath;
        if (scan.LeaseError is { } leaseError)
        {
            throw Refusal(leaseError.ErrorCode, leaseError.Path, $"Refusing to {verb}: {leaseError.Message}");
        }

        var lease = scan.Lease!;
        if (lease.State == LeaseState.Held)
        {
            var owner = lease.Owner?.ToString() ?? "another process (its lease record is being written)";
            throw Refusal(
                CheckpointErrorCode.LeaseHeld,
                Path.Combine(dir, FileCheckpoint.LeaseFileName),
                $"Refusing to {verb}: checkpoint directory '{dir}' is owned by {owner}. Only one process may write a checkpoint directory: stop that process (see `cdc-checkpoint lease '{dir}'`) and run the command again.");
        }

        if (lease.HasLiveRustcdcOwner())
        {
            throw Refusal(
                CheckpointErrorCode.LeaseHeld,
                dir,
                $"Refusing to {verb}: checkpoint directory '{dir}' is owned by a live rustcdc process ('{lease.RustcdcOwner}' in .rustcdc_checkpoint.owner). Stop it and run the command again.");
        }

        var leasePath = Path.Combine(dir, FileCheckpoint.LeaseFileName);
        var leaseFile = new FileInfo(leasePath);
        if (leaseFile.Exists && leaseFile.LinkTarget is null && FileModes.IsGroupOrOtherAccessible(leaseFile.UnixFileMode))
        {
            throw Refusal(
                CheckpointErrorCode.InsecurePermissions,
                leasePath,
                $"Refusing to {verb}: lease file '{leasePath}' has insecure permissions {FileModes.Format(leaseFile.UnixFileMode)}. Run: chmod 600 '{leasePath}'");
        }

        var bad = scan.BadRecords.ToList();
        if (bad.Count > 0)
        {
            var more = bad.Count > 1 ? $" ({bad.Count - 1} more unusable record(s): run `cdc-checkpoint verify '{dir}'`)" : string.Empty;
            throw Refusal(bad[0].Problem!.ErrorCode, bad[0].Path, $"Refusing to {verb}: {bad[0].Problem!.Message}{more}");
        }

        if (scan.MixedFamiliesError is { } mixed)
        {
            throw Refusal(mixed.ErrorCode, dir, $"Refusing to {verb}: {mixed.Message}");
        }
    }

    /// <summary>Refuses an offset of another source family than the directory's records.</summary>
    public static void EnsureFamily(CheckpointDirectoryScan scan, CheckpointOffset offset, string verb)
    {
        var other = scan.ReadableRecords.FirstOrDefault(r => !string.Equals(SourceTypeName.FamilyOf(r.SourceType), offset.SourceFamily, StringComparison.Ordinal));
        if (other is not null)
        {
            throw Refusal(
                CheckpointErrorCode.MixedSourceFamilies,
                scan.DirectoryPath,
                $"Refusing to {verb} a {offset.SourceType} offset in '{scan.DirectoryPath}': it already holds a {other.SourceType} record. Use one directory per source family.");
        }
    }

    public static CheckpointException Refusal(CheckpointErrorCode code, string? path, string message) =>
        new(code, message.TrimEnd() + (message.TrimEnd().EndsWith('.') ? " " : ". ") + "Nothing was changed.") { Path = path };
}
