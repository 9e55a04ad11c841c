namespace Cdc.Checkpoint.Manifests;

/// <summary>Options of <see cref="CheckpointCoordinator"/>; every value is checked when set.</summary>
public sealed class CheckpointCoordinatorOptions
{
    private readonly int _inlineStateLimitBytes = 64 * 1024;

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
}
