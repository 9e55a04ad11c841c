using System.Globalization;

namespace Cdc.Checkpoint.Leasing;

/// <summary>Whether a checkpoint directory's owner lease is held.</summary>
public enum LeaseState
{
    /// <summary>The directory has never been leased (no lease file).</summary>
    None,

    /// <summary>A lease file exists but no live process holds its lock: the last owner has exited.</summary>
    Free,

    /// <summary>A live process holds the lease.</summary>
    Held,
}

/// <summary>The owner lease of a checkpoint directory as seen from outside.</summary>
/// <param name="State">Whether the lease is held.</param>
/// <param name="Owner">The current owner when <see cref="LeaseState.Held"/>, the last owner when <see cref="LeaseState.Free"/>.</param>
/// <param name="RustcdcOwner">The contents of a rustcdc owner file (<c>HOSTNAME:PID</c>) in the directory, if any.</param>
public sealed record LeaseStatus(LeaseState State, LeaseInfo? Owner, string? RustcdcOwner)
{
    /// <summary>
    /// Whether <see cref="RustcdcOwner"/> names a live process on this host other than this one (<c>HOSTNAME:PID</c>):
    /// while it does, every writer refuses the directory. An owner file naming another host or a dead process is ignored.
    /// </summary>
    /// <returns>Whether a live rustcdc process owns the directory.</returns>
    public bool HasLiveRustcdcOwner()
    {
        if (RustcdcOwner is not { } owner)
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
