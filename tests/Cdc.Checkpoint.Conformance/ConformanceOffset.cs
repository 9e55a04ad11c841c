using System.Globalization;
using System.Text.Json;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Conformance;

/// <summary>
/// A small ordered offset for the conformance suite: a position on a named stream. Positions order within a stream;
/// offsets of different streams are <see cref="OffsetOrder.Diverged"/>.
/// </summary>
public sealed class ConformanceOffset : CheckpointOffset, ITypedOffset<ConformanceOffset>
{
    /// <summary>The source type the suite uses.</summary>
    public const string Source = "conformance";

    /// <summary>Creates an offset.</summary>
    public ConformanceOffset(ulong position, string stream = "main", string sourceType = Source)
        : base(sourceType)
    {
        Position = position;
        Stream = stream;
    }

    /// <summary>The position.</summary>
    public ulong Position { get; }

    /// <summary>The stream (a different stream is a divergence).</summary>
    public string Stream { get; }

    /// <inheritdoc />
    public static IOffsetCodec OffsetCodec { get; } = new Codec_();

    /// <inheritdoc />
    public override IOffsetCodec Codec => OffsetCodec;

    /// <inheritdoc />
    public override OffsetOrder CompareTo(CheckpointOffset other)
    {
        if (other is not ConformanceOffset o || o.SourceType != SourceType || o.Stream != Stream)
        {
            return OffsetOrder.Diverged;
        }

        return Position.CompareTo(o.Position) switch
        {
            < 0 => OffsetOrder.Before,
            0 => OffsetOrder.Same,
            _ => OffsetOrder.After,
        };
    }

    /// <inheritdoc />
    public override void WriteJson(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStartObject();
        writer.WriteNumber("position", Position);
        writer.WriteString("stream", Stream);
        writer.WriteEndObject();
    }

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Stream}@{Position}");

    private sealed class Codec_ : IOffsetCodec
    {
        public bool CanRead(string sourceType) => SourceTypeName.FamilyOf(sourceType) == Source;

        public CheckpointOffset Read(string sourceType, JsonElement offset, int formatVersion)
        {
            if (offset.ValueKind != JsonValueKind.Object
                || !offset.TryGetProperty("position", out var p) || !p.TryGetUInt64(out var position)
                || !offset.TryGetProperty("stream", out var s) || s.ValueKind != JsonValueKind.String)
            {
                throw new FormatException($"Not a conformance offset: {offset.GetRawText()}");
            }

            return new ConformanceOffset(position, s.GetString()!, sourceType);
        }
    }
}
