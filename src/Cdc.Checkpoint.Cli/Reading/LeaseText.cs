using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Leasing;

namespace Cdc.Checkpoint.Cli.Reading;

/// <summary>How the tool describes an owner lease to operators.</summary>
internal static class LeaseText
{
    public static string StateName(LeaseState state) => state switch
    {
        LeaseState.Held => "held",
        LeaseState.Free => "free",
        _ => "none",
    };

    /// <summary>One line: who owns the directory, or that nobody does.</summary>
    public static string Describe(LeaseStatus status) => status.State switch
    {
        LeaseState.Held when status.Owner is null => "held by another process (its lease record is being written)",
        LeaseState.Held => $"held by {status.Owner}",
        LeaseState.Free when status.Owner is null => "free (the lease file holds no owner record)",
        LeaseState.Free => $"free (stale record: last owner {status.Owner}; that process no longer holds the lock)",
        _ => $"free (never leased: no {FileCheckpoint.LeaseFileName})",
    };

    /// <summary>A second line for a held lease whose record does not match a live process here, or <see langword="null"/>.</summary>
    public static string? HolderNote(LeaseStatus status)
    {
        if (status.State != LeaseState.Held || status.Owner is not { } owner)
        {
            return null;
        }

        if (!string.Equals(owner.Host, Environment.MachineName, StringComparison.OrdinalIgnoreCase))
        {
            return $"the owner record names host '{owner.Host}', not this host ('{Environment.MachineName}'): the directory is on storage shared with it";
        }

        return owner.IsProcessRunningOnThisHost()
            ? null
            : $"pid {owner.ProcessId} is not running on this host: the lock is held by a process that inherited it or runs in another PID namespace";
    }

    /// <summary>Describes a rustcdc owner file (<c>HOSTNAME:PID</c>), or <see langword="null"/> when there is none.</summary>
    public static string? DescribeRustcdcOwner(LeaseStatus status)
    {
        if (status.RustcdcOwner is not { } owner)
        {
            return null;
        }

        return status.HasLiveRustcdcOwner()
            ? $"rustcdc owner file names '{owner}', a live process on this host: every writer refuses the directory until it exits"
            : $"rustcdc owner file names '{owner}', which is not a live process on this host (ignored)";
    }
}
