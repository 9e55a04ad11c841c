using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;

namespace Cdc.Checkpoint.Streaming;

/// <summary>
/// The binary snapshot format of a <see cref="StreamCheckpoint"/>, version 2: little-endian fixed-width integers,
/// counted maps, UTF-8 names and a trailing CRC-32C. Specified field by field in <c>docs/snapshot-format.md</c>.
/// </summary>
/// <remarks>
/// Layout: <c>[version u8 = 2][id u64][epoch u64][created-at i64 Unix ms]</c>
/// <c>[sources: u32 n, n × (name, u64)][sinks: u32 n, n × (name, u64)][watermarks: u32 n, n × (name, i64)]</c>
/// <c>[operator states: u32 n, n × (name, u32 len, len bytes)][crc32c u32]</c>, a name being <c>u32 len + UTF-8</c>.
/// The CRC covers every byte after the version byte and before the CRC. Map entries are written sorted by name
/// (ordinal), so equal checkpoints encode to equal bytes.
/// <para>
/// The decoder trusts nothing: it checks the version, the minimum length and the CRC, then bounds every count and
/// length by the bytes actually left before allocating, and rejects invalid UTF-8, duplicate names, out-of-range
/// times and trailing bytes. Every failure is a <see cref="CheckpointException"/> with
/// <see cref="CheckpointErrorCode.Corrupt"/> or <see cref="CheckpointErrorCode.UnsupportedFormatVersion"/>; no other
/// exception escapes for any input. Thread-safe (stateless).
/// </para>
/// </remarks>
public static class StreamSnapshotCodec
{
    /// <summary>The format version this codec writes and reads.</summary>
    public const byte FormatVersion = 2;

    /// <summary>The size of the smallest valid snapshot (no map entries): version, three 8-byte fields, four counts and the CRC.</summary>
    public const int MinimumLength = 1 + (3 * 8) + (4 * 4) + 4;

    private const int NameEntryMinimum = 4;

    /// <summary>Returns the exact number of bytes <see cref="Encode(StreamCheckpoint)"/> produces.</summary>
    /// <param name="checkpoint">The checkpoint.</param>
    /// <returns>The encoded length.</returns>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.RecordTooLarge"/> when the snapshot would exceed the largest array.</exception>
    public static int GetEncodedLength(StreamCheckpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        long length = MinimumLength;
        foreach (var entry in checkpoint.SourceSequenceEntries)
        {
            length += NameEntryMinimum + Encoding.UTF8.GetByteCount(entry.Key) + 8;
        }

        foreach (var entry in checkpoint.SinkPositionEntries)
        {
            length += NameEntryMinimum + Encoding.UTF8.GetByteCount(entry.Key) + 8;
        }

        foreach (var entry in checkpoint.WatermarkEntries)
        {
            length += NameEntryMinimum + Encoding.UTF8.GetByteCount(entry.Key) + 8;
        }

        foreach (var entry in checkpoint.OperatorStateEntries)
        {
            length += NameEntryMinimum + Encoding.UTF8.GetByteCount(entry.Key) + 4 + entry.Value.Length;
        }

        if (length > Array.MaxLength)
        {
            throw new CheckpointException(
                CheckpointErrorCode.RecordTooLarge,
                $"Stream checkpoint {checkpoint.Id} would encode to {length} bytes, more than the largest possible buffer ({Array.MaxLength}); keep large operator state outside the checkpoint and store a reference to it instead.");
        }

        return (int)length;
    }

    /// <summary>Encodes <paramref name="checkpoint"/> into a new array of exactly the encoded length.</summary>
    /// <param name="checkpoint">The checkpoint.</param>
    /// <returns>The snapshot bytes.</returns>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.RecordTooLarge"/> when the snapshot would exceed the largest array.</exception>
    public static byte[] Encode(StreamCheckpoint checkpoint)
    {
        var buffer = new byte[GetEncodedLength(checkpoint)];
        _ = Encode(checkpoint, buffer);
        return buffer;
    }

    /// <summary>Encodes <paramref name="checkpoint"/> into <paramref name="destination"/> without allocating.</summary>
    /// <param name="checkpoint">The checkpoint.</param>
    /// <param name="destination">At least <see cref="GetEncodedLength"/> bytes.</param>
    /// <returns>The number of bytes written.</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too small.</exception>
    public static int Encode(StreamCheckpoint checkpoint, Span<byte> destination)
    {
        var length = GetEncodedLength(checkpoint);
        if (destination.Length < length)
        {
            throw new ArgumentException($"The destination holds {destination.Length} bytes; the snapshot needs {length}.", nameof(destination));
        }

        var output = destination[..length];
        output[0] = FormatVersion;
        var pos = 1;
        BinaryPrimitives.WriteUInt64LittleEndian(output[pos..], checkpoint.Id);
        pos += 8;
        BinaryPrimitives.WriteUInt64LittleEndian(output[pos..], checkpoint.Epoch);
        pos += 8;
        BinaryPrimitives.WriteInt64LittleEndian(output[pos..], checkpoint.CreatedAtUnixMilliseconds);
        pos += 8;

        WriteCount(output, ref pos, checkpoint.SourceSequenceEntries.Length);
        foreach (var (name, value) in checkpoint.SourceSequenceEntries)
        {
            WriteName(output, ref pos, name);
            BinaryPrimitives.WriteUInt64LittleEndian(output[pos..], value);
            pos += 8;
        }

        WriteCount(output, ref pos, checkpoint.SinkPositionEntries.Length);
        foreach (var (name, value) in checkpoint.SinkPositionEntries)
        {
            WriteName(output, ref pos, name);
            BinaryPrimitives.WriteUInt64LittleEndian(output[pos..], value);
            pos += 8;
        }

        WriteCount(output, ref pos, checkpoint.WatermarkEntries.Length);
        foreach (var (name, value) in checkpoint.WatermarkEntries)
        {
            WriteName(output, ref pos, name);
            BinaryPrimitives.WriteInt64LittleEndian(output[pos..], value);
            pos += 8;
        }

        WriteCount(output, ref pos, checkpoint.OperatorStateEntries.Length);
        foreach (var (name, state) in checkpoint.OperatorStateEntries)
        {
            WriteName(output, ref pos, name);
            WriteCount(output, ref pos, state.Length);
            state.Span.CopyTo(output[pos..]);
            pos += state.Length;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(output[pos..], Crc32C.Compute(output[1..pos]));
        return pos + 4;
    }

    private static void WriteCount(Span<byte> output, ref int pos, int count)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(output[pos..], (uint)count);
        pos += 4;
    }

    private static void WriteName(Span<byte> output, ref int pos, string name)
    {
        var written = Encoding.UTF8.GetBytes(name, output[(pos + 4)..]);
        BinaryPrimitives.WriteUInt32LittleEndian(output[pos..], (uint)written);
        pos += 4 + written;
    }

    /// <summary>Decodes and fully validates a snapshot.</summary>
    /// <param name="data">The snapshot bytes.</param>
    /// <param name="origin">What the bytes are, for messages (a file path); <see langword="null"/> for "stream checkpoint snapshot".</param>
    /// <returns>The checkpoint.</returns>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.UnsupportedFormatVersion"/> for a version other than 2;
    /// <see cref="CheckpointErrorCode.Corrupt"/> for truncation, a CRC mismatch, invalid UTF-8, a duplicate name, an
    /// impossible count or length, an out-of-range time, or trailing bytes.
    /// </exception>
    public static StreamCheckpoint Decode(ReadOnlySpan<byte> data, string? origin = null)
    {
        var what = origin is null ? "Stream checkpoint snapshot" : $"Stream checkpoint snapshot '{origin}'";
        if (data.IsEmpty)
        {
            throw Corrupt(what, origin, "truncated version byte at offset 0: need 1 bytes, have 0");
        }

        var version = data[0];
        if (version != FormatVersion)
        {
            throw new CheckpointException(
                CheckpointErrorCode.UnsupportedFormatVersion,
                $"{what}: unsupported checkpoint version: {version} (this library reads version {FormatVersion}). It was written by another version of the library or is not a stream checkpoint; read it with the library that wrote it or take a new checkpoint.")
            { Path = origin };
        }

        if (data.Length < MinimumLength)
        {
            throw Corrupt(what, origin, $"truncated snapshot at offset 0: need at least {MinimumLength} bytes, have {data.Length}");
        }

        var crcOffset = data.Length - 4;
        var stored = BinaryPrimitives.ReadUInt32LittleEndian(data[crcOffset..]);
        var computed = Crc32C.Compute(data[1..crcOffset]);
        if (stored != computed)
        {
            throw Corrupt(what, origin, $"CRC mismatch: stored 0x{stored:X8}, computed 0x{computed:X8} over bytes 1..{crcOffset - 1} (the snapshot is damaged or truncated)");
        }

        var reader = new Reader(data[..crcOffset], what, origin);
        var id = reader.ReadUInt64("id");
        var epoch = reader.ReadUInt64("epoch");
        var createdAtOffset = reader.Position;
        var createdAt = reader.ReadInt64("created-at");
        if (!StreamCheckpoint.IsValidCreatedAt(createdAt))
        {
            throw Corrupt(what, origin, $"created-at {createdAt} ms at offset {createdAtOffset} is outside the representable time range");
        }

        var sources = reader.ReadMap("source sequences", 8, static (ref Reader r) => r.ReadUInt64("source sequence"));
        var sinks = reader.ReadMap("sink positions", 8, static (ref Reader r) => r.ReadUInt64("sink position"));
        var watermarks = reader.ReadMap("watermarks", 8, static (ref Reader r) => r.ReadInt64("watermark"));
        var states = reader.ReadMap("operator states", 4, static (ref Reader r) => r.ReadBytes("operator state"));
        if (reader.Remaining != 0)
        {
            throw Corrupt(what, origin, $"{reader.Remaining} trailing bytes at offset {reader.Position} after the operator states");
        }

        return StreamCheckpoint.FromOwned(id, epoch, createdAt, sources, sinks, watermarks, states);
    }

    private static CheckpointException Corrupt(string what, string? origin, string problem) => new(
        CheckpointErrorCode.Corrupt,
        $"{what} is corrupt: {problem}. Do not resume from it; restore from an older snapshot or a replica, or start a new checkpoint chain.")
    { Path = origin };

    private delegate T ValueReader<T>(ref Reader reader);

    private ref struct Reader
    {
        private readonly ReadOnlySpan<byte> _data;
        private readonly string _what;
        private readonly string? _origin;
        private int _pos;

        public Reader(ReadOnlySpan<byte> payloadWithVersion, string what, string? origin)
        {
            _data = payloadWithVersion;
            _what = what;
            _origin = origin;
            _pos = 1;
        }

        public readonly int Position => _pos;

        public readonly int Remaining => _data.Length - _pos;

        public ulong ReadUInt64(string field)
        {
            Need(8, field);
            var value = BinaryPrimitives.ReadUInt64LittleEndian(_data[_pos..]);
            _pos += 8;
            return value;
        }

        public long ReadInt64(string field)
        {
            Need(8, field);
            var value = BinaryPrimitives.ReadInt64LittleEndian(_data[_pos..]);
            _pos += 8;
            return value;
        }

        public ReadOnlyMemory<byte> ReadBytes(string field)
        {
            var length = ReadLength(field);
            var value = _data.Slice(_pos, length).ToArray();
            _pos += length;
            return value;
        }

        public KeyValuePair<string, T>[] ReadMap<T>(string section, int valueMinimum, ValueReader<T> readValue)
        {
            var countOffset = _pos;
            Need(4, $"{section} count");
            var count = BinaryPrimitives.ReadUInt32LittleEndian(_data[_pos..]);
            _pos += 4;

            // Bound the count by what the remaining bytes could hold before allocating anything for it.
            var entryMinimum = NameEntryMinimum + valueMinimum;
            if (count > (uint)(Remaining / entryMinimum))
            {
                throw Corrupt(_what, _origin, $"{section} count {count} at offset {countOffset} needs at least {(long)count * entryMinimum} bytes, have {Remaining}");
            }

            var entries = new KeyValuePair<string, T>[count];
            var names = new HashSet<string>((int)count, StringComparer.Ordinal);
            for (var i = 0; i < entries.Length; i++)
            {
                var nameOffset = _pos;
                var name = ReadName(section);
                if (!names.Add(name))
                {
                    throw Corrupt(_what, _origin, $"duplicate {section} name '{name}' at offset {nameOffset}");
                }

                entries[i] = new(name, readValue(ref this));
            }

            return entries;
        }

        private string ReadName(string section)
        {
            var offset = _pos;
            var length = ReadLength($"{section} name");
            var bytes = _data.Slice(_pos, length);
            if (!Utf8.IsValid(bytes))
            {
                throw Corrupt(_what, _origin, $"{section} name at offset {offset} is not valid UTF-8");
            }

            _pos += length;
            return Encoding.UTF8.GetString(bytes);
        }

        private int ReadLength(string field)
        {
            var lengthOffset = _pos;
            Need(4, $"{field} length");
            var length = BinaryPrimitives.ReadUInt32LittleEndian(_data[_pos..]);
            _pos += 4;
            if (length > (uint)Remaining)
            {
                throw Corrupt(_what, _origin, $"truncated {field} at offset {_pos} (length field at offset {lengthOffset}): need {length} bytes, have {Remaining}");
            }

            return (int)length;
        }

        private readonly void Need(int bytes, string field)
        {
            if (Remaining < bytes)
            {
                throw Corrupt(_what, _origin, $"truncated {field} at offset {_pos}: need {bytes} bytes, have {Remaining}");
            }
        }
    }
}
