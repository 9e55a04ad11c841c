using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Text.Unicode;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Files;

/// <summary>
/// The record file format (<c>checkpoint_{source}.json</c>): reading every supported version, writing the current one.
/// Specified in docs/file-format.md.
/// </summary>
internal static class CheckpointRecordFile
{
    public const int CurrentVersion = 2;
    public const int RustcdcVersion = 1;
    public const string Prefix = "checkpoint_";
    public const string Suffix = ".json";
    public static readonly int[] SupportedVersions = [RustcdcVersion, CurrentVersion];

    private static readonly JsonWriterOptions WriterOptions = new() { Indented = true };

    public static string FileNameFor(string sourceType) => Prefix + sourceType + Suffix;

    /// <summary>The source type named by a record file name, or <see langword="null"/> when the name is not a record's.</summary>
    public static string? SourceTypeOf(string fileName)
    {
        if (!fileName.StartsWith(Prefix, StringComparison.Ordinal) || !fileName.EndsWith(Suffix, StringComparison.Ordinal))
        {
            return null;
        }

        var name = fileName[Prefix.Length..^Suffix.Length];
        return SourceTypeName.IsValid(name) ? name : null;
    }

    public static byte[] Serialize(CheckpointRecord record)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteNumber("checkpoint_format_version", CurrentVersion);
            writer.WriteString("source_type", record.SourceType);
            writer.WriteNumber("committed_event_count", record.CommittedEventCount);
            writer.WriteNumber("sequence", record.Sequence);
            if (record.SavedAt is { } savedAt)
            {
                writer.WriteString("saved_at", savedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture));
            }

            if (record.Offset is GenericOffset)
            {
                // An opaque offset stays opaque even if a typed codec for its source type is registered later.
                writer.WriteBoolean("opaque_offset", true);
            }

            writer.WritePropertyName("offset");
            record.Offset.WriteJson(writer);
            writer.WriteEndObject();
        }

        buffer.Write("\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Parses and validates a record file completely before returning anything.</summary>
    /// <exception cref="CheckpointException">Corrupt or unsupported; the message names <paramref name="path"/>.</exception>
    public static CheckpointRecord Parse(ReadOnlySpan<byte> bytes, string path, OffsetCodecRegistry codecs, IOffsetCodec? preferredCodec = null)
    {
        // JsonDocument.Parse accepts invalid UTF-8 and escaped lone surrogates inside strings, and JsonElement.GetString()
        // then throws InvalidOperationException (found by fuzzing, tests/Cdc.Checkpoint.Proof.Tests): both are corruption.
        if (!Utf8.IsValid(bytes))
        {
            throw Corrupt(path, "it is not valid UTF-8");
        }

        try
        {
            return ParseValidUtf8(bytes, path, codecs, preferredCodec);
        }
        catch (InvalidOperationException ex)
        {
            throw Corrupt(path, $"it holds a JSON string that cannot be decoded ({ex.Message})", ex);
        }
    }

    private static CheckpointRecord ParseValidUtf8(ReadOnlySpan<byte> bytes, string path, OffsetCodecRegistry codecs, IOffsetCodec? preferredCodec)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes.ToArray(), new JsonDocumentOptions { MaxDepth = 64 });
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

            if (!root.TryGetProperty("checkpoint_format_version", out var versionElement))
            {
                throw new CheckpointException(
                    CheckpointErrorCode.UnsupportedFormatVersion,
                    $"Checkpoint record '{path}' has no checkpoint_format_version; supported versions are {string.Join(", ", SupportedVersions)}. It was not written by Cdc.Checkpoint or rustcdc; restore it from a backup or re-seed it with `cdc-checkpoint seed`.")
                { Path = path };
            }

            if (versionElement.ValueKind != JsonValueKind.Number || !versionElement.TryGetInt32(out var version) || Array.IndexOf(SupportedVersions, version) < 0)
            {
                throw new CheckpointException(
                    CheckpointErrorCode.UnsupportedFormatVersion,
                    $"Checkpoint record '{path}' has unsupported checkpoint_format_version {versionElement.GetRawText()}; supported versions are {string.Join(", ", SupportedVersions)}. A newer release may have written it: upgrade Cdc.Checkpoint.")
                { Path = path };
            }

            var sourceType = root.TryGetProperty("source_type", out var st) && st.ValueKind == JsonValueKind.String ? st.GetString() : null;
            if (!SourceTypeName.IsValid(sourceType))
            {
                throw Corrupt(path, $"its source_type {(sourceType is null ? "is missing" : $"'{sourceType}' is not a valid source type")}");
            }

            var expectedName = FileNameFor(sourceType!);
            if (!string.Equals(Path.GetFileName(path), expectedName, StringComparison.Ordinal))
            {
                throw Corrupt(path, $"its source_type '{sourceType}' belongs in '{expectedName}'");
            }

            if (!root.TryGetProperty("committed_event_count", out var countElement) || countElement.ValueKind != JsonValueKind.Number || !countElement.TryGetUInt64(out var count))
            {
                throw Corrupt(path, "committed_event_count is missing or not a non-negative integer");
            }

            ulong sequence = 0;
            DateTimeOffset? savedAt = null;
            if (version >= 2)
            {
                if (!root.TryGetProperty("sequence", out var seqElement) || seqElement.ValueKind != JsonValueKind.Number || !seqElement.TryGetUInt64(out sequence))
                {
                    throw Corrupt(path, "sequence is missing or not a non-negative integer");
                }

                if (root.TryGetProperty("saved_at", out var savedElement))
                {
                    if (savedElement.ValueKind != JsonValueKind.String || !savedElement.TryGetDateTimeOffset(out var parsed))
                    {
                        throw Corrupt(path, "saved_at is not an ISO 8601 timestamp");
                    }

                    savedAt = parsed;
                }
            }

            if (!root.TryGetProperty("offset", out var offsetElement) || offsetElement.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
            {
                throw Corrupt(path, "offset is missing");
            }

            CheckpointOffset offset;
            try
            {
                // rustcdc typed only its stream records; its snapshot records carry connector-specific payloads.
                var opaque = version >= 2 && root.TryGetProperty("opaque_offset", out var opaqueElement) && opaqueElement.ValueKind == JsonValueKind.True;
                var codec = opaque || (version == RustcdcVersion && sourceType!.EndsWith(SourceTypeName.SnapshotSuffix, StringComparison.Ordinal))
                    ? GenericOffsetCodec.Instance
                    : preferredCodec is not null && preferredCodec.CanRead(sourceType!) ? preferredCodec : codecs.Resolve(sourceType!);
                offset = codec.Read(sourceType!, offsetElement, version);
            }
            catch (FormatException ex)
            {
                throw Corrupt(path, $"its {sourceType} offset is invalid: {ex.Message}", ex);
            }

            return new CheckpointRecord(sourceType!, count, offset) { FormatVersion = version, Sequence = sequence, SavedAt = savedAt };
        }
    }

    private static CheckpointException Corrupt(string path, string what, Exception? inner = null) => new(
        CheckpointErrorCode.Corrupt,
        $"Checkpoint record '{path}' is corrupt: {what}. It was not used; restore it from a backup or re-seed it with `cdc-checkpoint seed` (the consumer will not start from the beginning on its own).",
        inner)
    { Path = path };
}
