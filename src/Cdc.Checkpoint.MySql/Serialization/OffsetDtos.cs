using System.Text.Json.Serialization;

namespace Cdc.Checkpoint.MySql.Serialization;

/// <summary>The JSON shape of a <see cref="MySqlOffset"/> (format version 2 and later). Property order is the wire order.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed class MySqlOffsetDto
{
    [JsonPropertyName("gtid_set")]
    public string? GtidSet { get; set; }

    [JsonPropertyName("binlog_file")]
    public string? BinlogFile { get; set; }

    [JsonPropertyName("binlog_position")]
    public ulong? BinlogPosition { get; set; }

    [JsonPropertyName("server_uuid")]
    public string? ServerUuid { get; set; }

    [JsonPropertyName("server_id")]
    public uint? ServerId { get; set; }

    [JsonPropertyName("skip_events")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong SkipEvents { get; set; }

    [JsonPropertyName("skip_rows")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong SkipRows { get; set; }
}

/// <summary>The JSON shape of a <see cref="MariaDbOffset"/> (format version 2 and later). Property order is the wire order.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed class MariaDbOffsetDto
{
    [JsonPropertyName("gtid_position")]
    public string? GtidPosition { get; set; }

    [JsonPropertyName("binlog_file")]
    public string? BinlogFile { get; set; }

    [JsonPropertyName("binlog_position")]
    public ulong? BinlogPosition { get; set; }

    [JsonPropertyName("server_id")]
    public uint? ServerId { get; set; }

    [JsonPropertyName("skip_events")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong SkipEvents { get; set; }

    [JsonPropertyName("skip_rows")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong SkipRows { get; set; }
}

/// <summary>
/// The offset shape rustcdc wrote in format version 1 for both <c>mysql</c> and <c>mariadb</c>:
/// <c>{"gtid": "...", "binlog_file": "...", "binlog_pos": 4}</c>. Unknown fields are ignored, as rustcdc's reader did.
/// </summary>
internal sealed class RustCdcV1MySqlOffsetDto
{
    [JsonPropertyName("gtid")]
    public string? Gtid { get; set; }

    [JsonPropertyName("binlog_file")]
    public string? BinlogFile { get; set; }

    [JsonPropertyName("binlog_pos")]
    public uint? BinlogPos { get; set; }
}

/// <summary>Source-generated serializers for the MySQL and MariaDB offset shapes.</summary>
[JsonSourceGenerationOptions(
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    AllowDuplicateProperties = false,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(MySqlOffsetDto))]
[JsonSerializable(typeof(MariaDbOffsetDto))]
[JsonSerializable(typeof(RustCdcV1MySqlOffsetDto))]
internal sealed partial class MySqlOffsetJsonContext : JsonSerializerContext;
