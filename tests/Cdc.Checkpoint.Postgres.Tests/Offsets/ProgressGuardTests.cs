using Cdc.Checkpoint.Postgres;
using NpgsqlTypes;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Offsets;

/// <summary>The shared progress rules applied to PostgreSQL offsets.</summary>
public sealed class ProgressGuardTests
{
    private static CheckpointRecord Stored(ulong lsn, uint timeline = 1) =>
        new("postgres", 10, new PostgresOffset(new NpgsqlLogSequenceNumber(lsn), "s", 7, timeline));

    [Fact]
    public void Check_HigherLsnAndCount_Advances()
    {
        ProgressGuard.Check("test", Stored(100), new PostgresOffset(new NpgsqlLogSequenceNumber(200), "s", 7, 1), 11)
            .ShouldBe(ProgressGuard.Verdict.Advance);
    }

    [Fact]
    public void Check_LowerLsnWithHigherCount_IsRefusedAsRegression()
    {
        var ex = Assert.Throws<CheckpointException>(() =>
            ProgressGuard.Check("test", Stored(200), new PostgresOffset(new NpgsqlLogSequenceNumber(100), "s", 7, 1), 11));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        ex.Message.ShouldContain("lsn=0/64");
        ex.Message.ShouldContain("lsn=0/C8");
    }

    [Fact]
    public void Check_NewTimelineWithHigherLsn_IsRefusedAsDiverged()
    {
        var ex = Assert.Throws<CheckpointException>(() =>
            ProgressGuard.Check("test", Stored(100, timeline: 1), new PostgresOffset(new NpgsqlLogSequenceNumber(200), "s", 7, 2), 11));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetDiverged);
        ex.Message.ShouldContain("tli=2");
    }

    [Fact]
    public void Check_SameOffsetAndCount_IsARepeat()
    {
        ProgressGuard.Check("test", Stored(100), new PostgresOffset(new NpgsqlLogSequenceNumber(100), "s", 7, 1), 10)
            .ShouldBe(ProgressGuard.Verdict.Repeat);
    }
}
