using System.Runtime.InteropServices;

namespace Cdc.Checkpoint.Streaming;

/// <summary>
/// One changelog entry: a fixed 24-byte, blittable value that records what a source did at which sequence and
/// watermark. Layout (little-endian on every supported platform):
/// <c>[source id: u16][op: u8][padding: u8][reserved: u32][sequence: u64][watermark: i64]</c>.
/// </summary>
/// <remarks>
/// The padding and reserved bytes are always zero when created through the constructor; they keep the 8-byte fields
/// naturally aligned and leave room for a future field without changing the size. Immutable and thread-safe.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Pack = 8)]
public readonly struct StreamChangelogEntry : IEquatable<StreamChangelogEntry>
{
    /// <summary>The size of an entry in bytes.</summary>
    public const int Size = 24;

    private readonly ushort _sourceId;
    private readonly byte _op;
    private readonly byte _padding;
    private readonly uint _reserved;
    private readonly ulong _sequence;
    private readonly long _watermark;

    /// <summary>Creates an entry.</summary>
    /// <param name="sourceId">The compact id of the source (<see cref="StreamSourceHandle.Id"/>).</param>
    /// <param name="op">The operation.</param>
    /// <param name="sequence">The source's sequence number at the time of the operation.</param>
    /// <param name="watermark">The source's watermark at the time of the operation.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="op"/> is not a defined <see cref="StreamChangeOp"/>.</exception>
    public StreamChangelogEntry(ushort sourceId, StreamChangeOp op, ulong sequence, long watermark)
    {
        if (!IsDefined((byte)op))
        {
            throw new ArgumentOutOfRangeException(nameof(op), op, $"Unknown changelog operation {(byte)op}; use a defined StreamChangeOp value.");
        }

        _sourceId = sourceId;
        _op = (byte)op;
        _padding = 0;
        _reserved = 0;
        _sequence = sequence;
        _watermark = watermark;
    }

    /// <summary>The compact id of the source.</summary>
    public ushort SourceId => _sourceId;

    /// <summary>The raw operation byte, as stored (it may be undefined if the entry was read from raw memory).</summary>
    public byte OpCode => _op;

    /// <summary>The sequence number at the time of the operation.</summary>
    public ulong Sequence => _sequence;

    /// <summary>The watermark at the time of the operation.</summary>
    public long Watermark => _watermark;

    /// <summary>Converts a raw operation byte to a <see cref="StreamChangeOp"/> without ever producing an undefined value.</summary>
    /// <param name="value">The raw byte.</param>
    /// <param name="op">The operation when defined; <see cref="StreamChangeOp.Insert"/> otherwise.</param>
    /// <returns><see langword="true"/> when <paramref name="value"/> is a defined operation.</returns>
    public static bool TryGetOp(byte value, out StreamChangeOp op)
    {
        if (IsDefined(value))
        {
            op = (StreamChangeOp)value;
            return true;
        }

        op = default;
        return false;
    }

    /// <summary>The operation of this entry, when its byte is a defined <see cref="StreamChangeOp"/>.</summary>
    /// <param name="op">The operation.</param>
    /// <returns><see langword="false"/> when the stored byte is not a defined operation.</returns>
    public bool TryGetOp(out StreamChangeOp op) => TryGetOp(_op, out op);

    private static bool IsDefined(byte value) => value <= (byte)StreamChangeOp.Barrier;

    /// <inheritdoc/>
    public bool Equals(StreamChangelogEntry other) =>
        _sourceId == other._sourceId && _op == other._op && _padding == other._padding && _reserved == other._reserved &&
        _sequence == other._sequence && _watermark == other._watermark;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is StreamChangelogEntry other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(_sourceId, _op, _sequence, _watermark);

    /// <inheritdoc/>
    public override string ToString() =>
        $"source {_sourceId} {(TryGetOp(out var op) ? op.ToString() : $"op#{_op}")} seq {_sequence} wm {_watermark}";

    /// <summary>Equality.</summary>
    /// <param name="left">Left.</param>
    /// <param name="right">Right.</param>
    /// <returns>Whether equal.</returns>
    public static bool operator ==(StreamChangelogEntry left, StreamChangelogEntry right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    /// <param name="left">Left.</param>
    /// <param name="right">Right.</param>
    /// <returns>Whether different.</returns>
    public static bool operator !=(StreamChangelogEntry left, StreamChangelogEntry right) => !left.Equals(right);
}
