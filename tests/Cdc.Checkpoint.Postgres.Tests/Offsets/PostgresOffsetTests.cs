using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using NpgsqlTypes;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Offsets;

public sealed class PostgresOffsetTests
{
    private const ulong SystemA = 7299123456789012345;
    private const ulong SystemB = 7299123456789012346;

    private static PostgresOffset At(
        ulong lsn, string slot = "my_slot", ulong? system = null, uint? timeline = null, string? database = null, string sourceType = "postgres") =>
        new(new NpgsqlLogSequenceNumber(lsn), slot, system, timeline, database, sourceType);

    [Fact]
    public void Constructor_AllMembers_AreExposed()
    {
        var offset = At(0x16B3748, "my_slot", SystemA, 3, "app");

        offset.Lsn.ShouldBe(new NpgsqlLogSequenceNumber(0x16B3748));
        offset.SlotName.ShouldBe("my_slot");
        offset.SystemIdentifier.ShouldBe(SystemA);
        offset.Timeline.ShouldBe(3u);
        offset.Database.ShouldBe("app");
        offset.SourceType.ShouldBe("postgres");
        offset.SourceFamily.ShouldBe("postgres");
        offset.IsOrdered.ShouldBeTrue();
        offset.Codec.ShouldBeSameAs(PostgresOffsetCodec.Instance);
    }

    [Fact]
    public void Constructor_SnapshotSourceType_KeepsFamily()
    {
        var offset = At(1, sourceType: "postgres_snapshot");

        offset.SourceType.ShouldBe("postgres_snapshot");
        offset.SourceFamily.ShouldBe("postgres");
    }

    [Theory]
    [InlineData("mysql")]
    [InlineData("postgresql")]
    [InlineData("postgres_snapshot_snapshot")]
    [InlineData("Postgres")]
    [InlineData("")]
    public void Constructor_SourceTypeOutsidePostgresFamily_ThrowsArgumentException(string sourceType)
    {
        var ex = Assert.Throws<ArgumentException>(() => At(1, sourceType: sourceType));

        ex.ParamName.ShouldBe("sourceType");
        ex.Message.ShouldContain("postgres_snapshot");
    }

    [Theory]
    [InlineData("a")]
    [InlineData("slot_1")]
    [InlineData("0")]
    [InlineData("_")]
    [InlineData("abcdefghijklmnopqrstuvwxyz0123456789_abcdefghijklmnopqrstuvwxyz")]
    public void Constructor_ValidSlotName_IsAccepted(string slot)
    {
        At(1, slot).SlotName.ShouldBe(slot);
        PostgresOffset.IsValidSlotName(slot).ShouldBeTrue();
    }

    [Theory]
    [InlineData("")]
    [InlineData("Slot")]
    [InlineData("slot-a")]
    [InlineData("slot a")]
    [InlineData("slot.a")]
    [InlineData("slöt")]
    [InlineData("abcdefghijklmnopqrstuvwxyz0123456789_abcdefghijklmnopqrstuvwxyz0")]
    public void Constructor_InvalidSlotName_ThrowsArgumentExceptionQuotingName(string slot)
    {
        var ex = Assert.Throws<ArgumentException>(() => At(1, slot));

        ex.ParamName.ShouldBe("slotName");
        ex.Message.ShouldContain($"'{slot}'");
        PostgresOffset.IsValidSlotName(slot).ShouldBeFalse();
    }

    [Fact]
    public void Constructor_NullSlotName_ThrowsArgumentNullException()
    {
        Assert.Throws<ArgumentNullException>(() => new PostgresOffset(default, null!));
    }

    [Fact]
    public void Constructor_ZeroSystemIdentifier_ThrowsArgumentOutOfRange()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => At(1, system: 0)).ParamName.ShouldBe("systemIdentifier");
    }

    [Fact]
    public void Constructor_ZeroTimeline_ThrowsArgumentOutOfRange()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => At(1, timeline: 0)).ParamName.ShouldBe("timeline");
    }

    [Theory]
    [InlineData("")]
    [InlineData("a\0b")]
    [InlineData("0123456789012345678901234567890123456789012345678901234567890123")]
    [InlineData("日日日日日日日日日日日日日日日日日日日日日日")]
    public void Constructor_InvalidDatabase_ThrowsArgumentException(string database)
    {
        Assert.Throws<ArgumentException>(() => At(1, database: database)).ParamName.ShouldBe("database");
    }

    [Fact]
    public void Constructor_DatabaseOf63Utf8Bytes_IsAccepted()
    {
        var database = "日日日日日日日日日日日日日日日日日日日日日"; // 21 × 3 bytes
        At(1, database: database).Database.ShouldBe(database);
    }

    [Fact]
    public void ToString_AllMembers_GivesHumanForm()
    {
        At(0x16B3748, "my_slot", SystemA, 1, "app").ToString()
            .ShouldBe("slot=my_slot lsn=0/16B3748 system=7299123456789012345 tli=1 db=app");
    }

    [Fact]
    public void ToString_OnlyRequiredMembers_LeavesUnknownOut()
    {
        At(0x1_0000002A).ToString().ShouldBe("slot=my_slot lsn=1/2A");
    }

    [Fact]
    public void ToString_Snapshot_NamesSourceType()
    {
        At(5, sourceType: "postgres_snapshot").ToString().ShouldBe("postgres_snapshot slot=my_slot lsn=0/5");
    }

    [Theory]
    [InlineData(100UL, 200UL, OffsetOrder.Before)]
    [InlineData(200UL, 100UL, OffsetOrder.After)]
    [InlineData(150UL, 150UL, OffsetOrder.Same)]
    [InlineData(0UL, ulong.MaxValue, OffsetOrder.Before)]
    [InlineData(0xFFFFFFFFUL, 0x1_00000000UL, OffsetOrder.Before)]
    public void CompareTo_SameSlot_OrdersByLsn(ulong mine, ulong theirs, OffsetOrder expected)
    {
        At(mine, system: SystemA, timeline: 1, database: "app")
            .CompareTo(At(theirs, system: SystemA, timeline: 1, database: "app"))
            .ShouldBe(expected);
    }

    public static TheoryData<string, PostgresOffset, PostgresOffset, OffsetOrder> CompareMatrix => new()
    {
        { "other slot", At(100, "slot_a"), At(200, "slot_b"), OffsetOrder.Diverged },
        { "other slot, same lsn", At(100, "slot_a"), At(100, "slot_b"), OffsetOrder.Diverged },
        { "other system", At(100, system: SystemA), At(200, system: SystemB), OffsetOrder.Diverged },
        { "other system, same lsn", At(100, system: SystemA), At(100, system: SystemB), OffsetOrder.Diverged },
        { "system known on one side only", At(100, system: SystemA), At(200), OffsetOrder.Before },
        { "system known on the other side only", At(300), At(200, system: SystemA), OffsetOrder.After },
        { "other timeline, ahead", At(300, system: SystemA, timeline: 2), At(200, system: SystemA, timeline: 1), OffsetOrder.Diverged },
        { "other timeline, behind", At(100, system: SystemA, timeline: 1), At(200, system: SystemA, timeline: 2), OffsetOrder.Diverged },
        { "other timeline, same lsn", At(100, timeline: 1), At(100, timeline: 2), OffsetOrder.Diverged },
        { "timeline known on one side only", At(100, timeline: 2), At(200), OffsetOrder.Before },
        { "other database", At(100, database: "a"), At(200, database: "b"), OffsetOrder.Diverged },
        { "database case differs", At(100, database: "app"), At(200, database: "App"), OffsetOrder.Diverged },
        { "database known on one side only", At(100, database: "a"), At(100), OffsetOrder.Same },
        { "snapshot vs streaming", At(100, sourceType: "postgres_snapshot"), At(200), OffsetOrder.Diverged },
        { "streaming vs snapshot", At(100), At(100, sourceType: "postgres_snapshot"), OffsetOrder.Diverged },
        { "snapshot vs snapshot", At(100, sourceType: "postgres_snapshot"), At(200, sourceType: "postgres_snapshot"), OffsetOrder.Before },
    };

    [Theory]
    [MemberData(nameof(CompareMatrix))]
    public void CompareTo_Matrix_GivesExpectedOrder(string because, PostgresOffset mine, PostgresOffset theirs, OffsetOrder expected)
    {
        mine.CompareTo(theirs).ShouldBe(expected, because);
        var mirrored = expected switch
        {
            OffsetOrder.Before => OffsetOrder.After,
            OffsetOrder.After => OffsetOrder.Before,
            _ => expected,
        };
        theirs.CompareTo(mine).ShouldBe(mirrored, because);
    }

    [Fact]
    public void CompareTo_GenericOffsetOfSameSourceType_IsDiverged()
    {
        var generic = GenericOffset.Parse("postgres", """{"lsn":"0/64","slot_name":"my_slot"}""");

        At(100).CompareTo(generic).ShouldBe(OffsetOrder.Diverged);
    }

    [Fact]
    public void CompareTo_Null_ThrowsArgumentNullException()
    {
        Assert.Throws<ArgumentNullException>(() => At(1).CompareTo(null!));
    }

    [Fact]
    public void Equals_SameMembers_AreEqualWithSameHashCode()
    {
        var a = At(0x16B3748, "my_slot", SystemA, 1, "app");
        var b = At(0x16B3748, "my_slot", SystemA, 1, "app");

        a.Equals(b).ShouldBeTrue();
        (a == b).ShouldBeTrue();
        (a != b).ShouldBeFalse();
        a.GetHashCode().ShouldBe(b.GetHashCode());
    }

    public static TheoryData<string, PostgresOffset> DifferentFromBase => new()
    {
        { "lsn", At(0x16B3749, "my_slot", SystemA, 1, "app") },
        { "slot", At(0x16B3748, "other_slot", SystemA, 1, "app") },
        { "system", At(0x16B3748, "my_slot", SystemB, 1, "app") },
        { "system unknown", At(0x16B3748, "my_slot", null, 1, "app") },
        { "timeline", At(0x16B3748, "my_slot", SystemA, 2, "app") },
        { "database", At(0x16B3748, "my_slot", SystemA, 1, "other") },
        { "source type", At(0x16B3748, "my_slot", SystemA, 1, "app", "postgres_snapshot") },
    };

    [Theory]
    [MemberData(nameof(DifferentFromBase))]
    public void Equals_OneMemberDiffers_AreNotEqual(string member, PostgresOffset other)
    {
        var baseline = At(0x16B3748, "my_slot", SystemA, 1, "app");

        baseline.Equals(other).ShouldBeFalse(member);
        (baseline == other).ShouldBeFalse(member);
    }

    [Fact]
    public void WithLsn_KeepsEverythingButTheLsn()
    {
        var offset = At(100, "my_slot", SystemA, 2, "app", "postgres_snapshot");

        var moved = offset.WithLsn(new NpgsqlLogSequenceNumber(500));

        moved.ShouldBe(At(500, "my_slot", SystemA, 2, "app", "postgres_snapshot"));
        moved.CompareTo(offset).ShouldBe(OffsetOrder.After);
    }
}
