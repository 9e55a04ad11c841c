using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text;
using System.Text.Unicode;
using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Streaming;

namespace Cdc.Checkpoint.Files;

/// <summary>
/// The record file format (<c>checkpoint_{source}.json</c>): reading every supported version, writing the current one.
/// Specified in docs/file-format.md.
/// </summary>
internal static class CheckpointRecordFile
{
    public const int CurrentVersion = 3;
    public const int RustcdcVersion = 1;

    /// <summary>The first version whose records carry a <see cref="ChecksumField"/>.</summary>
    public const int ChecksumVersion = 3;
    public const string Prefix = "checkpoint_";
    public const string Suffix = ".json";

    /// <summary>The member holding the CRC-32C of the record (docs/file-format.md, "Checksum").</summary>
    public const string ChecksumField = "crc32c";
    public static readonly int[] SupportedVersions = [RustcdcVersion, 2, CurrentVersion];

    private const int ChecksumDigits = 8;

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

    public static byte[] Serialize(CheckpointRecord record) => Serialize(record, new RecordWriter()).ToArray();

    /// <summary>
    /// Serialises <paramref name="record"/> into <paramref name="writer"/>'s buffer, which the next call reuses: the
    /// bytes are valid until then. Same bytes as <see cref="Serialize(CheckpointRecord)"/>.
    /// </summary>
    public static ReadOnlySpan<byte> Serialize(CheckpointRecord record, RecordWriter writer)
    {
        var json = writer.Start();
        json.WriteStartObject();
        json.WriteNumber(Names.FormatVersion, CurrentVersion);
        json.WriteString(Names.SourceType, record.SourceType);
        json.WriteNumber(Names.CommittedEventCount, record.CommittedEventCount);
        json.WriteNumber(Names.Sequence, record.Sequence);
        if (record.SavedAt is { } savedAt)
        {
            Span<byte> text = stackalloc byte[32];
            if (!savedAt.UtcDateTime.TryFormat(text, out var length, "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture))
            {
                throw new InvalidOperationException("A saved_at timestamp did not fit its buffer.");
            }

            json.WriteString(Names.SavedAt, text[..length]);
        }

        if (record.Offset is GenericOffset)
        {
            // An opaque offset stays opaque even if a typed codec for its source type is registered later.
            json.WriteBoolean(Names.OpaqueOffset, true);
        }

        json.WritePropertyName(Names.Offset);
        record.Offset.WriteJson(json);

        // A placeholder of the final width, written last: the checksum covers the file with these digits as zeros.
        json.WriteString(Names.Checksum, ChecksumPlaceholder);
        json.WriteEndObject();
        json.Flush();
        writer.Buffer.Write("\n"u8);

        // The placeholder is the last string of the record, so its last occurrence is it (an offset may hold zeros too).
        // (ArrayBufferWriter hands out its written bytes read-only; they live in its array, which is ours to fill in.)
        if (!MemoryMarshal.TryGetArray(writer.Buffer.WrittenMemory, out var written))
        {
            throw new InvalidOperationException("The record buffer is not an array.");
        }

        var bytes = written.AsSpan();
        var digits = bytes.LastIndexOf("\"00000000\""u8) + 1;
        if (digits <= 0 || !Crc32C.Compute(bytes).TryFormat(bytes.Slice(digits, ChecksumDigits), out _, "x8", CultureInfo.InvariantCulture))
        {
            throw new InvalidOperationException("The record serializer did not write its checksum placeholder.");
        }

        return bytes;
    }

    private static ReadOnlySpan<byte> ChecksumPlaceholder => "00000000"u8;

    /// <summary>
    /// The reusable buffer and JSON writer of one record writer (a save serialises into it instead of allocating both
    /// per record). Not thread-safe: <see cref="FileCheckpoint"/> keeps one per directory and uses it under the
    /// directory's write gate.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable", Justification = "A Utf8JsonWriter over an ArrayBufferWriter holds no unmanaged resource: Dispose only flushes, which Serialize does itself.")]
    internal sealed class RecordWriter
    {
        private Utf8JsonWriter? _json;

        public ArrayBufferWriter<byte> Buffer { get; } = new(512);

        public Utf8JsonWriter Start()
        {
            Buffer.ResetWrittenCount();
            if (_json is null)
            {
                _json = new Utf8JsonWriter(Buffer, WriterOptions);
            }
            else
            {
                _json.Reset(Buffer);
            }

            return _json;
        }
    }

    /// <summary>The member names, encoded once.</summary>
    private static class Names
    {
        public static readonly JsonEncodedText FormatVersion = JsonEncodedText.Encode("checkpoint_format_version");
        public static readonly JsonEncodedText SourceType = JsonEncodedText.Encode("source_type");
        public static readonly JsonEncodedText CommittedEventCount = JsonEncodedText.Encode("committed_event_count");
        public static readonly JsonEncodedText Sequence = JsonEncodedText.Encode("sequence");
        public static readonly JsonEncodedText SavedAt = JsonEncodedText.Encode("saved_at");
        public static readonly JsonEncodedText OpaqueOffset = JsonEncodedText.Encode("opaque_offset");
        public static readonly JsonEncodedText Offset = JsonEncodedText.Encode("offset");
        public static readonly JsonEncodedText Checksum = JsonEncodedText.Encode(ChecksumField);
    }

    /// <summary>
    /// The CRC-32C a record file carries, as its eight hexadecimal digits, or <see langword="null"/> when it has none
    /// (format versions 1 and 2). Only meaningful for bytes <see cref="Parse"/> accepted, which verified it.
    /// </summary>
    public static string? StoredChecksum(ReadOnlySpan<byte> bytes)
    {
        var digits = FindChecksumDigits(bytes);
        return digits < 0 ? null : Encoding.ASCII.GetString(bytes.Slice(digits, ChecksumDigits));
    }

    /// <summary>
    /// Where the eight hexadecimal digits of the top-level <see cref="ChecksumField"/> string start, or -1 when the record
    /// has no such member or its value is not exactly eight lowercase hexadecimal digits written without escapes.
    /// </summary>
    private static int FindChecksumDigits(ReadOnlySpan<byte> bytes)
    {
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { MaxDepth = StrictJson.MaxDepth });
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1 || !reader.ValueTextEquals(ChecksumField))
                {
                    continue;
                }

                reader.Read();
                var value = reader.ValueSpan;
                return reader.TokenType == JsonTokenType.String && !reader.ValueIsEscaped && value.Length == ChecksumDigits && !value.ContainsAnyExcept(LowerHex)
                    ? checked((int)reader.TokenStartIndex + 1)
                    : -1;
            }
        }
        catch (JsonException)
        {
            // Only reached for bytes that are not JSON, which Parse refuses before it looks for the checksum.
        }

        return -1;
    }

    private static readonly SearchValues<byte> LowerHex = SearchValues.Create("0123456789abcdef"u8);

    /// <summary>Refuses a version 3 record whose CRC-32C (over the file with its eight digits read as zeros) differs.</summary>
    private static void VerifyChecksum(ReadOnlySpan<byte> bytes, string path)
    {
        var digits = FindChecksumDigits(bytes);
        if (digits < 0)
        {
            throw Corrupt(path, $"its {ChecksumField} member is missing or is not {ChecksumDigits} lowercase hexadecimal digits (every version {ChecksumVersion} record carries one)");
        }

        var stored = uint.Parse(bytes.Slice(digits, ChecksumDigits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        var zeroed = bytes.ToArray();
        zeroed.AsSpan(digits, ChecksumDigits).Fill((byte)'0');
        var computed = Crc32C.Compute(zeroed);
        if (computed != stored)
        {
            throw Corrupt(path, string.Create(CultureInfo.InvariantCulture, $"its CRC-32C is {computed:x8} but the record says {stored:x8}: its bytes changed after it was written (disk or copy damage, or a hand edit)"));
        }
    }

    /// <summary>Parses and validates a record file completely before returning anything.</summary>
    /// <exception cref="CheckpointException">Corrupt or unsupported; the message names <paramref name="path"/>.</exception>
    /// <param name="bytes">The record.</param>
    /// <param name="path">The record file, or for a frame of a checkpoint log its segment and position.</param>
    /// <param name="codecs">The codecs that type the offset.</param>
    /// <param name="preferredCodec">A codec tried first.</param>
    /// <param name="inLogFrame">The record is a frame of a checkpoint log, not a file named after its source type.</param>
    public static CheckpointRecord Parse(ReadOnlySpan<byte> bytes, string path, OffsetCodecRegistry codecs, IOffsetCodec? preferredCodec = null, bool inLogFrame = false)
    {
        // JsonDocument.Parse accepts invalid UTF-8 and escaped lone surrogates inside strings, and JsonElement.GetString()
        // then throws InvalidOperationException (found by fuzzing, tests/Cdc.Checkpoint.Proof.Tests): both are corruption.
        if (!Utf8.IsValid(bytes))
        {
            throw Corrupt(path, "it is not valid UTF-8");
        }

        try
        {
            return ParseValidUtf8(bytes, path, codecs, preferredCodec, inLogFrame);
        }
        catch (InvalidOperationException ex)
        {
            throw Corrupt(path, $"it holds a JSON string that cannot be decoded ({ex.Message})", ex);
        }
    }

    private static CheckpointRecord ParseValidUtf8(ReadOnlySpan<byte> bytes, string path, OffsetCodecRegistry codecs, IOffsetCodec? preferredCodec, bool inLogFrame)
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

            // Before any field is read: from version 3 on, nothing of a record is trusted unless its checksum matches.
            if (version >= ChecksumVersion)
            {
                VerifyChecksum(bytes, path);
            }
            else if (root.TryGetProperty(ChecksumField, out _))
            {
                // One flipped bit turns "3" into "2" or "1"; without this the record would load unchecked.
                throw Corrupt(path, $"it carries a {ChecksumField}, which only version {ChecksumVersion} records have, but says checkpoint_format_version {version}: its version was damaged");
            }

            var sourceType = root.TryGetProperty("source_type", out var st) && st.ValueKind == JsonValueKind.String ? st.GetString() : null;
            if (!SourceTypeName.IsValid(sourceType))
            {
                throw Corrupt(path, $"its source_type {(sourceType is null ? "is missing" : $"'{sourceType}' is not a valid source type")}");
            }

            var expectedName = FileNameFor(sourceType!);
            if (!inLogFrame && !string.Equals(Path.GetFileName(path), expectedName, StringComparison.Ordinal))
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
