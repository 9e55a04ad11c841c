using System.Buffers.Binary;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Streaming;
using FsCheck;
using FsCheck.Fluent;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Proof.Tests.Fuzzing;

/// <summary>The checkpoint log's segment reader (docs/checkpoint-log-format.md), fuzzed like every other reader.</summary>
public sealed partial class ParserFuzzTests
{
    private const string SegmentPath = "/fuzz/" + CheckpointLog.SegmentFileName;
    private const int SegmentMaxRecordBytes = 64 * 1024;

    /// <summary>Valid segments: 0–4 frames of PostgreSQL records, then 0–512 bytes of the zero fill.</summary>
    private static Gen<byte[]> LogSegments { get; } =
        from id in Corpus.U64
        from offsets in Gen.Choose(0, 4).SelectMany(n => Gen.ArrayOf(Corpus.PostgresOffsets, n))
        from zeros in Gen.Choose(0, 64)
        select Segment(id, offsets, zeros * 8);

    private static byte[] Segment(ulong id, CheckpointOffset[] offsets, int zeros)
    {
        var records = offsets.Select((offset, i) => new CheckpointRecord(offset.SourceType, (ulong)i + 1, offset)
        {
            FormatVersion = 3,
            Sequence = (ulong)i + 1,
            SavedAt = new DateTimeOffset(2026, 12, 3, 0, 0, i, TimeSpan.Zero),
        });
        var (bytes, tail) = LogSegment.Build(id, records, CheckpointLogOptions.MinSegmentBytes, reuse: null, out _);
        return bytes[..Math.Min(bytes.Length, tail + zeros)];
    }

    /// <summary>Recomputes the header CRC and the CRC of every frame whose length fits, so mutations reach the records behind them.</summary>
    private static byte[] WithValidLogCrcs(byte[] input)
    {
        var bytes = (byte[])input.Clone();
        if (bytes.Length < LogSegment.HeaderBytes)
        {
            return bytes;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(28), Crc32C.Compute(bytes.AsSpan(0, 28)));
        var position = LogSegment.HeaderBytes;
        while (position + LogSegment.FrameHeaderBytes <= bytes.Length)
        {
            var length = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(position));
            if (length == 0 || length > SegmentMaxRecordBytes || LogSegment.FrameLength((int)length) > bytes.Length - position)
            {
                break;
            }

            var frame = bytes.AsSpan(position, LogSegment.FrameLength((int)length));
            BinaryPrimitives.WriteUInt32LittleEndian(frame[4..], Crc32C.Append(Crc32C.Compute(frame[..4]), frame[8..]));
            position += frame.Length;
        }

        return bytes;
    }

    [Fact]
    public void LogSegment_MutatedWithAndWithoutValidCrcsAndRandom_OnlyTypedErrorsRoundTripAndBoundedMemory()
    {
        var dictionary = Corpus.JsonDictionary(Corpus.Records).Concat(["CDCCKLOG", "\0\0\0\0", "\u00ff\u00ff\u00ff\u00ff", "\u0001\0\0\0"]).ToArray();
        var mutated = from input in Mutator.Mutated(LogSegments, dictionary)
                      from fix in Gen.Elements(false, true)
                      select fix ? new FuzzCase(WithValidLogCrcs(input.Bytes), input.Origin + ", CRCs fixed") : input;
        var stats = Report(Fuzz.Run(
            "checkpoint log segment",
            Gen.Frequency(
                (12, mutated),
                (2, Mutator.RandomBytes.Select(c => new FuzzCase(WithValidLogCrcs([.. "CDCCKLOG"u8, .. c.Bytes]), "random bytes after the magic, CRCs fixed"))),
                (2, Mutator.RandomBytes),
                (1, LogSegments.Select(b => new FuzzCase(b, "valid seed")))),
            bytes => LogSegment.Read(bytes, SegmentPath, Corpus.Codecs, SegmentMaxRecordBytes),
            value =>
            {
                // What was accepted is written back as a fresh segment (a compaction) and reads the same.
                var contents = (LogSegmentContents)value!;
                var (rebuilt, tail) = LogSegment.Build(contents.SegmentId, contents.Frames.Select(f => f.Record), CheckpointLogOptions.MinSegmentBytes, reuse: null, out _);
                var again = LogSegment.Read(rebuilt, SegmentPath, Corpus.Codecs, SegmentMaxRecordBytes);
                again.TornTail.ShouldBeNull();
                again.Tail.ShouldBe(tail);
                again.Frames.Select(f => f.Record.Sequence).ShouldBe(contents.Frames.Select(f => f.Record.Sequence));
                again.Latest.Keys.Order(StringComparer.Ordinal).ShouldBe(contents.Latest.Keys.Order(StringComparer.Ordinal));
                foreach (var (sourceType, record) in contents.Latest)
                {
                    again.Latest[sourceType].CommittedEventCount.ShouldBe(record.CommittedEventCount);
                    again.Latest[sourceType].Offset.ShouldBe(record.Offset);
                }
            },
            ex => IsCheckpointError(ex, CheckpointErrorCode.Corrupt, CheckpointErrorCode.UnsupportedFormatVersion, CheckpointErrorCode.MixedSourceFamilies),
            Bound(JsonPerByte),
            Cases));
        stats.MaxAllocatedBytes.ShouldBeLessThan(Bound(JsonPerByte)(stats.MaxInputBytes));
    }

    [Fact]
    public void LogSegment_FrameLengthClaimingFourGigabytesWithValidCrc_TreatedAsATornTailWithoutAllocatingForIt()
    {
        var bytes = Segment(1, [Corpus.PostgresOffsets.Sample(1, 1).Single()], 64);
        var contents = LogSegment.Read(bytes, SegmentPath, Corpus.Codecs, SegmentMaxRecordBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(contents.Tail), uint.MaxValue);

        var torn = LogSegment.Read(bytes, SegmentPath, Corpus.Codecs, SegmentMaxRecordBytes);
        torn.TornTail.ShouldNotBeNull().Position.ShouldBe(contents.Tail);
        torn.Frames.Count.ShouldBe(1);
        AllocatedBy(() => LogSegment.Read(bytes, SegmentPath, Corpus.Codecs, SegmentMaxRecordBytes)).ShouldBeLessThan(Bound(JsonPerByte)(bytes.Length));
    }
}
