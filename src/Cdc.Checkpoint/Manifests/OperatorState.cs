namespace Cdc.Checkpoint.Manifests;

/// <summary>
/// The saved state of one operator: either inline bytes (base64 in the manifest) or a byte range of the checkpoint's
/// state sidecar (<see cref="StateSidecarInfo"/>).
/// </summary>
/// <remarks>Immutable and thread-safe: inline bytes are copied in.</remarks>
public sealed class OperatorState
{
    private readonly byte[]? _inline;

    private OperatorState(byte[]? inline, long sidecarOffset, long sidecarLength)
    {
        _inline = inline;
        SidecarOffset = sidecarOffset;
        SidecarLength = sidecarLength;
    }

    /// <summary><see langword="true"/> when the bytes live in the sidecar rather than in the manifest.</summary>
    public bool IsInSidecar => _inline is null;

    /// <summary>The inline bytes; empty when <see cref="IsInSidecar"/>.</summary>
    public ReadOnlyMemory<byte> Inline => _inline;

    /// <summary>Where the bytes start in the sidecar; 0 for inline state.</summary>
    public long SidecarOffset { get; }

    /// <summary>How many bytes of the sidecar belong to this operator; 0 for inline state.</summary>
    public long SidecarLength { get; }

    /// <summary>State kept inline in the manifest.</summary>
    /// <param name="bytes">The bytes; copied.</param>
    /// <returns>The operator state.</returns>
    public static OperatorState FromInline(ReadOnlySpan<byte> bytes) => new(bytes.ToArray(), 0, 0);

    /// <summary>State kept in the sidecar at <paramref name="offset"/> for <paramref name="length"/> bytes.</summary>
    /// <param name="offset">Start in the sidecar.</param>
    /// <param name="length">Length in bytes.</param>
    /// <returns>The operator state.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A negative offset or length.</exception>
    public static OperatorState InSidecar(long offset, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return new OperatorState(null, offset, length);
    }

    internal byte[]? InlineArray => _inline;

    /// <summary>Inline state over an array the caller hands over and never changes again.</summary>
    internal static OperatorState FromOwned(byte[] bytes) => new(bytes, 0, 0);

    /// <inheritdoc />
    public override string ToString() =>
        IsInSidecar ? $"sidecar[{SidecarOffset}..+{SidecarLength}]" : $"inline({_inline!.Length} bytes)";
}
