using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Cdc.Checkpoint.Offsets;

/// <summary>
/// A typed, immutable position in a change stream: a PostgreSQL LSN on a slot, a MySQL GTID set, a MariaDB GTID
/// position, or an opaque <see cref="GenericOffset"/>. Offsets know their source type, their JSON shape, and how
/// they compare with another offset of the same source.
/// </summary>
/// <remarks>
/// Implementations are sealed, immutable and thread-safe. Two offsets are equal when they have the same source type
/// and the same canonical JSON.
/// </remarks>
public abstract class CheckpointOffset : IEquatable<CheckpointOffset>
{
    private string? _canonicalJson;

    /// <summary>Initialises the offset with its source type.</summary>
    /// <param name="sourceType">The source type, such as <c>postgres</c> or <c>mysql</c>; see <see cref="SourceTypeName"/>.</param>
    /// <exception cref="ArgumentException"><paramref name="sourceType"/> is not a valid source type name.</exception>
    protected CheckpointOffset(string sourceType)
    {
        SourceTypeName.Validate(sourceType);
        SourceType = sourceType;
    }

    /// <summary>The source type, such as <c>postgres</c>, <c>postgres_snapshot</c>, <c>mysql</c> or <c>mariadb</c>.</summary>
    public string SourceType { get; }

    /// <summary>The source family: the source type without a <c>_snapshot</c> suffix.</summary>
    public string SourceFamily => SourceTypeName.FamilyOf(SourceType);

    /// <summary>
    /// <see langword="true"/> when <see cref="CompareTo"/> gives a real progress order. Opaque offsets
    /// (<see cref="GenericOffset"/>) are not ordered: a checkpoint guards them by event count only.
    /// </summary>
    public virtual bool IsOrdered => true;

    /// <summary>The codec that reads this kind of offset back from JSON.</summary>
    public abstract IOffsetCodec Codec { get; }

    /// <summary>
    /// Compares this offset with <paramref name="other"/> in the order of progress.
    /// An offset of another source type, slot or server is <see cref="OffsetOrder.Diverged"/>.
    /// </summary>
    /// <param name="other">The offset to compare with.</param>
    /// <returns><see cref="OffsetOrder.Before"/> when this offset is behind <paramref name="other"/>, and so on.</returns>
    public abstract OffsetOrder CompareTo(CheckpointOffset other);

    /// <summary>Writes this offset as one JSON object (the <c>offset</c> field of a checkpoint record).</summary>
    /// <param name="writer">The writer.</param>
    public abstract void WriteJson(Utf8JsonWriter writer);

    /// <summary>The offset in its human form (LSN as <c>X/Y</c>, canonical GTID set, <c>file:pos</c>).</summary>
    /// <returns>The human form.</returns>
    public abstract override string ToString();

    /// <summary>The offset as compact JSON, the same bytes every time for equal offsets.</summary>
    /// <returns>The canonical JSON text.</returns>
    public string ToJsonString()
    {
        return _canonicalJson ??= Encode(this);

        static string Encode(CheckpointOffset offset)
        {
            var buffer = new ArrayBufferWriter<byte>(256);
            using (var writer = new Utf8JsonWriter(buffer))
            {
                offset.WriteJson(writer);
            }

            return Encoding.UTF8.GetString(buffer.WrittenSpan);
        }
    }

    /// <summary>The offset as a detached <see cref="JsonElement"/>.</summary>
    /// <returns>The JSON element.</returns>
    public JsonElement ToJsonElement()
    {
        using var document = JsonDocument.Parse(ToJsonString());
        return document.RootElement.Clone();
    }

    /// <inheritdoc />
    public bool Equals(CheckpointOffset? other) =>
        other is not null
        && (ReferenceEquals(this, other)
            || (string.Equals(SourceType, other.SourceType, StringComparison.Ordinal)
                && string.Equals(ToJsonString(), other.ToJsonString(), StringComparison.Ordinal)));

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as CheckpointOffset);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(SourceType, ToJsonString());

    /// <summary>Equality by source type and canonical JSON.</summary>
    public static bool operator ==(CheckpointOffset? left, CheckpointOffset? right) =>
        left is null ? right is null : left.Equals(right);

    /// <summary>Inequality by source type and canonical JSON.</summary>
    public static bool operator !=(CheckpointOffset? left, CheckpointOffset? right) => !(left == right);
}
