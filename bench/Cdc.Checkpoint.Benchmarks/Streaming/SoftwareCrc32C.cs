namespace Cdc.Checkpoint.Benchmarks.Streaming;

/// <summary>The classic byte-at-a-time table CRC-32C: the software baseline the hardware path is compared with.</summary>
internal static class SoftwareCrc32C
{
    private static readonly uint[] Table = BuildTable();

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFF_FFFFu;
        foreach (var b in data)
        {
            crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return ~crc;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78u : c >> 1;
            }

            table[i] = c;
        }

        return table;
    }
}
