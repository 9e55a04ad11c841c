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
internal sealed partial class ManifestJsonContext : JsonSerializerContext;
