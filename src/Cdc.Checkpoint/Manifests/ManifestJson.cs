using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Cdc.Checkpoint.Manifests;

// The on-disk shape of manifest.json (docs/manifest-format.md). Every member is nullable so a missing field is
// told apart from a zero and reported by name; the reader checks them all before building a CheckpointManifest.

internal sealed class ManifestDto
{
    public int? FormatVersion { get; set; }

    public ulong? CheckpointId { get; set; }

    public ulong? Epoch { get; set; }

    [JsonConverter(typeof(UtcTimestampConverter))]
    public DateTimeOffset? CreatedAt { get; set; }

    public Dictionary<string, SourceOffsetDto?>? SourceOffsets { get; set; }

    public Dictionary<string, ulong>? SinkEpochs { get; set; }

    public Dictionary<string, SinkStatusDto?>? SinkCommitStatuses { get; set; }

    public Dictionary<string, TableOffsetDto?>? TableOffsets { get; set; }

    public Dictionary<string, OperatorStateDto?>? OperatorStates { get; set; }

    public StateSidecarDto? StateSidecar { get; set; }

    public long? Watermark { get; set; }
}

internal sealed class SourceOffsetDto
{
    public string? SourceType { get; set; }

    public JsonElement? Offset { get; set; }

    public ulong? CommittedEventCount { get; set; }
}

internal sealed class TableOffsetDto
{
    public string? SourceType { get; set; }

    public JsonElement? Offset { get; set; }

    public string? Text { get; set; }
}

internal sealed class SinkStatusDto
{
    public string? State { get; set; }

    public string? Message { get; set; }
}

internal sealed class OperatorStateDto
{
    public byte[]? Inline { get; set; }

    public long? SidecarOffset { get; set; }

    public long? SidecarLength { get; set; }
}

internal sealed class StateSidecarDto
{
    public string? Sha256 { get; set; }

    public long? SizeBytes { get; set; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = true,
    AllowDuplicateProperties = false,
    MaxDepth = 64)]
[JsonSerializable(typeof(ManifestDto))]
internal sealed partial class ManifestJsonContext : JsonSerializerContext
{
    /// <summary>
    /// The context manifests are written and read with: the generated options plus relaxed escaping, so names such as
    /// <c>id&gt;10</c> or <c>Zürich</c> stay readable in the file (it is never embedded in HTML).
    /// </summary>
    public static ManifestJsonContext Files => s_files ??= new(new JsonSerializerOptions(Default.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    // Created on first use, after the generated Default exists; a race only builds an equivalent context twice.
    private static ManifestJsonContext? s_files;
}

/// <summary>Writes timestamps as UTC with seven fractional digits and a <c>Z</c> (one fixed width); reads any ISO 8601 form.</summary>
internal sealed class UtcTimestampConverter : JsonConverter<DateTimeOffset?>
{
    public override bool HandleNull => false;

    public override DateTimeOffset? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String && reader.TryGetDateTimeOffset(out var value)
            ? value.ToUniversalTime()
            : throw new JsonException("expected an ISO 8601 timestamp such as \"2025-01-31T12:00:00.0000000Z\"");

    public override void Write(Utf8JsonWriter writer, DateTimeOffset? value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(value!.Value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture));
    }
}
