using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Unicode;
using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Manifests;

/// <summary>
/// Writes and reads <c>manifest.json</c> (docs/manifest-format.md): the current version on write; on read, every
/// supported version, every field checked before a <see cref="CheckpointManifest"/> is built.
/// </summary>
internal static class ManifestFormat
{
    public const string FileName = "manifest.json";

    /// <summary>
    /// Offsets inside a manifest use the offset shape of checkpoint record format 2 (docs/file-format.md): the shape
    /// <see cref="CheckpointOffset.WriteJson"/> writes today. Codecs are told that version when reading them back.
    /// </summary>
    public const int OffsetShapeVersion = 2;

    /// <summary>The manifest as indented UTF-8 JSON with a final newline.</summary>
    /// <exception cref="ArgumentException">The manifest has problems (zero id or epoch, bad names, sidecar ranges).</exception>
    public static byte[] Serialize(CheckpointManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var problems = manifest.FindProblems();
        if (problems.Count > 0)
        {
            throw new ArgumentException($"Checkpoint manifest {manifest.CheckpointId} cannot be written: {string.Join("; ", problems)}.", nameof(manifest));
        }

        var dto = new ManifestDto
        {
            FormatVersion = CheckpointManifest.CurrentFormatVersion,
            CheckpointId = manifest.CheckpointId,
            Epoch = manifest.Epoch,
            CreatedAt = manifest.CreatedAt.ToUniversalTime(),
            SourceOffsets = manifest.SourceOffsets.ToDictionary(
                e => e.Key,
                e => (SourceOffsetDto?)new SourceOffsetDto
                {
                    SourceType = e.Value.Offset.SourceType,
                    Offset = e.Value.Offset.ToJsonElement(),
                    CommittedEventCount = e.Value.CommittedEventCount,
                },
                StringComparer.Ordinal),
            SinkEpochs = manifest.SinkEpochs.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal),
            SinkCommitStatuses = manifest.SinkCommitStatuses.ToDictionary(
                e => e.Key,
                e => (SinkStatusDto?)new SinkStatusDto
                {
                    State = StateName(e.Value.State),
                    Message = e.Value.State == SinkCommitState.Failed ? e.Value.FailureMessage : null,
                },
                StringComparer.Ordinal),
            TableOffsets = manifest.TableOffsets.ToDictionary(
                e => e.Key,
                e => (TableOffsetDto?)(e.Value.Offset is { } offset
                    ? new TableOffsetDto { SourceType = offset.SourceType, Offset = offset.ToJsonElement() }
                    : new TableOffsetDto { Text = e.Value.Text }),
                StringComparer.Ordinal),
            OperatorStates = manifest.OperatorStates.ToDictionary(
                e => e.Key,
                e => (OperatorStateDto?)(e.Value.IsInSidecar
                    ? new OperatorStateDto { SidecarOffset = e.Value.SidecarOffset, SidecarLength = e.Value.SidecarLength }
                    : new OperatorStateDto { Inline = e.Value.InlineArray }),
                StringComparer.Ordinal),
            StateSidecar = manifest.StateSidecar is { } sidecar
                ? new StateSidecarDto { Sha256 = sidecar.Sha256, SizeBytes = sidecar.SizeBytes }
                : null,
            Watermark = manifest.Watermark,
        };

        var json = JsonSerializer.SerializeToUtf8Bytes(dto, ManifestJsonContext.Files.ManifestDto);
        var result = new byte[json.Length + 1];
        json.CopyTo(result, 0);
        result[^1] = (byte)'\n';
        return result;
    }

    /// <summary>Parses and validates a manifest completely before returning it.</summary>
    /// <param name="bytes">The file contents.</param>
    /// <param name="path">The file, for messages.</param>
    /// <param name="codecs">Codecs for typed offsets; unknown source types read as <see cref="GenericOffset"/>.</param>
    /// <param name="expectedId">The id the file's directory names, if any; a different checkpoint_id is corruption.</param>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.Corrupt"/> or <see cref="CheckpointErrorCode.UnsupportedFormatVersion"/>; the message
    /// names <paramref name="path"/>.
    /// </exception>
    public static CheckpointManifest Parse(ReadOnlySpan<byte> bytes, string path, OffsetCodecRegistry codecs, ulong? expectedId = null)
    {
        ArgumentNullException.ThrowIfNull(codecs);

        // System.Text.Json accepts invalid UTF-8 and escaped lone surrogates inside strings, then throws
        // InvalidOperationException when they are decoded (found by fuzzing, tests/Cdc.Checkpoint.Proof.Tests).
        if (!Utf8.IsValid(bytes))
        {
            throw Corrupt(path, "it is not valid UTF-8");
        }

        try
        {
            return ParseValidUtf8(bytes, path, codecs, expectedId);
        }
        catch (InvalidOperationException ex)
        {
            throw Corrupt(path, $"it holds a JSON string that cannot be decoded ({ex.Message})", ex);
        }
    }

    private static CheckpointManifest ParseValidUtf8(ReadOnlySpan<byte> bytes, string path, OffsetCodecRegistry codecs, ulong? expectedId)
    {
        JsonDocument document;
        try
        {
            document = StrictJson.Parse(bytes.ToArray());
        }
        catch (JsonException ex)
        {
            throw Corrupt(path, $"it is not valid JSON ({ex.Message})", ex);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw Corrupt(path, "it is not a JSON object");
            }

            var version = ReadVersion(root, path);
            ManifestDto? dto;
            try
            {
                dto = root.Deserialize(ManifestJsonContext.Files.ManifestDto);
            }
            catch (JsonException ex)
            {
                throw Corrupt(path, $"field {ex.Path ?? "?"} has the wrong type ({ex.Message})", ex);
            }

            if (dto is null)
            {
                throw Corrupt(path, "it is empty");
            }

            var manifest = Build(dto, version, path, codecs);
            var problems = manifest.FindProblems();
            if (problems.Count > 0)
            {
                throw Corrupt(path, string.Join("; ", problems));
            }

            if (expectedId is { } id && manifest.CheckpointId != id)
            {
                throw Corrupt(path, $"its checkpoint_id {manifest.CheckpointId} does not match its directory, which names checkpoint {id} (was the directory copied or renamed?)");
            }

            return manifest;
        }
    }

    private static int ReadVersion(JsonElement root, string path)
    {
        var supported = string.Join(", ", CheckpointManifest.SupportedFormatVersions);
        if (!root.TryGetProperty("format_version", out var element))
        {
            throw new CheckpointException(
                CheckpointErrorCode.UnsupportedFormatVersion,
                $"Checkpoint manifest '{path}' has no format_version; supported versions are {supported}. It was not written by Cdc.Checkpoint; restore the checkpoint directory from a backup or remove it.")
            { Path = path };
        }

        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt32(out var version) || !CheckpointManifest.SupportedFormatVersions.Contains(version))
        {
            throw new CheckpointException(
                CheckpointErrorCode.UnsupportedFormatVersion,
                $"Checkpoint manifest '{path}' has unsupported format_version {element.GetRawText()}; supported versions are {supported}. A newer release of Cdc.Checkpoint may have written it: upgrade before resuming from it.")
            { Path = path };
        }

        return version;
    }

    private static CheckpointManifest Build(ManifestDto dto, int version, string path, OffsetCodecRegistry codecs)
    {
        var checkpointId = dto.CheckpointId ?? throw Corrupt(path, "checkpoint_id is missing");
        var epoch = dto.Epoch ?? throw Corrupt(path, "epoch is missing");
        var createdAt = dto.CreatedAt ?? throw Corrupt(path, "created_at is missing");

        var sources = ImmutableSortedDictionary.CreateBuilder<string, SourcePosition>(StringComparer.Ordinal);
        foreach (var (name, entry) in dto.SourceOffsets ?? [])
        {
            if (entry is null)
            {
                throw Corrupt(path, $"source_offsets.{name} is null");
            }

            var offset = ReadOffset(entry.SourceType, entry.Offset, $"source_offsets.{name}", path, codecs);
            sources[name] = new SourcePosition(offset, entry.CommittedEventCount ?? 0);
        }

        var statuses = ImmutableSortedDictionary.CreateBuilder<string, SinkCommitStatus>(StringComparer.Ordinal);
        foreach (var (name, entry) in dto.SinkCommitStatuses ?? [])
        {
            var state = entry?.State switch
            {
                "pending" => SinkCommitState.Pending,
                "committed" => SinkCommitState.Committed,
                "failed" => SinkCommitState.Failed,
                var other => throw Corrupt(path, $"sink_commit_statuses.{name}.state is '{other}', expected pending, committed or failed"),
            };
            statuses[name] = new SinkCommitStatus(state, state == SinkCommitState.Failed ? entry!.Message : null);
        }

        var tables = ImmutableSortedDictionary.CreateBuilder<string, TableOffset>(StringComparer.Ordinal);
        foreach (var (name, entry) in dto.TableOffsets ?? [])
        {
            var where = $"table_offsets.{name}";
            if (entry is null)
            {
                throw Corrupt(path, $"{where} is null");
            }

            if (entry.Text is not null)
            {
                if (entry.Offset is not null || entry.SourceType is not null)
                {
                    throw Corrupt(path, $"{where} has both text and offset; a table position is one or the other");
                }

                if (entry.Text.Length > ManifestNames.MaxTextLength)
                {
                    throw Corrupt(path, $"{where}.text is longer than {ManifestNames.MaxTextLength} characters");
                }

                tables[name] = TableOffset.FromText(entry.Text);
            }
            else
            {
                tables[name] = TableOffset.FromOffset(ReadOffset(entry.SourceType, entry.Offset, where, path, codecs));
            }
        }

        var operators = ImmutableSortedDictionary.CreateBuilder<string, OperatorState>(StringComparer.Ordinal);
        foreach (var (name, entry) in dto.OperatorStates ?? [])
        {
            var where = $"operator_states.{name}";
            if (entry is null)
            {
                throw Corrupt(path, $"{where} is null");
            }

            var external = entry.SidecarOffset is not null || entry.SidecarLength is not null;
            if (entry.Inline is not null == external)
            {
                throw Corrupt(path, $"{where} must have either inline or sidecar_offset and sidecar_length");
            }

            if (external)
            {
                if (entry.SidecarOffset is not { } start || entry.SidecarLength is not { } length || start < 0 || length < 0)
                {
                    throw Corrupt(path, $"{where} needs a non-negative sidecar_offset and sidecar_length");
                }

                operators[name] = OperatorState.InSidecar(start, length);
            }
            else
            {
                operators[name] = OperatorState.FromInline(entry.Inline);
            }
        }

        StateSidecarInfo? sidecar = null;
        if (dto.StateSidecar is { } s)
        {
            sidecar = new StateSidecarInfo(
                s.Sha256 ?? throw Corrupt(path, "state_sidecar.sha256 is missing"),
                s.SizeBytes ?? throw Corrupt(path, "state_sidecar.size_bytes is missing"));
        }

        return new CheckpointManifest
        {
            FormatVersion = version,
            CheckpointId = checkpointId,
            Epoch = epoch,
            CreatedAt = createdAt.ToUniversalTime(),
            SourceOffsets = sources.ToImmutable(),
            SinkEpochs = (dto.SinkEpochs ?? []).ToImmutableSortedDictionary(StringComparer.Ordinal),
            SinkCommitStatuses = statuses.ToImmutable(),
            TableOffsets = tables.ToImmutable(),
            OperatorStates = operators.ToImmutable(),
            StateSidecar = sidecar,
            Watermark = dto.Watermark,
        };
    }

    private static CheckpointOffset ReadOffset(string? sourceType, JsonElement? offset, string where, string path, OffsetCodecRegistry codecs)
    {
        if (!SourceTypeName.IsValid(sourceType))
        {
            throw Corrupt(path, $"{where}.source_type {(sourceType is null ? "is missing" : $"'{sourceType}' is not a valid source type")}");
        }

        if (offset is not { } element || element.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            throw Corrupt(path, $"{where}.offset is missing");
        }

        try
        {
            return codecs.Read(sourceType!, element, OffsetShapeVersion);
        }
        catch (FormatException ex)
        {
            throw Corrupt(path, $"{where} holds an invalid {sourceType} offset: {ex.Message}", ex);
        }
    }

    private static string StateName(SinkCommitState state) => state switch
    {
        SinkCommitState.Pending => "pending",
        SinkCommitState.Committed => "committed",
        SinkCommitState.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "Unknown sink commit state."),
    };

    internal static CheckpointException Corrupt(string path, string what, Exception? inner = null) => new(
        CheckpointErrorCode.Corrupt,
        $"Checkpoint manifest '{path}' is corrupt: {what}. It was not used; recovery falls back to the newest valid checkpoint (RecoverLatestValidAsync), or restore the directory from a backup.",
        inner)
    { Path = path };
}
