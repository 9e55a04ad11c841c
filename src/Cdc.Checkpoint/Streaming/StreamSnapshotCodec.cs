using System.Buffers.Binary;
using System.Diagnostics;
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
    /// <remarks>Computed once per checkpoint (a checkpoint is immutable) and remembered.</remarks>
    public static int GetEncodedLength(StreamCheckpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        return checkpoint.EncodedLength;
    }

    // The length of the encoding, for StreamCheckpoint.EncodedLength; the decoder and the public constructor know it
    // without this walk (the constructor counts each name's UTF-8 bytes while validating it).
    internal static int ComputeEncodedLength(StreamCheckpoint checkpoint)
    {
        var length = MinimumLength + EntriesLength(checkpoint.SourceSequenceEntries, 8) + EntriesLength(checkpoint.SinkPositionEntries, 8) +
                     EntriesLength(checkpoint.WatermarkEntries, 8) + EntriesLength(checkpoint.OperatorStateEntries, 4);
        foreach (var entry in checkpoint.OperatorStateEntries)
        {
            length += entry.Value.Length;
        }

        return CheckEncodedLength(checkpoint.Id, length);
    }

    private static int CheckEncodedLength(ulong id, long length)
    {
        if (length > Array.MaxLength)
        {
            throw new CheckpointException(
                CheckpointErrorCode.RecordTooLarge,
                $"Stream checkpoint {id} would encode to {length} bytes, more than the largest possible buffer ({Array.MaxLength}); keep large operator state outside the checkpoint and store a reference to it instead.");
        }

        return (int)length;
    }

    private static long EntriesLength<T>(KeyValuePair<string, T>[] entries, int valueLength)
    {
        long length = (long)entries.Length * (NameEntryMinimum + valueLength);
        foreach (var entry in entries)
        {
            length += Encoding.UTF8.GetByteCount(entry.Key);
        }

        return length;
    }

    /// <summary>Encodes <paramref name="checkpoint"/> into a new array of exactly the encoded length.</summary>
    /// <param name="checkpoint">The checkpoint.</param>
    /// <returns>The snapshot bytes.</returns>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.RecordTooLarge"/> when the snapshot would exceed the largest array.</exception>
    public static byte[] Encode(StreamCheckpoint checkpoint)
    {
        // Every byte is written below, so the array need not be zeroed first.
        var buffer = GC.AllocateUninitializedArray<byte>(GetEncodedLength(checkpoint));
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

        // One forward pass: the length is known, so every write below is in bounds and no name is measured twice.
        var output = destination[..length];
        output[0] = FormatVersion;
        BinaryPrimitives.WriteUInt64LittleEndian(output[1..], checkpoint.Id);
        BinaryPrimitives.WriteUInt64LittleEndian(output[9..], checkpoint.Epoch);
        BinaryPrimitives.WriteInt64LittleEndian(output[17..], checkpoint.CreatedAtUnixMilliseconds);
        var pos = 25;

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
        Debug.Assert(pos + 4 == length, "The remembered length is the length written (Encode(checkpoint) relies on it: its array is not zeroed).");
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
        if (data.IsEmpty)
        {
            throw Corrupt(origin, "truncated version byte at offset 0: need 1 bytes, have 0");
        }

        var version = data[0];
        if (version != FormatVersion)
        {
            throw new CheckpointException(
                CheckpointErrorCode.UnsupportedFormatVersion,
                $"{What(origin)}: unsupported checkpoint version: {version} (this library reads version {FormatVersion}). It was written by another version of the library or is not a stream checkpoint; read it with the library that wrote it or take a new checkpoint.")
            { Path = origin };
        }

        if (data.Length < MinimumLength)
        {
            throw Corrupt(origin, $"truncated snapshot at offset 0: need at least {MinimumLength} bytes, have {data.Length}");
        }

        var crcOffset = data.Length - 4;
        var stored = BinaryPrimitives.ReadUInt32LittleEndian(data[crcOffset..]);
        var computed = Crc32C.Compute(data[1..crcOffset]);
        if (stored != computed)
        {
            throw Corrupt(origin, $"CRC mismatch: stored 0x{stored:X8}, computed 0x{computed:X8} over bytes 1..{crcOffset - 1} (the snapshot is damaged or truncated)");
        }

        var reader = new Reader(data[..crcOffset], origin);
        var id = reader.ReadUInt64("id");
        var epoch = reader.ReadUInt64("epoch");
        var createdAtOffset = reader.Position;
        var createdAt = reader.ReadInt64("created-at");
        if (!StreamCheckpoint.IsValidCreatedAt(createdAt))
        {
            throw Corrupt(origin, $"created-at {createdAt} ms at offset {createdAtOffset} is outside the representable time range");
        }

        var sources = reader.ReadMap<ulong, SourceSequenceValue, ulong>("source sequences", 8, sameNames: null);
        var sinks = reader.ReadMap<ulong, SinkPositionValue, ulong>("sink positions", 8, sameNames: null);

        // A watermark is usually kept per source: its name then reuses the source's string instead of a new one.
        var watermarks = reader.ReadMap<long, WatermarkValue, ulong>("watermarks", 8, sameNames: sources.Entries);
        var states = reader.ReadMap<ReadOnlyMemory<byte>, BytesValue, ulong>("operator states", 4, sameNames: null);
        if (reader.Remaining != 0)
        {
            throw Corrupt(origin, $"{reader.Remaining} trailing bytes at offset {reader.Position} after the operator states");
        }

        return StreamCheckpoint.FromOwned(
            id, epoch, createdAt, sources.Entries, sinks.Entries, watermarks.Entries, states.Entries, data.Length,
            sorted: sources.Sorted && sinks.Sorted && watermarks.Sorted && states.Sorted);
    }

    private static string What(string? origin) => origin is null ? "Stream checkpoint snapshot" : $"Stream checkpoint snapshot '{origin}'";

    private static CheckpointException Corrupt(string? origin, string problem) => new(
        CheckpointErrorCode.Corrupt,
        $"{What(origin)} is corrupt: {problem}. Do not resume from it; restore from an older snapshot or a replica, or start a new checkpoint chain.")
    { Path = origin };

    // The value of a map entry, read without a delegate call so that the JIT specialises ReadMap per value type.
    private interface IValueReader<T>
    {
        static abstract T Read(ref Reader reader);
    }

    private readonly struct SourceSequenceValue : IValueReader<ulong>
    {
        public static ulong Read(ref Reader reader) => reader.ReadUInt64("source sequence");
    }

    private readonly struct SinkPositionValue : IValueReader<ulong>
    {
        public static ulong Read(ref Reader reader) => reader.ReadUInt64("sink position");
    }

    private readonly struct WatermarkValue : IValueReader<long>
    {
        public static long Read(ref Reader reader) => reader.ReadInt64("watermark");
    }

    private readonly struct BytesValue : IValueReader<ReadOnlyMemory<byte>>
    {
        public static ReadOnlyMemory<byte> Read(ref Reader reader) => reader.ReadBytes("operator state");
    }

    private readonly record struct Map<T>(KeyValuePair<string, T>[] Entries, bool Sorted);

    private ref struct Reader
    {
        private readonly ReadOnlySpan<byte> _data;
        private readonly string? _origin;
        private int _pos;

        public Reader(ReadOnlySpan<byte> payloadWithVersion, string? origin)
        {
            _data = payloadWithVersion;
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

        // Reads a counted map. The encoder writes names in ascending ordinal order, so in the usual case each name is
        // only compared with the one before it: ascending means no duplicates, and the checkpoint need not sort. Other
        // writers may use any order (docs/snapshot-format.md): from the first name out of order on, a set of the
        // names seen so far finds duplicates instead.
        public Map<T> ReadMap<T, TValue, TOther>(string section, int valueMinimum, KeyValuePair<string, TOther>[]? sameNames)
            where TValue : struct, IValueReader<T>
        {
            var countOffset = _pos;
            Need(4, section, " count");
            var count = BinaryPrimitives.ReadUInt32LittleEndian(_data[_pos..]);
            _pos += 4;

            // Bound the count by what the remaining bytes could hold before allocating anything for it.
            var entryMinimum = NameEntryMinimum + valueMinimum;
            if (count > (uint)(Remaining / entryMinimum))
            {
                throw Corrupt(_origin, $"{section} count {count} at offset {countOffset} needs at least {(long)count * entryMinimum} bytes, have {Remaining}");
            }

            var entries = new KeyValuePair<string, T>[count];
            HashSet<string>? names = null;
            for (var i = 0; i < entries.Length; i++)
            {
                var nameOffset = _pos;
                var name = ReadName(section, sameNames is not null && i < sameNames.Length ? sameNames[i].Key : null);
                if (names is null && i > 0)
                {
                    var order = string.CompareOrdinal(entries[i - 1].Key, name);
                    if (order > 0)
                    {
                        names = new HashSet<string>(entries.Length, StringComparer.Ordinal);
                        for (var j = 0; j < i; j++)
                        {
                            names.Add(entries[j].Key);
                        }
                    }
                    else if (order == 0)
                    {
                        throw Corrupt(_origin, $"duplicate {section} name '{name}' at offset {nameOffset}");
                    }
                }

                if (names is not null && !names.Add(name))
                {
                    throw Corrupt(_origin, $"duplicate {section} name '{name}' at offset {nameOffset}");
                }

                entries[i] = new(name, TValue.Read(ref this));
            }

            return new(entries, Sorted: names is null);
        }

        // Reads a name; returns `candidate` itself when the bytes spell it in ASCII (no new string).
        private string ReadName(string section, string? candidate)
        {
            var offset = _pos;
            var length = ReadLength(section, " name");
            var bytes = _data.Slice(_pos, length);
            _pos += length;
            if (candidate is not null && Ascii.Equals(bytes, candidate))
            {
                return candidate;
            }

            if (!Utf8.IsValid(bytes))
            {
                throw Corrupt(_origin, $"{section} name at offset {offset} is not valid UTF-8");
            }

            return Encoding.UTF8.GetString(bytes);
        }

        // A field's name is `field` + `suffix`, joined only for a message: decoding a valid snapshot formats no text.
        private int ReadLength(string field, string suffix = "")
        {
            var lengthOffset = _pos;
            Need(4, field, suffix + " length");
            var length = BinaryPrimitives.ReadUInt32LittleEndian(_data[_pos..]);
            _pos += 4;
            if (length > (uint)Remaining)
            {
                throw Corrupt(_origin, $"truncated {field}{suffix} at offset {_pos} (length field at offset {lengthOffset}): need {length} bytes, have {Remaining}");
            }

            return (int)length;
        }

        private readonly void Need(int bytes, string field, string suffix = "")
        {
            if (Remaining < bytes)
            {
                throw Corrupt(_origin, $"truncated {field}{suffix} at offset {_pos}: need {bytes} bytes, have {Remaining}");
            }
        }
    }
}
