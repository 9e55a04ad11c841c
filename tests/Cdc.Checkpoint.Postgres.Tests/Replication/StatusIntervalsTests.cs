using Cdc.Checkpoint.Postgres.Replication;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Replication;

/// <summary>The standby status interval derived from <c>wal_sender_timeout</c> as <c>SHOW</c> prints it.</summary>
public sealed class StatusIntervalsTests
{
    [Theory]
    [InlineData("60s", 60_000)]
    [InlineData("2s", 2_000)]
    [InlineData("1min", 60_000)]
    [InlineData("500ms", 500)]
    [InlineData("1500", 1_500)]
    [InlineData("0", 0)]
    [InlineData("1h", 3_600_000)]
    [InlineData("1d", 86_400_000)]
    public void ParseSetting_ShowOutput_Milliseconds(string text, double milliseconds) =>
        StatusIntervals.ParseSetting(text).ShouldBe(TimeSpan.FromMilliseconds(milliseconds));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("on")]
    [InlineData("5 parsecs")]
    public void ParseSetting_NotATimeSetting_Null(string? text) => StatusIntervals.ParseSetting(text).ShouldBeNull();

    [Theory]
    [InlineData(2_000, 666.666)]     // a third of a short timeout
    [InlineData(60_000, 10_000)]     // PostgreSQL's default: Npgsql's 10 s cap
    [InlineData(0, 10_000)]          // disabled: the cap
    [InlineData(30, 50)]             // the floor
    public void Derive_Timeout_AThirdBetweenFloorAndCap(double timeoutMs, double expectedMs) =>
        StatusIntervals.Derive(TimeSpan.FromMilliseconds(timeoutMs)).TotalMilliseconds.ShouldBe(expectedMs, 0.001);

    [Fact]
    public void Derive_UnknownTimeout_Cap() => StatusIntervals.Derive(null).ShouldBe(TimeSpan.FromSeconds(10));

    [Fact]
    public void StatusIntervalOption_NotPositive_Throws() =>
        Should.Throw<ArgumentOutOfRangeException>(() => new PostgresReplicationSessionOptions { SlotName = "s", PublicationNames = ["p"], StatusInterval = TimeSpan.Zero });
}
