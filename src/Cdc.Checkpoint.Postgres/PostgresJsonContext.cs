using System.Text.Json;
using System.Text.Json.Serialization;

namespace Cdc.Checkpoint.Postgres;

/// <summary>The JSON shape a <see cref="PostgresOffset"/> is written in; member order is the canonical order.</summary>
internal sealed class PostgresOffsetJson
{
    [JsonPropertyName("lsn")]
    [JsonPropertyOrder(0)]
    public required string Lsn { get; init; }

    [JsonPropertyName("slot_name")]
    [JsonPropertyOrder(1)]
    public required string SlotName { get; init; }

    [JsonPropertyName("system_identifier")]
    [JsonPropertyOrder(2)]
    public string? SystemIdentifier { get; init; }

    [JsonPropertyName("timeline")]
    [JsonPropertyOrder(3)]
    public uint? Timeline { get; init; }

    [JsonPropertyName("database")]
    [JsonPropertyOrder(4)]
    public string? Database { get; init; }
}

/// <summary>
/// What a reader accepts: the LSN and the system identifier as string or number (rustcdc v1 wrote the LSN as a
/// number), everything else with its written type. Unknown members are refused rather than dropped on the next save.
/// </summary>
internal sealed class PostgresOffsetJsonInput
{
    [JsonPropertyName("lsn")]
    public JsonElement Lsn { get; set; }

    [JsonPropertyName("slot_name")]
    public string? SlotName { get; set; }

    [JsonPropertyName("system_identifier")]
    public JsonElement SystemIdentifier { get; set; }

    [JsonPropertyName("timeline")]
    public uint? Timeline { get; set; }

    [JsonPropertyName("database")]
    public string? Database { get; set; }
}

[JsonSourceGenerationOptions(
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    AllowDuplicateProperties = false,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(PostgresOffsetJson))]
[JsonSerializable(typeof(PostgresOffsetJsonInput))]
internal sealed partial class PostgresJsonContext : JsonSerializerContext;
