using System.Buffers.Binary;
using System.IO.Hashing;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ArmCrc32 = System.Runtime.Intrinsics.Arm.Crc32;
using X86Sse42 = System.Runtime.Intrinsics.X86.Sse42;

namespace Cdc.Checkpoint.Streaming;

/// <summary>
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF): the
/// checksum of the record, snapshot and log formats. <c>Compute("123456789") == 0xE3069283</c>.
/// </summary>
/// <remarks>
/// <see cref="Compute"/> is System.IO.Hashing's <see cref="Crc32ParameterSet.Crc32C"/>, which runs the CPU's CRC32
/// instruction as our own loop did and measured as fast or faster at 64 B to 1 MiB (docs/BENCHMARKS.md, "CRC-32C").
/// <see cref="Append"/> continues from a finished CRC, which the package cannot do (its instances start from the
/// initial value and cannot be seeded), so it keeps the loop over the instruction: SSE4.2 <c>crc32 r64</c> on x86-64,
/// the ARMv8 CRC32C instructions on arm64, and <see cref="BitOperations.Crc32C(uint, ulong)"/> (which has its own
/// software fallback) elsewhere. The tests check the two against each other and against a bitwise reference.
/// Thread-safe (pure functions).
/// </remarks>
internal static class Crc32C
{
    /// <summary>Computes the CRC-32C of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, data);

    /// <summary>Continues a CRC over more data: <c>Append(Compute(a), b) == Compute(a ++ b)</c>.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data) => ~Update(~crc, data);

    // `state` is the raw (non-inverted) register.
    private static uint Update(uint state, ReadOnlySpan<byte> data)
    {
        ref var start = ref MemoryMarshal.GetReference(data);
        var length = data.Length;
        var offset = 0;

        if (X86Sse42.X64.IsSupported)
        {
            ulong wide = state;
            for (; length - offset >= sizeof(ulong); offset += sizeof(ulong))
            {
                wide = X86Sse42.X64.Crc32(wide, ReadUInt64(ref start, offset));
            }

            state = (uint)wide;
            for (; offset < length; offset++)
            {
                state = X86Sse42.Crc32(state, Unsafe.Add(ref start, offset));
            }

            return state;
        }

        if (ArmCrc32.Arm64.IsSupported)
        {
            for (; length - offset >= sizeof(ulong); offset += sizeof(ulong))
            {
                state = ArmCrc32.Arm64.ComputeCrc32C(state, ReadUInt64(ref start, offset));
            }

            for (; offset < length; offset++)
            {
                state = ArmCrc32.ComputeCrc32C(state, Unsafe.Add(ref start, offset));
            }

            return state;
        }

        for (; length - offset >= sizeof(ulong); offset += sizeof(ulong))
        {
            state = BitOperations.Crc32C(state, ReadUInt64(ref start, offset));
        }

        for (; offset < length; offset++)
        {
            state = BitOperations.Crc32C(state, Unsafe.Add(ref start, offset));
        }

        return state;
    }

    // CRC-32C is defined on the byte stream; the 64-bit instructions consume the lowest-addressed byte first when the
    // word is little-endian, so on a big-endian CPU the word is byte-swapped first.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ReadUInt64(ref byte start, int offset)
    {
        var value = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, offset));
        return BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value);
    }
}
