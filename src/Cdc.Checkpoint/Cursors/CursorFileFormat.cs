using System.Text.Json;
using System.Text.Json.Serialization;

namespace Cdc.Checkpoint.Cursors;

/// <summary>The JSON shape of a cursor file (<c>cursors/{id}.cursor.json</c>), format version 1.</summary>
internal sealed class CursorFileDto
{
    [JsonPropertyName("format_version")]
    public int? FormatVersion { get; set; }

    [JsonPropertyName("cursor_id")]
    public string? CursorId { get; set; }

    [JsonPropertyName("consumer_identity")]
    public string? ConsumerIdentity { get; set; }

    [JsonPropertyName("started")]
    public bool? Started { get; set; }

    [JsonPropertyName("position")]
    public ulong? Position { get; set; }

    [JsonPropertyName("saved_at")]
    public DateTimeOffset? SavedAt { get; set; }
}

[JsonSourceGenerationOptions(
    WriteIndented = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    AllowDuplicateProperties = false,
    NumberHandling = JsonNumberHandling.Strict,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(CursorFileDto))]
internal sealed partial class CursorJsonContext : JsonSerializerContext;

/// <summary>Encodes and strictly decodes cursor files.</summary>
internal static class CursorFileFormat
{
    public static byte[] Encode(string cursorId, CursorCheckpoint checkpoint) => JsonSerializer.SerializeToUtf8Bytes(
        new CursorFileDto
        {
            FormatVersion = CursorCheckpoint.CurrentFormatVersion,
            CursorId = cursorId,
            ConsumerIdentity = checkpoint.ConsumerIdentity,
            Started = checkpoint.Started,
            Position = checkpoint.Position,
            SavedAt = checkpoint.SavedAt,
        },
        CursorJsonContext.Default.CursorFileDto);

    /// <summary>Decodes and validates a cursor file's bytes against the expected cursor id and consumer identity.</summary>
    /// <exception cref="CheckpointException">Corrupt, UnsupportedFormatVersion or IdentityMismatch.</exception>
    public static CursorCheckpoint Decode(ReadOnlySpan<byte> bytes, string path, string cursorId, string expectedIdentity)
    {
        CursorFileDto? dto;
        try
        {
            dto = JsonSerializer.Deserialize(bytes, CursorJsonContext.Default.CursorFileDto);
        }
        catch (JsonException ex)
        {
            throw Corrupt(path, $"it is not a valid cursor file ({ex.Message})", ex);
        }

        if (dto is null)
        {
            throw Corrupt(path, "it holds JSON null instead of a cursor object");
        }

        if (dto.FormatVersion is not { } version)
        {
            throw new CheckpointException(
                CheckpointErrorCode.UnsupportedFormatVersion,
                $"Cursor file '{path}' declares no format_version, so it was not written by this library. Move it away or rewrite it with RewindAsync.")
            { Path = path };
        }

        if (version != CursorCheckpoint.CurrentFormatVersion)
        {
            throw new CheckpointException(
                CheckpointErrorCode.UnsupportedFormatVersion,
                $"Cursor file '{path}' has format_version {version}; this library reads version {CursorCheckpoint.CurrentFormatVersion}. Read it with the library version that wrote it.")
            { Path = path };
        }

        if (dto.Started is not { } started || dto.Position is not { } position)
        {
            throw Corrupt(path, "it lacks the 'started' or 'position' field");
        }

        if (!started && position != 0)
        {
            throw Corrupt(path, $"it says the cursor has not started but has position {position}");
        }

        if (!string.Equals(dto.CursorId, cursorId, StringComparison.Ordinal))
        {
            throw new CheckpointException(
                CheckpointErrorCode.IdentityMismatch,
                $"Cursor file '{path}' belongs to cursor '{dto.CursorId ?? "(none)"}', not '{cursorId}' (was it copied or renamed?). Refusing to resume from it; move it back or away.")
            { Path = path };
        }

        if (!string.Equals(dto.ConsumerIdentity, expectedIdentity, StringComparison.Ordinal))
        {
            throw new CheckpointException(
                CheckpointErrorCode.IdentityMismatch,
                $"Cursor file '{path}' is bound to consumer identity '{dto.ConsumerIdentity ?? "(none)"}', but it was opened as '{expectedIdentity}'. Refusing to resume another consumer's position; use a different cursor id for this consumer, or rewind the cursor explicitly if the identity changed on purpose.")
            { Path = path };
        }

        var checkpoint = started ? CursorCheckpoint.At(position, expectedIdentity) : CursorCheckpoint.NotStarted(expectedIdentity);
        return checkpoint with { SavedAt = dto.SavedAt, FormatVersion = version };
    }

    private static CheckpointException Corrupt(string path, string problem, Exception? inner = null) => new(
        CheckpointErrorCode.Corrupt,
        $"Cursor file '{path}' is corrupt: {problem}. Refusing to rewind to the beginning silently; restore the file from a backup or set the position explicitly with RewindAsync.",
        inner)
    { Path = path };
}
