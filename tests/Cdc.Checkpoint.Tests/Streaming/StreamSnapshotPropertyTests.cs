using Cdc.Checkpoint.Streaming;
using FsCheck;
using FsCheck.Fluent;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Streaming;

public sealed class StreamSnapshotPropertyTests
{
    // Name pieces cover ASCII, 2- and 3-byte UTF-8 and a surrogate pair (4-byte UTF-8).
    private static readonly string[] NamePieces = ["a", "b", "Z", "0", "_", "-", "ü", "€", "日", "😀"];

    private static readonly Gen<string> NameGen =
        Gen.Choose(1, 6).SelectMany(n => Gen.ArrayOf(Gen.Elements(NamePieces), n)).Select(string.Concat);

    private static readonly Gen<ulong> UInt64Gen = Gen.OneOf(
        ArbMap.Default.GeneratorFor<ulong>(),
        Gen.Elements(0ul, 1ul, ulong.MaxValue));

    private static readonly Gen<long> Int64Gen = Gen.OneOf(
        ArbMap.Default.GeneratorFor<long>(),
        Gen.Elements(long.MinValue, -1L, 0L, long.MaxValue));

    private static Gen<KeyValuePair<string, T>[]> MapGen<T>(Gen<T> valueGen) =>
        Gen.ListOf(Gen.Zip(NameGen, valueGen))
            .Select(pairs => pairs.DistinctBy(p => p.Item1, StringComparer.Ordinal).Select(p => new KeyValuePair<string, T>(p.Item1, p.Item2)).ToArray());

    internal static readonly Gen<StreamCheckpoint> CheckpointGen =
        from id in UInt64Gen
        from epoch in UInt64Gen
        from createdAt in Gen.Choose(0, int.MaxValue).Select(x => (long)x * 1000)
        from sources in MapGen(UInt64Gen)
        from sinks in MapGen(UInt64Gen)
        from watermarks in MapGen(Int64Gen)
        from states in MapGen(ArbMap.Default.GeneratorFor<byte[]>())
        select new StreamCheckpoint(id, epoch, createdAt, sources, sinks, watermarks, states);

    private static readonly Config Config = Config.QuickThrowOnFailure.WithMaxTest(300);

    [Fact]
    public void EncodeDecode_AnyCheckpoint_RoundTripsExactly() =>
        Check.One(Config, Prop.ForAll(Arb.From(CheckpointGen), checkpoint =>
        {
            var bytes = StreamSnapshotCodec.Encode(checkpoint);
            var decoded = StreamSnapshotCodec.Decode(bytes);
            return decoded.Equals(checkpoint) && StreamSnapshotCodec.Encode(decoded).AsSpan().SequenceEqual(bytes);
        }));

    [Fact]
    public void Decode_AnySingleByteChange_IsRejected() =>
        Check.One(Config, Prop.ForAll(
            Arb.From(CheckpointGen),
            Arb.From(Gen.Choose(0, int.MaxValue)),
            Arb.From(Gen.Choose(1, 255)),
            (checkpoint, where, mask) =>
            {
                var bytes = StreamSnapshotCodec.Encode(checkpoint);
                var index = where % bytes.Length;
                bytes[index] ^= (byte)mask;
                var ex = Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(bytes));
                ex.ErrorCode.ShouldBe(index == 0 ? CheckpointErrorCode.UnsupportedFormatVersion : CheckpointErrorCode.Corrupt);
            }));

    [Fact]
    public void Decode_EveryTruncation_IsRejected() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(100), Prop.ForAll(Arb.From(CheckpointGen), checkpoint =>
        {
            var bytes = StreamSnapshotCodec.Encode(checkpoint);
            for (var length = 0; length < bytes.Length; length++)
            {
                var ex = Should.Throw<CheckpointException>(() => StreamSnapshotCodec.Decode(bytes.AsSpan(0, length)));
                ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
            }
        }));

    [Fact]
    public void Decode_RandomBytes_ThrowsOnlyCheckpointException() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(1000), Prop.ForAll(Arb.From(ArbMap.Default.GeneratorFor<byte[]>()), data =>
        {
            DecodeOrCheckpointException(data);
            if (data.Length > 0)
            {
                data[0] = StreamSnapshotCodec.FormatVersion;
                DecodeOrCheckpointException(data);
            }
        }));

    [Fact]
    public void Decode_RandomPayloadWithValidCrc_ThrowsOnlyCheckpointException() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(1000), Prop.ForAll(Arb.From(ArbMap.Default.GeneratorFor<byte[]>()), payload =>
        {
            var snapshot = new byte[payload.Length + 5];
            snapshot[0] = StreamSnapshotCodec.FormatVersion;
            payload.CopyTo(snapshot, 1);
            DecodeOrCheckpointException(StreamSnapshotCodecTests.Reseal(snapshot));
        }));

    [Fact]
    public void Decode_MutatedStructureWithValidCrc_ThrowsOnlyCheckpointException() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(1000), Prop.ForAll(
            Arb.From(CheckpointGen),
            Arb.From(Gen.ListOf(Gen.Zip(Gen.Choose(0, int.MaxValue), ArbMap.Default.GeneratorFor<byte>()))),
            (checkpoint, edits) =>
            {
                var bytes = StreamSnapshotCodec.Encode(checkpoint);
                foreach (var (where, value) in edits)
                {
                    // Edit the payload only (not the version byte, not the CRC).
                    bytes[1 + (where % (bytes.Length - 5))] = value;
                }

                DecodeOrCheckpointException(StreamSnapshotCodecTests.Reseal(bytes));
            }));

    private static void DecodeOrCheckpointException(byte[] data)
    {
        try
        {
            _ = StreamSnapshotCodec.Decode(data);
        }
        catch (CheckpointException ex)
        {
            ex.ErrorCode.ShouldBeOneOf(CheckpointErrorCode.Corrupt, CheckpointErrorCode.UnsupportedFormatVersion);
        }
    }
}
