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
    public bool HasLiveRustcdcOwner() => RustcdcOwner is { } owner && NamesLiveOtherProcess(owner, out _, out _);

    /// <summary>
    /// The one rule for a rustcdc owner file's text (<c>HOSTNAME:PID</c>, trimmed): it names this host, a process other
    /// than this one, and that process is alive. Used by <see cref="HasLiveRustcdcOwner"/> and by the lease acquisition.
    /// </summary>
    internal static bool NamesLiveOtherProcess(string owner, out string host, out int pid)
    {
        var colon = owner.LastIndexOf(':');
        host = colon > 0 ? owner[..colon] : string.Empty;
        pid = 0;
        return colon > 0
            && int.TryParse(owner.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out pid)
            && string.Equals(host, Environment.MachineName, StringComparison.OrdinalIgnoreCase)
            && pid != Environment.ProcessId
            && OwnerLease.IsProcessAlive(pid);
    }
}
