using System.Buffers.Binary;
using System.Globalization;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Streaming;

namespace Cdc.Checkpoint.Files;

/// <summary>
/// The segment format of the append-only checkpoint log (docs/checkpoint-log-format.md): a 32-byte header, then
/// CRC-32C framed records, 8-byte aligned, then zeros up to the segment's preallocated length.
/// </summary>
/// <remarks>
/// Everything is little-endian. Header: magic <c>CDCCKLOG</c>, format version (u32), header length (u32, 32), segment
/// id (u64), reserved (u32, 0), CRC-32C of bytes 0–27 (u32). Frame: payload length (u32, &gt; 0), CRC-32C (u32) of the
/// length field and of every byte from the sequence to the end of the padding, sequence (u64), payload (a version 3
/// checkpoint record, as in a record file), zero padding to a multiple of 8. A zero length field ends the frames.
/// </remarks>
internal static class LogSegment
{
    /// <summary>The segment format version this release reads and writes.</summary>
    public const int CurrentVersion = 1;

    /// <summary>Bytes of the header.</summary>
    public const int HeaderBytes = 32;

    /// <summary>Bytes of a frame before its payload.</summary>
    public const int FrameHeaderBytes = 16;

    /// <summary>Frames start and end on multiples of this.</summary>
    public const int Alignment = 8;

    /// <summary>The first eight bytes of every segment.</summary>
    public static ReadOnlySpan<byte> Magic => "CDCCKLOG"u8;

    /// <summary>The versions a reader accepts.</summary>
    public static readonly int[] SupportedVersions = [CurrentVersion];

    /// <summary>The length of the frame of a payload of <paramref name="payloadBytes"/> bytes.</summary>
    public static int FrameLength(int payloadBytes) => (FrameHeaderBytes + payloadBytes + Alignment - 1) / Alignment * Alignment;

    /// <summary>Writes the header of segment <paramref name="segmentId"/> into the first 32 bytes of <paramref name="segment"/>.</summary>
    public static void WriteHeader(Span<byte> segment, ulong segmentId)
    {
        Magic.CopyTo(segment);
        BinaryPrimitives.WriteUInt32LittleEndian(segment[8..], CurrentVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(segment[12..], HeaderBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(segment[16..], segmentId);
        BinaryPrimitives.WriteUInt32LittleEndian(segment[24..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(segment[28..], Crc32C.Compute(segment[..28]));
    }

    /// <summary>Writes the frame of <paramref name="payload"/> with <paramref name="sequence"/> into <paramref name="destination"/> (<see cref="FrameLength"/> bytes).</summary>
    /// <returns>The frame length.</returns>
    public static int WriteFrame(Span<byte> destination, ulong sequence, ReadOnlySpan<byte> payload)
    {
        var length = FrameLength(payload.Length);
        var frame = destination[..length];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)payload.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(frame[8..], sequence);
        payload.CopyTo(frame[FrameHeaderBytes..]);
        frame[(FrameHeaderBytes + payload.Length)..].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(frame[4..], FrameChecksum(frame));
        return length;
    }

    /// <summary>
    /// Builds a whole segment: header, one frame per record in sequence order, zeros up to at least
    /// <paramref name="segmentBytes"/> (more when the frames need it: then twice their length).
    /// </summary>
    /// <param name="segmentId">The new segment's id.</param>
    /// <param name="records">The records it holds.</param>
    /// <param name="segmentBytes">Its least length.</param>
    /// <param name="reuse">
    /// A buffer of an earlier segment that may be cleared and written again when it has exactly the new segment's length
    /// (a compaction then allocates no 1 MiB array on the large object heap); <see langword="null"/>: a new array.
    /// </param>
    /// <param name="lastFrameStart">Where the last frame starts (the header's length when there is none).</param>
    /// <returns>The segment bytes (<paramref name="reuse"/> or a new array) and where the frames end (the tail).</returns>
    public static (byte[] Bytes, int Tail) Build(ulong segmentId, IEnumerable<CheckpointRecord> records, int segmentBytes, byte[]? reuse, out int lastFrameStart)
    {
        var payloads = records.OrderBy(r => r.Sequence).Select(r => (r.Sequence, Payload: CheckpointRecordFile.Serialize(r))).ToList();
        var framesLength = payloads.Sum(p => FrameLength(p.Payload.Length));
        var length = Math.Max(segmentBytes, HeaderBytes + (2 * framesLength));
        byte[] bytes;
        if (reuse is not null && reuse.Length == length)
        {
            bytes = reuse;
            Array.Clear(bytes);
        }
        else
        {
            bytes = new byte[length];
        }

        WriteHeader(bytes, segmentId);
        var tail = HeaderBytes;
        lastFrameStart = tail;
        foreach (var (sequence, payload) in payloads)
        {
            lastFrameStart = tail;
            tail += WriteFrame(bytes.AsSpan(tail), sequence, payload);
        }

        return (bytes, tail);
    }

    /// <summary>Reads and validates a whole segment before returning anything.</summary>
    /// <param name="bytes">The segment.</param>
    /// <param name="path">Its path, for messages.</param>
    /// <param name="codecs">The codecs that type the offsets.</param>
    /// <param name="maxRecordBytes">The largest payload accepted.</param>
    /// <returns>What the segment holds.</returns>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.Corrupt"/> (bad header, a valid frame after a damaged one, a record that does not
    /// validate, sequences out of order, mixed source families) or <see cref="CheckpointErrorCode.UnsupportedFormatVersion"/>.
    /// </exception>
    public static LogSegmentContents Read(ReadOnlySpan<byte> bytes, string path, OffsetCodecRegistry codecs, int maxRecordBytes)
    {
        if (bytes.Length < HeaderBytes || !bytes.StartsWith(Magic))
        {
            throw Corrupt(path, bytes.Length < HeaderBytes
                ? string.Create(CultureInfo.InvariantCulture, $"it is {bytes.Length} bytes, shorter than a segment header ({HeaderBytes})")
                : "it does not start with the segment magic CDCCKLOG (it is not a checkpoint log segment)");
        }

        var headerCrc = BinaryPrimitives.ReadUInt32LittleEndian(bytes[28..]);
        var computed = Crc32C.Compute(bytes[..28]);
        if (headerCrc != computed)
        {
            throw Corrupt(path, string.Create(CultureInfo.InvariantCulture, $"the CRC-32C of its header is {computed:x8} but the header says {headerCrc:x8}"));
        }

        var version = BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..]);
        if (version != CurrentVersion)
        {
            throw new CheckpointException(
                CheckpointErrorCode.UnsupportedFormatVersion,
                string.Create(CultureInfo.InvariantCulture, $"Checkpoint log segment '{path}' has format version {version}; this release reads version {CurrentVersion}. Open it with the release that wrote it, or upgrade this one."))
            { Path = path };
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(bytes[12..]) != HeaderBytes || BinaryPrimitives.ReadUInt32LittleEndian(bytes[24..]) != 0)
        {
            throw Corrupt(path, "its header has an unknown length or a non-zero reserved field");
        }

        var segmentId = BinaryPrimitives.ReadUInt64LittleEndian(bytes[16..]);
        var frames = new List<LogFrame>();
        var position = HeaderBytes;
        ulong lastSequence = 0;
        string? torn = null;
        while (position < bytes.Length)
        {
            var check = CheckFrame(bytes, position, lastSequence, maxRecordBytes);
            if (check.End)
            {
                // A zero length field: the frames end here. Anything but zeros after it is a torn write.
                if (bytes[position..].IndexOfAnyExcept((byte)0) < 0)
                {
                    break;
                }

                torn = "zeros where a frame header belongs, but not zeros after it";
            }
            else if (check.Problem is null)
            {
                var payload = bytes.Slice(position + FrameHeaderBytes, check.PayloadLength);
                var where = string.Create(CultureInfo.InvariantCulture, $"{path} (frame at byte {position})");
                var record = CheckpointRecordFile.Parse(payload, where, codecs, inLogFrame: true);
                if (record.FormatVersion != CheckpointRecordFile.CurrentVersion || record.Sequence != check.Sequence)
                {
                    throw Corrupt(path, string.Create(CultureInfo.InvariantCulture, $"the frame at byte {position} holds a version {record.FormatVersion} record with sequence {record.Sequence}; a log frame holds a version {CheckpointRecordFile.CurrentVersion} record with its frame's sequence {check.Sequence}"));
                }

                frames.Add(new LogFrame(position, check.FrameLength, record));
                lastSequence = check.Sequence;
                position += check.FrameLength;
                continue;
            }
            else
            {
                torn = check.Problem;
            }

            // A damaged frame. A crash can only damage the last frame written, and nothing is appended after it (the
            // next owner starts a new segment): a valid frame further on means the damage is not a crash's.
            var later = FindValidFrame(bytes, position + Alignment, lastSequence, maxRecordBytes);
            if (later >= 0)
            {
                throw Corrupt(path, string.Create(CultureInfo.InvariantCulture, $"the frame at byte {position} is damaged ({torn}) but a valid frame follows at byte {later}; an interrupted save only ever damages the last frame, so this is disk damage or another writer"));
            }

            break;
        }

        var latest = new Dictionary<string, CheckpointRecord>(StringComparer.Ordinal);
        foreach (var frame in frames)
        {
            latest[frame.Record.SourceType] = frame.Record;
        }

        var families = latest.Values.Select(r => SourceTypeName.FamilyOf(r.SourceType)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (families.Count > 1)
        {
            throw new CheckpointException(
                CheckpointErrorCode.MixedSourceFamilies,
                $"Checkpoint log segment '{path}' holds records of several source families ({string.Join(", ", families)}); a log holds one family. Move the consumers apart, each with a directory of its own.")
            { Path = path };
        }

        var tail = frames.Count == 0 ? HeaderBytes : frames[^1].Position + frames[^1].Length;
        return new LogSegmentContents(segmentId, bytes.Length, frames, latest, tail, torn is null ? null : new LogTornTail(position, torn));
    }

    private readonly record struct FrameCheck(bool End, string? Problem, int PayloadLength, int FrameLength, ulong Sequence);

    private static FrameCheck CheckFrame(ReadOnlySpan<byte> bytes, int position, ulong lastSequence, int maxRecordBytes)
    {
        var left = bytes.Length - position;
        if (left < FrameHeaderBytes)
        {
            return bytes[position..].IndexOfAnyExcept((byte)0) < 0
                ? new FrameCheck(End: true, null, 0, 0, 0)
                : new FrameCheck(End: false, "a partial frame header at the end of the segment", 0, 0, 0);
        }

        var payloadLength = BinaryPrimitives.ReadUInt32LittleEndian(bytes[position..]);
        if (payloadLength == 0)
        {
            return new FrameCheck(End: true, null, 0, 0, 0);
        }

        if (payloadLength > (uint)maxRecordBytes || FrameLength((int)payloadLength) > left)
        {
            return new FrameCheck(End: false, string.Create(CultureInfo.InvariantCulture, $"a payload length of {payloadLength} bytes that does not fit"), 0, 0, 0);
        }

        var frameLength = FrameLength((int)payloadLength);
        var frame = bytes.Slice(position, frameLength);
        var stored = BinaryPrimitives.ReadUInt32LittleEndian(frame[4..]);
        var computed = FrameChecksum(frame);
        if (stored != computed)
        {
            return new FrameCheck(End: false, string.Create(CultureInfo.InvariantCulture, $"its CRC-32C is {computed:x8} but the frame says {stored:x8}"), 0, 0, 0);
        }

        var sequence = BinaryPrimitives.ReadUInt64LittleEndian(frame[8..]);
        return sequence > lastSequence
            ? new FrameCheck(End: false, null, (int)payloadLength, frameLength, sequence)
            : new FrameCheck(End: false, string.Create(CultureInfo.InvariantCulture, $"its sequence {sequence} does not follow {lastSequence}"), 0, 0, 0);
    }

    private static int FindValidFrame(ReadOnlySpan<byte> bytes, int from, ulong lastSequence, int maxRecordBytes)
    {
        for (var position = from; position + FrameHeaderBytes <= bytes.Length; position += Alignment)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(bytes[position..]) == 0)
            {
                continue;
            }

            var check = CheckFrame(bytes, position, lastSequence, maxRecordBytes);
            if (!check.End && check.Problem is null)
            {
                return position;
            }
        }

        return -1;
    }

    /// <summary>CRC-32C of a frame: its length field, then everything from the sequence to the end of the padding.</summary>
    private static uint FrameChecksum(ReadOnlySpan<byte> frame) => Crc32C.Append(Crc32C.Compute(frame[..4]), frame[8..]);

    private static CheckpointException Corrupt(string path, string why) => new(
        CheckpointErrorCode.Corrupt,
        $"Checkpoint log segment '{path}' is corrupt: {why}. It was not used. Inspect it (cdc-checkpoint verify '{Path.GetDirectoryName(path)}'); restore the directory from a backup or re-seed the position with `cdc-checkpoint rewind`.")
    { Path = path };
}

/// <summary>One valid frame of a segment.</summary>
/// <param name="Position">Its byte offset.</param>
/// <param name="Length">Its length with padding.</param>
/// <param name="Record">The record it holds.</param>
internal sealed record LogFrame(int Position, int Length, CheckpointRecord Record);

/// <summary>An interrupted write at the end of a segment: ignored by recovery.</summary>
/// <param name="Position">Where the damaged frame starts.</param>
/// <param name="Reason">What is wrong with it.</param>
internal sealed record LogTornTail(int Position, string Reason);

/// <summary>What a segment holds.</summary>
/// <param name="SegmentId">The header's segment id.</param>
/// <param name="Length">The segment's length.</param>
/// <param name="Frames">Every valid frame, in order.</param>
/// <param name="Latest">The newest record of each source type.</param>
/// <param name="Tail">Where the valid frames end.</param>
/// <param name="TornTail">The interrupted write after them, if any.</param>
internal sealed record LogSegmentContents(
    ulong SegmentId,
    int Length,
    IReadOnlyList<LogFrame> Frames,
    Dictionary<string, CheckpointRecord> Latest,
    int Tail,
    LogTornTail? TornTail);
