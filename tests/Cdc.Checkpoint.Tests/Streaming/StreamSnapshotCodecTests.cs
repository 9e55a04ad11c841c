using System.Buffers.Binary;
using Cdc.Checkpoint.Streaming;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Streaming;

public sealed class StreamSnapshotCodecTests
{
    internal static StreamCheckpoint GoldenCheckpoint() => new(
        id: 42,
        epoch: 7,
        createdAtUnixMilliseconds: 1_706_400_000_000,
        sourceSequences: new Dictionary<string, ulong> { ["src2"] = 200, ["zürich"] = 300, ["src1"] = 100 },
        sinkPositions: new Dictionary<string, ulong> { ["sink1"] = 50 },
        watermarks: new Dictionary<string, long> { ["src1"] = 5000, ["src2"] = 6000, ["zürich"] = -1 },
        operatorStates: new Dictionary<string, byte[]> { ["op1"] = [1, 2, 3, 4], ["empty"] = [] });

    private static string GoldenPath(string name) => Path.Combine(AppContext.BaseDirectory, "Golden", name);

    // Re-seals a hand-modified snapshot with a correct CRC, so the structural checks behind the CRC are reached.
    internal static byte[] Reseal(byte[] snapshot)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(snapshot.AsSpan(snapshot.Length - 4), Crc32C.Compute(snapshot.AsSpan(1, snapshot.Length - 5)));
        return snapshot;
    }

    private static byte[] Empty(ulong id = 1) => StreamSnapshotCodec.Encode(new StreamCheckpoint(id, 1, 0));

    [Fact]
    public void Encode_SeedCheckpoint_RoundTripsEveryField()
    {
        var checkpoint = new StreamCheckpoint(
            42,
            7,
            1_706_400_000_000,
            new Dictionary<string, ulong> { ["src1"] = 100, ["src2"] = 200 },
            new Dictionary<string, ulong> { ["sink1"] = 50 },
            new Dictionary<string, long> { ["src1"] = 5000, ["src2"] = 6000 },
            new Dictionary<string, byte[]> { ["op1"] = [1, 2, 3, 4] });

        var restored = StreamSnapshotCodec.Decode(StreamSnapshotCodec.Encode(checkpoint));

        restored.Id.ShouldBe(42ul);
        restored.Epoch.ShouldBe(7ul);
        restored.CreatedAtUnixMilliseconds.ShouldBe(1_706_400_000_000);
        restored.CreatedAt.ShouldBe(DateTimeOffset.FromUnixTimeMilliseconds(1_706_400_000_000));
        restored.SourceSequences["src1"].ShouldBe(100ul);
        restored.SourceSequences["src2"].ShouldBe(200ul);
        restored.SinkPositions["sink1"].ShouldBe(50ul);
        restored.Watermarks["src1"].ShouldBe(5000);
        restored.Watermarks["src2"].ShouldBe(6000);
        restored.OperatorStates["op1"].ToArray().ShouldBe(new byte[] { 1, 2, 3, 4 });
        restored.ShouldBe(checkpoint);
    }

    [Fact]
    public void Encode_CrcProtectedCheckpoint_RoundTrips()
    {
        var checkpoint = new StreamCheckpoint(
            42,
            10,
            0,
            new Dictionary<string, ulong> { ["kafka"] = 1000 },
            watermarks: new Dictionary<string, long> { ["src"] = 500 },
            operatorStates: new Dictionary<string, byte[]> { ["agg"] = [1, 2, 3] });

        var restored = StreamSnapshotCodec.Decode(StreamSnapshotCodec.Encode(checkpoint));

        restored.Epoch.ShouldBe(10ul);
        restored.SourceSequences["kafka"].ShouldBe(1000ul);
        restored.Watermarks["src"].ShouldBe(500);
        restored.OperatorStates["agg"].ToArray().ShouldBe(new byte[] { 1, 2, 3 });
    }

    [Fact]
    public void Encode_GoldenCheckpoint_MatchesGoldenFileByteForByte() =>
        StreamSnapshotCodec.Encode(GoldenCheckpoint()).ShouldBe(File.ReadAllBytes(GoldenPath("stream-snapshot-v2.bin")));

    [Fact]
    public void Decode_GoldenFile_EqualsGoldenCheckpoint() =>
        StreamSnapshotCodec.Decode(File.ReadAllBytes(GoldenPath("stream-snapshot-v2.bin"))).ShouldBe(GoldenCheckpoint());

    [Fact]
    public void Encode_EmptyCheckpoint_MatchesMinimalGoldenFile()
    {
        var bytes = Empty();
        bytes.Length.ShouldBe(StreamSnapshotCodec.MinimumLength);
        bytes.ShouldBe(File.ReadAllBytes(GoldenPath("stream-snapshot-v2-empty.bin")));
    }

    [Fact]
    public void Encode_SameContentInAnyInsertionOrder_ProducesSameBytes()
    {
        var a = new StreamCheckpoint(1, 1, 5, new Dictionary<string, ulong> { ["b"] = 2, ["a"] = 1, ["c"] = 3 });
        var b = new StreamCheckpoint(1, 1, 5, new Dictionary<string, ulong> { ["c"] = 3, ["a"] = 1, ["b"] = 2 });
        StreamSnapshotCodec.Encode(a).ShouldBe(StreamSnapshotCodec.Encode(b));
        a.ShouldBe(b);
        a.GetHashCode().ShouldBe(b.GetHashCode());
    }

    [Fact]
    public void Encode_IntoSpan_WritesExactLengthWithoutAllocating()
    {
        var checkpoint = GoldenCheckpoint();
        var length = StreamSnapshotCodec.GetEncodedLength(checkpoint);
        var buffer = new byte[length + 10];
        StreamSnapshotCodec.Encode(checkpoint, buffer); // warm up
        var before = GC.GetAllocatedBytesForCurrentThread();
        var written = StreamSnapshotCodec.Encode(checkpoint, buffer);
        (GC.GetAllocatedBytesForCurrentThread() - before).ShouldBe(0);
        written.ShouldBe(length);
        buffer.AsSpan(0, written).ToArray().ShouldBe(StreamSnapshotCodec.Encode(checkpoint));
    }

    [Fact]
    public void Encode_DestinationTooSmall_ThrowsArgumentException() =>
        Should.Throw<ArgumentException>(() => StreamSnapshotCodec.Encode(GoldenCheckpoint(), new byte[10]));

    [Fact]
    public void Decode_FlippedPayloadByte_ReportsCrcMismatch()
    {
        var bytes = Empty();
        bytes[5] ^= 0xFF;
        var ex = Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(bytes));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain("CRC mismatch");
        ex.Message.ShouldContain("stored 0x");
        ex.Message.ShouldContain("computed 0x");
    }

    [Fact]
    public void Decode_Version1_IsRejectedAsUnsupported()
    {
        var bytes = new byte[41];
        bytes[0] = 1;
        var ex = Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(bytes));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.UnsupportedFormatVersion);
        ex.Message.ShouldContain("unsupported checkpoint version: 1");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(255)]
    public void Decode_OtherVersions_AreRejectedAsUnsupported(byte version)
    {
        var bytes = Empty();
        bytes[0] = version;
        var ex = Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(bytes));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.UnsupportedFormatVersion);
        ex.Message.ShouldContain($"unsupported checkpoint version: {version}");
    }

    [Fact]
    public void Decode_Empty_ReportsTruncation()
    {
        var ex = Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode([]));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain("truncated version byte at offset 0: need 1 bytes, have 0");
    }

    [Fact]
    public void Decode_ShorterThanMinimum_ReportsTruncationWithSizes()
    {
        var ex = Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(Empty().AsSpan(0, 20)));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain("truncated snapshot at offset 0: need at least 45 bytes, have 20");
    }

    [Fact]
    public void Decode_TruncatedNameBehindValidCrc_ReportsOffsetAndSizes()
    {
        // One source whose name claims 100 bytes while only 14 follow before the CRC.
        var bytes = new List<byte> { 2 };
        bytes.AddRange(new byte[24]);
        bytes.AddRange(BitConverter.GetBytes(1u));
        bytes.AddRange(BitConverter.GetBytes(100u));
        bytes.AddRange("ab"u8.ToArray());
        bytes.AddRange(new byte[12]);
        bytes.AddRange(new byte[4]);
        var snapshot = Reseal([.. bytes]);
        var ex = Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(snapshot));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain("truncated source sequences name at offset 33");
        ex.Message.ShouldContain("need 100 bytes, have 14");
    }

    [Fact]
    public void Decode_HugeCountBehindValidCrc_IsRejectedWithoutAllocatingForIt()
    {
        var bytes = Empty();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(25), uint.MaxValue);
        Reseal(bytes);
        _ = Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(bytes)); // warm up
        var before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(bytes));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        ex.Message.ShouldContain("source sequences count 4294967295 at offset 25");
        allocated.ShouldBeLessThan(16 * 1024);
    }

    [Fact]
    public void Decode_HugeOperatorStateLengthBehindValidCrc_IsRejectedAsTruncated()
    {
        var checkpoint = new StreamCheckpoint(1, 1, 0, operatorStates: new Dictionary<string, byte[]> { ["op"] = [9] });
        var bytes = StreamSnapshotCodec.Encode(checkpoint);
        // Layout: 1 + 24 + 3 empty counts (12) + op count (4) + name (4 + 2) → the state length is at offset 47.
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(47), 0x7FFF_FFF0);
        var ex = Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(Reseal(bytes)));
        ex.Message.ShouldContain("truncated operator state at offset 51");
        ex.Message.ShouldContain("need 2147483632 bytes, have 1");
    }

    [Fact]
    public void Decode_InvalidUtf8NameBehindValidCrc_IsCorrupt()
    {
        var checkpoint = new StreamCheckpoint(1, 1, 0, new Dictionary<string, ulong> { ["ab"] = 1 });
        var bytes = StreamSnapshotCodec.Encode(checkpoint);
        bytes[33] = 0xC3; // a lead byte followed by 'b': not valid UTF-8
        var ex = Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(Reseal(bytes)));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain("source sequences name at offset 29 is not valid UTF-8");
    }

    [Fact]
    public void Decode_DuplicateNameBehindValidCrc_IsCorrupt()
    {
        var checkpoint = new StreamCheckpoint(1, 1, 0, sinkPositions: new Dictionary<string, ulong> { ["aa"] = 1, ["ab"] = 2 });
        var bytes = StreamSnapshotCodec.Encode(checkpoint);
        // Sinks start at 1 + 24 + 4 (empty sources) = 29: count, then "aa" (4 + 2 + 8), then the name of "ab" at 47.
        bytes[47 + 4 + 1] = (byte)'a';
        var ex = Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(Reseal(bytes)));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain("duplicate sink positions name 'aa' at offset 47");
    }

    [Fact]
    public void Decode_TrailingBytesBehindValidCrc_IsCorrupt()
    {
        var bytes = Empty();
        var longer = new byte[bytes.Length + 3];
        bytes.AsSpan(0, bytes.Length - 4).CopyTo(longer);
        var ex = Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(Reseal(longer)));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain("3 trailing bytes at offset 41");
    }

    [Fact]
    public void Decode_CreatedAtOutOfRangeBehindValidCrc_IsCorrupt()
    {
        var bytes = Empty();
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(17), long.MaxValue);
        var ex = Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(Reseal(bytes)));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain("created-at 9223372036854775807 ms at offset 17");
    }

    [Fact]
    public void Decode_WithOrigin_NamesItInMessageAndPath()
    {
        var bytes = Empty();
        bytes[10] ^= 1;
        var ex = Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(bytes, "/data/x.snap"));
        ex.Message.ShouldContain("'/data/x.snap'");
        ex.Path.ShouldBe("/data/x.snap");
    }

    [Fact]
    public void Constructor_DuplicateOrMalformedNames_AreRejected()
    {
        Should.Throw<ArgumentException>(() => new StreamCheckpoint(1, 1, 0, [new("a", 1ul), new("a", 2ul)]));
        Should.Throw<ArgumentException>(() => new StreamCheckpoint(1, 1, 0, [new("bad\uD800", 1ul)]));
        Should.Throw<ArgumentOutOfRangeException>(() => new StreamCheckpoint(1, 1, long.MaxValue));
    }

    [Fact]
    public void Constructor_OperatorState_IsCopied()
    {
        var state = new byte[] { 1, 2 };
        var checkpoint = new StreamCheckpoint(1, 1, 0, operatorStates: new Dictionary<string, byte[]> { ["op"] = state });
        state[0] = 9;
        checkpoint.OperatorStates["op"].Span[0].ShouldBe((byte)1);
    }

    // Another writer may store a map in any order (docs/snapshot-format.md); the decoder sorts it and still finds duplicates.
    private static byte[] ThreeSinks(char firstNameSecondLetter)
    {
        var checkpoint = new StreamCheckpoint(1, 1, 0, sinkPositions: new Dictionary<string, ulong> { ["aa"] = 1, ["ab"] = 2, ["ac"] = 3 });
        var bytes = StreamSnapshotCodec.Encode(checkpoint);
        // Sinks start at 29: the count, then three entries of 14 bytes whose names are at 33, 47 and 61.
        bytes[33 + 4 + 1] = (byte)firstNameSecondLetter;
        return Reseal(bytes);
    }

    [Fact]
    public void Decode_EntriesOutOfOrderBehindValidCrc_AreAcceptedAndSorted()
    {
        var restored = StreamSnapshotCodec.Decode(ThreeSinks('d')); // "ad", "ab", "ac"

        restored.SinkPositions.ShouldBe(new Dictionary<string, ulong> { ["ab"] = 2, ["ac"] = 3, ["ad"] = 1 });
        StreamSnapshotCodec.Decode(StreamSnapshotCodec.Encode(restored)).ShouldBe(restored);
        StreamSnapshotCodec.Encode(restored).ShouldBe(StreamSnapshotCodec.Encode(
            new StreamCheckpoint(1, 1, 0, sinkPositions: new Dictionary<string, ulong> { ["ad"] = 1, ["ab"] = 2, ["ac"] = 3 })));
    }

    [Fact]
    public void Decode_DuplicateNameAfterEntriesOutOfOrder_IsCorrupt()
    {
        var ex = Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(ThreeSinks('c'))); // "ac", "ab", "ac"

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain("duplicate sink positions name 'ac' at offset 61");
    }

    [Fact]
    public void Decode_WatermarkNamedLikeItsSource_SharesTheSourceNameString()
    {
        var restored = StreamSnapshotCodec.Decode(StreamSnapshotCodec.Encode(GoldenCheckpoint()));

        restored.WatermarkEntries.Length.ShouldBe(restored.SourceSequenceEntries.Length);
        for (var i = 0; i < restored.WatermarkEntries.Length; i++)
        {
            var (source, watermark) = (restored.SourceSequenceEntries[i].Key, restored.WatermarkEntries[i].Key);
            watermark.ShouldBe(source);

            // ASCII names are shared; "zürich" is not ASCII and is decoded on its own (equal, another instance).
            ReferenceEquals(watermark, source).ShouldBe(source.All(char.IsAscii));
        }

        restored.ShouldBe(GoldenCheckpoint());
    }

    [Fact]
    public void Dictionaries_BuiltOnFirstUse_AreTheSameInstanceEveryTime()
    {
        var checkpoint = StreamSnapshotCodec.Decode(StreamSnapshotCodec.Encode(GoldenCheckpoint()));

        checkpoint.SourceSequences.ShouldBeSameAs(checkpoint.SourceSequences);
        checkpoint.SinkPositions.ShouldBeSameAs(checkpoint.SinkPositions);
        checkpoint.Watermarks.ShouldBeSameAs(checkpoint.Watermarks);
        checkpoint.OperatorStates.ShouldBeSameAs(checkpoint.OperatorStates);
        checkpoint.Watermarks["zürich"].ShouldBe(-1);
    }

    [Fact]
    public void GetEncodedLength_EveryWayACheckpointIsMade_IsTheEncodedLength()
    {
        var built = GoldenCheckpoint();
        var decoded = StreamSnapshotCodec.Decode(StreamSnapshotCodec.Encode(built));
        var manager = new StreamCheckpointManager(new StreamCheckpointOptions());
        manager.RegisterSource("zürich").PublishSequence(3);
        manager.RegisterSource("src1").AdvanceWatermark(7);
        manager.RegisterSink("sink1", 5);
        manager.SetOperatorState("op1", [1, 2, 3]);
        var captured = manager.GetCheckpoint(manager.Trigger()!.Value)!;

        foreach (var checkpoint in new[] { built, decoded, captured })
        {
            StreamSnapshotCodec.GetEncodedLength(checkpoint).ShouldBe(StreamSnapshotCodec.Encode(checkpoint).Length);
        }
    }
}
