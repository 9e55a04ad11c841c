using System.Globalization;
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

        return OwnerLease.IsProcessAlive(owner.ProcessId)
            ? null
            : $"pid {owner.ProcessId} is not running on this host: the lock is held by a process that inherited it or runs in another PID namespace";
    }

    /// <summary>Describes a rustcdc owner file (<c>HOSTNAME:PID</c>), or <see langword="null"/> when there is none.</summary>
    public static string? DescribeRustcdcOwner(string? owner)
    {
        if (owner is null)
        {
            return null;
        }

        return IsLiveRustcdcOwner(owner)
            ? $"rustcdc owner file names '{owner}', a live process on this host: every writer refuses the directory until it exits"
            : $"rustcdc owner file names '{owner}', which is not a live process on this host (ignored)";
    }

    /// <summary>Whether a rustcdc owner file names a live process on this host other than this one (the library's rule).</summary>
    public static bool IsLiveRustcdcOwner(string? owner)
    {
        if (owner is null)
        {
            return false;
        }

        var colon = owner.LastIndexOf(':');
        return colon > 0
            && int.TryParse(owner.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
            && string.Equals(owner[..colon], Environment.MachineName, StringComparison.OrdinalIgnoreCase)
            && pid != Environment.ProcessId
            && OwnerLease.IsProcessAlive(pid);
    }
}
