using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using Cdc.Checkpoint.Cursors;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using Cdc.Checkpoint.Proof.Tests.Support;
using Cdc.Checkpoint.Streaming;
using FsCheck;
using FsCheck.Fluent;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Proof.Tests.Fuzzing;

/// <summary>
/// Fuzzing of every reader of untrusted input: FsCheck generates inputs by mutating valid files and texts, by building
/// random documents from each format's own vocabulary, and as plain random bytes. CI runs CDC_FUZZ_CASES (10,000)
/// cases per parser; the published run sets CDC_FUZZ_CASES=1000000 (docs/RELIABILITY.md). For every input: only the
/// parser's typed exception may escape, an accepted input survives format → parse unchanged, and one parse allocates
/// at most a small multiple of its input plus a constant, so no length or count field can make a reader allocate
/// beyond the bytes it was given.
/// </summary>
public sealed partial class ParserFuzzTests(ITestOutputHelper output)
{
    // Allocation bounds: bytes per input byte, plus a constant for exception objects, messages and stack traces.
    private const long JsonPerByte = 48;
    private const long TextPerByte = 48;
    private const long BinaryPerByte = 16;
    private const long Constant = 128 * 1024;
    private const long BinaryConstant = 32 * 1024;

    private static int Cases => ProofSettings.FuzzCases;

    private static Func<long, long> Bound(long perByte, long constant = Constant) => length => (perByte * length) + constant;

    private static Gen<FuzzCase> Inputs(Gen<byte[]> seeds, string[] dictionary, Gen<FuzzCase> generated) => Gen.Frequency(
        (12, Mutator.Mutated(seeds, dictionary)),
        (4, generated),
        (2, Mutator.RandomBytes),
        (1, seeds.Select(b => new FuzzCase(b, "valid seed"))));

    private static bool IsCheckpointError(Exception ex, params CheckpointErrorCode[] codes) =>
        ex is CheckpointException checkpoint && codes.Contains(checkpoint.ErrorCode);

    private FuzzStats Report(FuzzStats stats)
    {
        output.WriteLine(stats.ToString());
        stats.Cases.ShouldBe(Cases);
        stats.Accepted.ShouldBeGreaterThan(0, "the inputs must reach the parser's success path, not only its first check");
        stats.Rejected.ShouldBeGreaterThan(0);
        return stats;
    }

    [Fact]
    public void RecordJson_MutatedGeneratedAndRandom_OnlyCorruptOrUnsupportedVersionAndBoundedMemory()
    {
        var dictionary = Corpus.JsonDictionary(Corpus.Records);
        Report(Fuzz.Run(
            "record JSON",
            Inputs(Corpus.Records, dictionary, Corpus.JsonDocuments(dictionary)),
            bytes => CheckpointRecordFile.Parse(bytes, RecordPathFor(bytes), Corpus.Codecs),
            value =>
            {
                var record = (CheckpointRecord)value!;
                var path = "/fuzz/" + CheckpointRecordFile.FileNameFor(record.SourceType);
                var again = CheckpointRecordFile.Parse(CheckpointRecordFile.Serialize(record), path, Corpus.Codecs);
                again.SourceType.ShouldBe(record.SourceType);
                again.CommittedEventCount.ShouldBe(record.CommittedEventCount);
                again.Sequence.ShouldBe(record.Sequence);
                again.SavedAt.ShouldBe(record.SavedAt);
                again.Offset.ShouldBe(record.Offset);
                again.Offset.ToJsonString().ShouldBe(record.Offset.ToJsonString());
            },
            ex => IsCheckpointError(ex, CheckpointErrorCode.Corrupt, CheckpointErrorCode.UnsupportedFormatVersion),
            Bound(JsonPerByte),
            Cases));
    }

    [Fact]
    public void LeaseFile_MutatedGeneratedAndRandom_NeverThrowsAndBoundedMemory()
    {
        var dictionary = Corpus.JsonDictionary(Corpus.LeaseFiles);
        Report(Fuzz.Run(
            "lease file",
            Inputs(Corpus.LeaseFiles, dictionary, Corpus.JsonDocuments(dictionary)),
            bytes => LeaseInfo.TryParse(bytes) ?? throw new NotALease(),
            value =>
            {
                var lease = (LeaseInfo)value!;
                LeaseInfo.TryParse(lease.ToJsonBytes()).ShouldBe(lease);
            },
            ex => ex is NotALease,
            Bound(JsonPerByte),
            Cases));
    }

    [Fact]
    public void SnapshotBinary_MutatedWithAndWithoutValidCrcAndRandom_OnlyCorruptOrUnsupportedVersionAndBoundedMemory()
    {
        // Half of the mutated inputs get a correct CRC-32C, so the mutations reach the structure behind the checksum.
        var mutated = from input in Mutator.Mutated(Corpus.Snapshots, Corpus.SnapshotDictionary)
                      from fix in Gen.Elements(false, true)
                      select fix ? new FuzzCase(WithValidCrc(input.Bytes), input.Origin + ", CRC fixed") : input;
        var stats = Report(Fuzz.Run(
            "snapshot binary",
            Gen.Frequency((12, mutated), (2, Mutator.RandomBytes.Select(c => new FuzzCase(WithValidCrc(c.Bytes), "random bytes, CRC fixed"))), (2, Mutator.RandomBytes), (1, Corpus.Snapshots.Select(b => new FuzzCase(b, "valid seed")))),
            bytes => StreamSnapshotCodec.Decode(bytes),
            value =>
            {
                var snapshot = (StreamCheckpoint)value!;
                StreamSnapshotCodec.Decode(StreamSnapshotCodec.Encode(snapshot)).ShouldBe(snapshot);
            },
            ex => IsCheckpointError(ex, CheckpointErrorCode.Corrupt, CheckpointErrorCode.UnsupportedFormatVersion),
            Bound(BinaryPerByte, BinaryConstant),
            Cases));
        stats.MaxAllocatedBytes.ShouldBeLessThan(Bound(BinaryPerByte, BinaryConstant)(stats.MaxInputBytes));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void SnapshotBinary_CountClaimingFourBillionEntriesWithValidCrc_RejectedWithoutAllocatingForIt(int section)
    {
        // An empty snapshot whose count of section N says 0xFFFFFFFF, CRC fixed: a decoder that trusted the count would
        // try to allocate gigabytes.
        var bytes = StreamSnapshotCodec.Encode(new StreamCheckpoint(1, 1, 0));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(1 + 24 + (4 * section)), uint.MaxValue);
        bytes = WithValidCrc(bytes);

        var ex = Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(bytes));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        var allocated = AllocatedBy(() => Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(bytes)));
        allocated.ShouldBeLessThan(BinaryConstant);
    }

    [Fact]
    public void SnapshotBinary_NameAndStateLengthsClaimingFourGigabytesWithValidCrc_RejectedWithoutAllocatingForThem()
    {
        var bytes = StreamSnapshotCodec.Encode(new StreamCheckpoint(1, 1, 0, operatorStates: [new("op", [1, 2, 3])]));
        var stateCountAt = 1 + 24 + 12;

        var nameLength = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(nameLength.AsSpan(stateCountAt + 4), uint.MaxValue);
        var stateLength = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(stateLength.AsSpan(stateCountAt + 4 + 4 + 2), 0x7FFFFFFF);

        foreach (var hostile in new[] { WithValidCrc(nameLength), WithValidCrc(stateLength) })
        {
            Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(hostile)).ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
            AllocatedBy(() => Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(hostile))).ShouldBeLessThan(BinaryConstant);
        }
    }

    [Fact]
    public void ManifestJson_MutatedGeneratedAndRandom_OnlyCorruptOrUnsupportedVersionAndBoundedMemory()
    {
        var dictionary = Corpus.JsonDictionary(Corpus.Manifests);
        Report(Fuzz.Run(
            "manifest JSON",
            Inputs(Corpus.Manifests, dictionary, Corpus.JsonDocuments(dictionary)),
            bytes => ManifestFormat.Parse(bytes, "/fuzz/manifest.json", Corpus.Codecs),
            value =>
            {
                var bytes = ManifestFormat.Serialize((CheckpointManifest)value!);
                ManifestFormat.Serialize(ManifestFormat.Parse(bytes, "/fuzz/manifest.json", Corpus.Codecs)).ShouldBe(bytes);
            },
            ex => IsCheckpointError(ex, CheckpointErrorCode.Corrupt, CheckpointErrorCode.UnsupportedFormatVersion),
            Bound(JsonPerByte),
            Cases));
    }

    [Fact]
    public void CursorFile_MutatedGeneratedAndRandom_OnlyCorruptUnsupportedOrIdentityMismatchAndBoundedMemory()
    {
        var dictionary = Corpus.JsonDictionary(Corpus.CursorFiles);
        Report(Fuzz.Run(
            "cursor file",
            Inputs(Corpus.CursorFiles, dictionary, Corpus.JsonDocuments(dictionary)),
            bytes => CursorFileFormat.Decode(bytes, "/fuzz/cursors/orders.cursor.json", Corpus.CursorId, Corpus.CursorIdentity),
            value =>
            {
                var cursor = (CursorCheckpoint)value!;
                CursorFileFormat.Decode(CursorFileFormat.Encode(Corpus.CursorId, cursor), "/fuzz/x", Corpus.CursorId, Corpus.CursorIdentity).ShouldBe(cursor);
            },
            ex => IsCheckpointError(ex, CheckpointErrorCode.Corrupt, CheckpointErrorCode.UnsupportedFormatVersion, CheckpointErrorCode.IdentityMismatch),
            Bound(JsonPerByte),
            Cases));
    }

    [Fact]
    public void MySqlGtidSetText_MutatedGeneratedAndRandom_OnlyFormatExceptionAndBoundedMemory() =>
        Report(Fuzz.Run(
            "MySQL GTID set",
            Inputs(Corpus.Text(Corpus.GtidSetTexts), Corpus.GtidDictionary, Mutator.TokenText([.. Corpus.GtidDictionary, "2", "5", "-", ":", "a"])),
            bytes => GtidSet.Parse(Encoding.UTF8.GetString(bytes)),
            value =>
            {
                var set = (GtidSet)value!;
                var again = GtidSet.Parse(set.ToString());
                again.ShouldBe(set);
                again.ToString().ShouldBe(set.ToString());
            },
            ex => ex is FormatException,
            Bound(TextPerByte),
            Cases));

    [Fact]
    public void MariaDbGtidPositionText_MutatedGeneratedAndRandom_OnlyFormatExceptionAndBoundedMemory() =>
        Report(Fuzz.Run(
            "MariaDB GTID position",
            Inputs(Corpus.Text(Corpus.MariaDbPositionTexts), Corpus.MariaDbDictionary, Mutator.TokenText([.. Corpus.MariaDbDictionary, "7", "-", "-", ","])),
            bytes => MariaDbGtidPosition.Parse(Encoding.UTF8.GetString(bytes)),
            value =>
            {
                var position = (MariaDbGtidPosition)value!;
                MariaDbGtidPosition.Parse(position.ToString()).ShouldBe(position);
            },
            ex => ex is FormatException,
            Bound(TextPerByte),
            Cases));

    [Fact]
    public void BinlogPositionText_MutatedGeneratedAndRandom_OnlyFormatExceptionAndBoundedMemory() =>
        Report(Fuzz.Run(
            "binlog position",
            Inputs(Corpus.Text(Corpus.BinlogTexts), Corpus.BinlogDictionary, Mutator.TokenText([.. Corpus.BinlogDictionary, "a", "b", "1", "-"])),
            bytes => BinlogPosition.Parse(Encoding.UTF8.GetString(bytes)),
            value =>
            {
                var position = (BinlogPosition)value!;
                BinlogPosition.Parse(position.ToString()).ShouldBe(position);
            },
            ex => ex is FormatException,
            Bound(TextPerByte),
            Cases));

    [Fact]
    public void PostgresLsnText_MutatedGeneratedAndRandom_OnlyFormatExceptionAndBoundedMemory() =>
        Report(Fuzz.Run(
            "PostgreSQL LSN",
            Inputs(Corpus.Text(Corpus.LsnTexts), Corpus.LsnDictionary, Mutator.TokenText([.. Corpus.LsnDictionary, "1", "a", "9"])),
            bytes => PostgresOffset.ParseLsn(Encoding.UTF8.GetString(bytes)),
            value =>
            {
                var lsn = (NpgsqlTypes.NpgsqlLogSequenceNumber)value!;
                PostgresOffset.ParseLsn(PostgresOffset.FormatLsn(lsn)).ShouldBe(lsn);
            },
            ex => ex is FormatException,
            Bound(TextPerByte),
            Cases));

    [Theory]
    [InlineData(PostgresOffset.StreamingSourceType)]
    [InlineData(MySqlOffset.DefaultSourceType)]
    [InlineData(MariaDbOffset.DefaultSourceType)]
    public void OffsetJsonOfEveryCodec_MutatedGeneratedAndRandom_OnlyFormatExceptionAndBoundedMemory(string sourceType)
    {
        // Offset JSON typed by an operator (`cdc-checkpoint seed`, FileCheckpoint.SeedRawAsync) goes through the same codecs.
        Gen<byte[]> seeds = sourceType switch
        {
            PostgresOffset.StreamingSourceType => Corpus.PostgresOffsets.Where(o => o.SourceType == sourceType).Select(o => Encoding.UTF8.GetBytes(o.ToJsonString())),
            MySqlOffset.DefaultSourceType => Corpus.MySqlOffsets.Select(o => Encoding.UTF8.GetBytes(o.ToJsonString())),
            _ => Corpus.MariaDbOffsets.Select(o => Encoding.UTF8.GetBytes(o.ToJsonString())),
        };
        var dictionary = Corpus.JsonDictionary(seeds);
        Report(Fuzz.Run(
            $"{sourceType} offset JSON",
            Inputs(seeds, dictionary, Corpus.JsonDocuments(dictionary)),
            bytes => Corpus.Codecs.Read(sourceType, GenericOffset.Parse(sourceType, Encoding.UTF8.GetString(bytes)).Value, FileCheckpoint.CurrentFormatVersion),
            value =>
            {
                var offset = (CheckpointOffset)value!;
                var again = Corpus.Codecs.Read(sourceType, GenericOffset.Parse(sourceType, offset.ToJsonString()).Value, FileCheckpoint.CurrentFormatVersion);
                again.ShouldBe(offset);
            },
            ex => ex is FormatException,
            Bound(JsonPerByte),
            Cases));
    }

    private static string RecordPathFor(byte[] bytes)
    {
        // A record must live in the file its source_type names; parse each input under the name it claims (when that
        // is a valid name), so that inputs get past the name check to the offset codecs.
        var match = SourceTypeRegex().Match(Encoding.UTF8.GetString(bytes));
        var sourceType = match.Success && SourceTypeName.IsValid(match.Groups[1].Value) ? match.Groups[1].Value : "postgres";
        return "/fuzz/" + CheckpointRecordFile.FileNameFor(sourceType);
    }

    private static byte[] WithValidCrc(byte[] bytes)
    {
        if (bytes.Length < 5)
        {
            return bytes;
        }

        var copy = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(copy.Length - 4), Crc32C.Compute(copy.AsSpan(1, copy.Length - 5)));
        return copy;
    }

    private static long AllocatedBy(Action action)
    {
        action(); // warm: one-time costs are not the decoder's
        var before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [GeneratedRegex("\"source_type\"\\s*:\\s*\"([^\"]*)\"")]
    private static partial Regex SourceTypeRegex();

    /// <summary>Stands for "not a lease file" (TryParse returned null), the only rejection a lease read has.</summary>
    private sealed class NotALease : Exception;
}
