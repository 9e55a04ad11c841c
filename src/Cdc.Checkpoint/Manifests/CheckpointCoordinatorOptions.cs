namespace Cdc.Checkpoint.Manifests;

/// <summary>Options of <see cref="CheckpointCoordinator"/>; every value is checked when set.</summary>
public sealed class CheckpointCoordinatorOptions
{
    private readonly int _inlineStateLimitBytes = 64 * 1024;
    private readonly TimeSpan _maxCommitDelay = TimeSpan.FromMilliseconds(1);

    /// <summary>
    /// Operator states up to this many bytes are kept inline in the manifest (base64); larger ones go to the
    /// checkpoint's <c>state.bin</c> sidecar, verified by SHA-256 on load.
    /// </summary>
    /// <value>Default 65536 (64 KiB); 0 puts every non-empty state in the sidecar.</value>
    /// <exception cref="ArgumentOutOfRangeException">Negative.</exception>
    public int InlineStateLimitBytes
    {
        get => _inlineStateLimitBytes;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _inlineStateLimitBytes = value;
        }
    }

    /// <summary>
    /// How long a write may wait for the requesters of the previous write to come back before it starts, so that they
    /// join it instead of the one after (group commit would otherwise settle into two alternating half-size batches).
    /// The wait ends as soon as every requester the previous write served has asked again, and only happens when the
    /// previous write served more than one request, so a lone committer never waits.
    /// </summary>
    /// <remarks>
    /// The wait is timed with the coordinator's <see cref="TimeProvider"/>; with a manually advanced fake clock whose
    /// timers only fire when time is advanced, set this to <see cref="TimeSpan.Zero"/>.
    /// </remarks>
    /// <value>Default 1 ms; <see cref="TimeSpan.Zero"/> turns the wait off.</value>
    /// <exception cref="ArgumentOutOfRangeException">Negative or more than one second.</exception>
    public TimeSpan MaxCommitDelay
    {
        get => _maxCommitDelay;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, TimeSpan.FromSeconds(1));
            _maxCommitDelay = value;
        }
    }
}
