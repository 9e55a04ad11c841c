using System.Text.Json;

namespace Cdc.Checkpoint.Offsets;

/// <summary>
/// An opaque offset: any JSON value under a source type that has no registered codec. Unknown source types read
/// from a checkpoint round-trip through this type unchanged.
/// </summary>
/// <remarks>
/// Generic offsets have no progress order (<see cref="CheckpointOffset.IsOrdered"/> is <see langword="false"/>):
/// <see cref="CompareTo"/> answers <see cref="OffsetOrder.Same"/> for equal JSON and <see cref="OffsetOrder.Diverged"/>
/// otherwise, and checkpoints guard them by event count only.
/// </remarks>
public sealed class GenericOffset : CheckpointOffset
{
    /// <summary>Creates a generic offset.</summary>
    /// <param name="sourceType">The source type.</param>
    /// <param name="value">Any JSON value; it is cloned.</param>
    public GenericOffset(string sourceType, JsonElement value)
        : base(sourceType)
    {
        if (value.ValueKind == JsonValueKind.Undefined)
        {
            throw new ArgumentException("The offset JSON value is undefined.", nameof(value));
        }

        Value = value.Clone();
    }

    /// <summary>Creates a generic offset from JSON text.</summary>
    /// <param name="sourceType">The source type.</param>
    /// <param name="json">JSON text.</param>
    /// <returns>The offset.</returns>
    /// <exception cref="FormatException"><paramref name="json"/> is not valid JSON.</exception>
    public static GenericOffset Parse(string sourceType, string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var document = OffsetJsonText.Parse(json);
            return new GenericOffset(sourceType, document.RootElement);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"Offset JSON for source '{sourceType}' is not valid JSON: {Quote(json)} ({ex.Message})", ex);
        }
    }

    /// <summary>The JSON value.</summary>
    public JsonElement Value { get; }

    /// <inheritdoc />
    public override bool IsOrdered => false;

    /// <inheritdoc />
    public override IOffsetCodec Codec => GenericOffsetCodec.Instance;

    /// <inheritdoc />
    public override OffsetOrder CompareTo(CheckpointOffset other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Equals(other) ? OffsetOrder.Same : OffsetOrder.Diverged;
    }

    /// <inheritdoc />
    public override void WriteJson(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        Value.WriteTo(writer);
    }

    /// <inheritdoc />
    public override string ToString() => $"{SourceType}:{ToJsonString()}";

    internal static string Quote(string text) => text.Length <= 200 ? $"'{text}'" : $"'{text[..200]}…' ({text.Length} chars)";
}

/// <summary>Reads any source type as a <see cref="GenericOffset"/>.</summary>
public sealed class GenericOffsetCodec : IOffsetCodec
{
    /// <summary>The instance.</summary>
    public static GenericOffsetCodec Instance { get; } = new();

    private GenericOffsetCodec()
    {
    }

    /// <inheritdoc />
    public bool CanRead(string sourceType) => SourceTypeName.IsValid(sourceType);

    /// <inheritdoc />
    public CheckpointOffset Read(string sourceType, JsonElement offset, int formatVersion) => new GenericOffset(sourceType, offset);
}
