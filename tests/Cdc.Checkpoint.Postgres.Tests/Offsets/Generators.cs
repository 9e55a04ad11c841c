using Cdc.Checkpoint.Postgres;
using FsCheck;
using FsCheck.Fluent;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Postgres.Tests.Offsets;

/// <summary>FsCheck generators for PostgreSQL offsets, with the edge values mixed in.</summary>
internal static class Generators
{
    public static Gen<uint> UInt32 { get; } = Gen.Frequency(
        (1, Gen.Elements(0u, 1u, 0xFFFFFFFFu, 0x80000000u)),
        (4, from hi in Gen.Choose(0, 0xFFFF) from lo in Gen.Choose(0, 0xFFFF) select ((uint)hi << 16) | (uint)lo));

    public static Gen<ulong> UInt64 { get; } = Gen.Frequency(
        (1, Gen.Elements(0UL, 1UL, ulong.MaxValue, 0xFFFFFFFFUL, 0x1_00000000UL)),
        (4, from hi in UInt32 from lo in UInt32 select ((ulong)hi << 32) | lo));

    public static Gen<NpgsqlLogSequenceNumber> Lsn { get; } = UInt64.Select(v => new NpgsqlLogSequenceNumber(v));

    public static Gen<string> SlotName { get; } =
        from length in Gen.Frequency((4, Gen.Choose(1, 12)), (1, Gen.Elements(1, 62, 63)))
        from chars in Gen.ArrayOf(Gen.Elements("abcdefghijklmnopqrstuvwxyz0123456789_".ToCharArray()), length)
        select new string(chars);

    public static Gen<string> Database { get; } =
        from length in Gen.Choose(1, 20)
        from chars in Gen.ArrayOf(Gen.Elements("abcXYZ09_- .\"'\\/é€日".ToCharArray()), length)
        select new string(chars);

    public static Gen<PostgresOffset> Offset { get; } =
        from lsn in Lsn
        from slot in SlotName
        from system in Gen.OneOf(Gen.Constant<ulong?>(null), UInt64.Where(v => v != 0).Select(v => (ulong?)v))
        from timeline in Gen.OneOf(Gen.Constant<uint?>(null), UInt32.Where(v => v != 0).Select(v => (uint?)v))
        from database in Gen.OneOf(Gen.Constant<string?>(null), Database.Select(d => (string?)d))
        from sourceType in Gen.Elements(PostgresOffset.StreamingSourceType, PostgresOffset.SnapshotSourceType)
        select new PostgresOffset(lsn, slot, system, timeline, database, sourceType);
}
