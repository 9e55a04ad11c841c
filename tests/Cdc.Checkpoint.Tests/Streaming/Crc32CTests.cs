using System.Text;
using Cdc.Checkpoint.Streaming;
using FsCheck;
using FsCheck.Fluent;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Streaming;

public sealed class Crc32CTests
{
    // The bit-at-a-time definition: slow and obviously right, the reference the fast path is checked against.
    private static uint Reference(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFF_FFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var i = 0; i < 8; i++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78u : crc >> 1;
            }
        }

        return ~crc;
    }

    [Fact]
    public void Compute_CheckString_MatchesStandardVector() =>
        Crc32C.Compute("123456789"u8).ShouldBe(0xE306_9283u);

    [Fact]
    public void Compute_ThirtyTwoZeroBytes_MatchesRfc3720Vector() =>
        Crc32C.Compute(new byte[32]).ShouldBe(0x8A91_36AAu);

    [Fact]
    public void Compute_ThirtyTwoOnesBytes_MatchesRfc3720Vector() =>
        Crc32C.Compute(Enumerable.Repeat((byte)0xFF, 32).ToArray()).ShouldBe(0x62A8_AB43u);

    [Fact]
    public void Compute_AscendingBytes_MatchesRfc3720Vector() =>
        Crc32C.Compute(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()).ShouldBe(0x46DD_794Eu);

    [Fact]
    public void Compute_DescendingBytes_MatchesRfc3720Vector() =>
        Crc32C.Compute(Enumerable.Range(0, 32).Select(i => (byte)(31 - i)).ToArray()).ShouldBe(0x113F_DB5Cu);

    [Fact]
    public void Compute_Empty_IsZero() => Crc32C.Compute([]).ShouldBe(0u);

    [Fact]
    public void Compute_EveryLengthUpTo100_MatchesBitwiseReference()
    {
        var data = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 3)));
        for (var length = 0; length <= 100; length++)
        {
            Crc32C.Compute(data.AsSpan(0, length)).ShouldBe(Reference(data.AsSpan(0, length)), $"length {length}");
        }
    }

    [Fact]
    public void Compute_RandomData_MatchesBitwiseReference() =>
        Prop.ForAll(
            Arb.From(ArbMap.Default.GeneratorFor<byte[]>()),
            data => Crc32C.Compute(data) == Reference(data))
        .QuickCheckThrowOnFailure();

    [Fact]
    public void Append_SplitAnywhere_EqualsWholeComputation() =>
        Prop.ForAll(
            Arb.From(ArbMap.Default.GeneratorFor<byte[]>()),
            Arb.From(Gen.Choose(0, 1000)),
            (data, cut) =>
            {
                var split = Math.Min(cut, data.Length);
                return Crc32C.Append(Crc32C.Compute(data.AsSpan(0, split)), data.AsSpan(split)) == Crc32C.Compute(data);
            })
        .QuickCheckThrowOnFailure();

    [Fact]
    public void Append_EveryLengthUpTo100FromEmpty_MatchesBitwiseReference()
    {
        // Append keeps its own instruction loop (the package cannot continue a finished CRC): check it on its own too.
        var data = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 3)));
        for (var length = 0; length <= 100; length++)
        {
            Crc32C.Append(0, data.AsSpan(0, length)).ShouldBe(Reference(data.AsSpan(0, length)), $"length {length}");
        }
    }
}
