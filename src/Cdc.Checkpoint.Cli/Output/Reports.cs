using System.Text.Json;
using System.Text.Json.Serialization;

namespace Cdc.Checkpoint.Cli.Output;

// The --json documents. Field names are snake_case like the on-disk formats; absent values are written as null so a
// reader sees every field of the shape. These shapes are part of the tool's interface (docs/cli.md).

internal sealed class InspectReport
{
    public required string Directory { get; init; }

    public required string DirectoryMode { get; init; }

    public required LeaseReport Lease { get; init; }

    public required IReadOnlyList<RecordReport> Records { get; init; }

    /// <summary>Problems of the directory as a whole (several source families).</summary>
    public required IReadOnlyList<string> Problems { get; init; }
}

internal sealed class LeaseReport
{
    public required string State { get; init; }

    public required string Summary { get; init; }

    public string? Host { get; init; }

    public int? Pid { get; init; }

    public ulong? ProcessStartTime { get; init; }

    public DateTimeOffset? AcquiredAt { get; init; }

    public long? Epoch { get; init; }

    public string? RustcdcOwner { get; init; }

    public string? Note { get; init; }

    public string? Error { get; init; }
}

internal sealed class RecordReport
{
    public required string File { get; init; }

    public required string Path { get; init; }

    public required string SourceType { get; init; }

    public string? SourceFamily { get; init; }

    public int? FormatVersion { get; init; }

    public ulong? CommittedEventCount { get; init; }

    public ulong? Sequence { get; init; }

    public DateTimeOffset? SavedAt { get; init; }

    /// <summary>The record's CRC-32C (8 hex digits), verified when it was read; null for format versions without one.</summary>
    [JsonPropertyName("crc32c")]
    public string? Crc32C { get; init; }

    public string? Mode { get; init; }

    public string? LinkTarget { get; init; }

    /// <summary>The offset in its human form (LSN as X/Y, canonical GTID set, binlog file:pos).</summary>
    public string? Offset { get; init; }

    /// <summary>The offset as the current format writes it.</summary>
    public JsonElement? OffsetJson { get; init; }

    public ErrorReport? Error { get; init; }

    /// <summary>A legacy value kept as written that resume validation will judge (an odd rustcdc slot name or GTID).</summary>
    public string? Warning { get; init; }
}

internal sealed class ErrorReport
{
    public required string Code { get; init; }

    public required string Message { get; init; }
}

internal sealed class VerifyReport
{
    public required string Directory { get; init; }

    public required bool Ok { get; init; }

    public required IReadOnlyList<FindingReport> Problems { get; init; }

    public required IReadOnlyList<FindingReport> Notes { get; init; }
}

internal sealed class FindingReport
{
    public string? Path { get; init; }

    public required string Message { get; init; }
}

internal sealed class ManifestListReport
{
    public required string Root { get; init; }

    public ulong? LatestPointer { get; init; }

    public string? LatestPointerProblem { get; init; }

    public required IReadOnlyList<ManifestEntryReport> Checkpoints { get; init; }
}

internal sealed class ManifestEntryReport
{
    public required ulong Id { get; init; }

    public ulong? Epoch { get; init; }

    public DateTimeOffset? CreatedAt { get; init; }

    public IReadOnlyList<string>? Sources { get; init; }

    public string? Problem { get; init; }
}

internal sealed class ManifestValidateReport
{
    public required string Root { get; init; }

    public required bool Ok { get; init; }

    public required IReadOnlyList<ManifestValidationReport> Checkpoints { get; init; }

    public required IReadOnlyList<FindingReport> Notes { get; init; }
}

internal sealed class ManifestValidationReport
{
    public required ulong Id { get; init; }

    public required bool Valid { get; init; }

    public required IReadOnlyList<ManifestFindingReport> Findings { get; init; }
}

internal sealed class ManifestFindingReport
{
    public required string Severity { get; init; }

    public required string Message { get; init; }
}

internal sealed class ManifestRecoverReport
{
    public required string Root { get; init; }

    public RecoveredManifestReport? Recovered { get; init; }

    public required IReadOnlyList<SkippedReport> Skipped { get; init; }

    public required IReadOnlyList<string> Warnings { get; init; }

    public ulong? HighestCheckpointId { get; init; }

    public int? Examined { get; init; }

    public IReadOnlyList<ulong>? RemovedOrphanCheckpoints { get; init; }

    public IReadOnlyList<string>? RemovedTempFiles { get; init; }
}

internal sealed class RecoveredManifestReport
{
    public required ulong Id { get; init; }

    public required ulong Epoch { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    public long? Watermark { get; init; }

    public required IReadOnlyList<ManifestSourceReport> Sources { get; init; }

    public required IReadOnlyList<ManifestSinkReport> Sinks { get; init; }
}

internal sealed class ManifestSourceReport
{
    public required string Name { get; init; }

    public required string SourceType { get; init; }

    public required string Offset { get; init; }

    public required ulong CommittedEventCount { get; init; }
}

internal sealed class ManifestSinkReport
{
    public required string Name { get; init; }

    public ulong? Epoch { get; init; }

    public string? Status { get; init; }

    public string? FailureMessage { get; init; }
}

internal sealed class SkippedReport
{
    public required ulong Id { get; init; }

    public required string Reason { get; init; }
}

internal sealed class ImportReport
{
    public required string Target { get; init; }

    public required string SourceType { get; init; }

    public required string Offset { get; init; }

    public required JsonElement OffsetJson { get; init; }

    public required ulong CommittedEventCount { get; init; }

    public string? Connector { get; init; }

    public string? Server { get; init; }

    /// <summary>The Debezium fields the mapping rested on, and those that were informational.</summary>
    public required IReadOnlyList<string> Facts { get; init; }

    public required bool Written { get; init; }

    public string? Note { get; init; }
}

internal sealed class ValidateReport
{
    public required string Where { get; init; }

    public required string Checkpoint { get; init; }

    public required ulong CommittedEventCount { get; init; }

    public required string Server { get; init; }

    public required string Verdict { get; init; }

    /// <summary>Whether resuming is safe (the exit code is 0 exactly then).</summary>
    public required bool Safe { get; init; }

    public string? ErrorCode { get; init; }

    public required string Message { get; init; }

    public required IReadOnlyList<string> Facts { get; init; }

    public required string Action { get; init; }
}

internal sealed class TableFenceReport
{
    public required long Epoch { get; init; }

    public required string Owner { get; init; }

    public required DateTimeOffset AcquiredAt { get; init; }
}

internal sealed class TableRecordReport
{
    public required string SourceType { get; init; }

    public required int FormatVersion { get; init; }

    public required ulong CommittedEventCount { get; init; }

    public required ulong Sequence { get; init; }

    public required long Epoch { get; init; }

    public DateTimeOffset? SavedAt { get; init; }

    public required string Offset { get; init; }

    public JsonElement? OffsetJson { get; init; }
}

internal sealed class TableAuditReport
{
    public required long Id { get; init; }

    public required string SourceType { get; init; }

    public string? OldOffset { get; init; }

    public ulong? OldCount { get; init; }

    public required string NewOffset { get; init; }

    public required ulong NewCount { get; init; }

    public required long Epoch { get; init; }

    public required string Reason { get; init; }

    public required DateTimeOffset At { get; init; }
}

/// <summary>What every table-store report starts with: the table, the checkpoint name (the row) and the server.</summary>
internal abstract class TableReport
{
    [JsonPropertyOrder(-1)]
    public required string Table { get; init; }

    [JsonPropertyOrder(-1)]
    public required string Name { get; init; }

    [JsonPropertyOrder(-1)]
    public required string Server { get; init; }
}

internal sealed class TableInspectReport : TableReport
{
    public TableFenceReport? Fence { get; init; }

    public required IReadOnlyList<TableRecordReport> Records { get; init; }

    /// <summary>The newest audit rows (rewinds and imports), newest first.</summary>
    public required IReadOnlyList<TableAuditReport> Audit { get; init; }
}

internal sealed class TableVerifyReport : TableReport
{
    public required bool Ok { get; init; }

    public required IReadOnlyList<string> Problems { get; init; }

    public required IReadOnlyList<string> Notes { get; init; }
}

internal sealed class TableLeaseReport : TableReport
{
    public TableFenceReport? Fence { get; init; }
}

[JsonSourceGenerationOptions(
    WriteIndented = true,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(InspectReport))]
[JsonSerializable(typeof(LeaseReport))]
[JsonSerializable(typeof(VerifyReport))]
[JsonSerializable(typeof(ManifestListReport))]
[JsonSerializable(typeof(ManifestValidateReport))]
[JsonSerializable(typeof(ManifestRecoverReport))]
[JsonSerializable(typeof(ImportReport))]
[JsonSerializable(typeof(ValidateReport))]
[JsonSerializable(typeof(TableInspectReport))]
[JsonSerializable(typeof(TableVerifyReport))]
[JsonSerializable(typeof(TableLeaseReport))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
