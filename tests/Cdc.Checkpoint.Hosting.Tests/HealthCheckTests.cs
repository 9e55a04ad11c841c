using Cdc.Checkpoint.Hosting.Consumers;
using Cdc.Checkpoint.Hosting.Health;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Hosting.Tests;

/// <summary>The consumer health check's verdicts from a status and thresholds (the same code runs against real lag in HostedConsumerTests).</summary>
public sealed class HealthCheckTests
{
    private static readonly ConsumerHealthOptions Thresholds = new()
    {
        LagBytesDegraded = 100,
        LagBytesUnhealthy = 1000,
        CheckpointAgeDegraded = TimeSpan.FromMinutes(1),
        CheckpointAgeUnhealthy = TimeSpan.FromMinutes(5),
        SafeWalSizeDegraded = 1000,
        SafeWalSizeUnhealthy = 100,
    };

    [Theory]
    [InlineData(ConsumerState.Starting, HealthStatus.Degraded, "is starting")]
    [InlineData(ConsumerState.Retrying, HealthStatus.Degraded, "is retrying (attempt 3): slot busy")]
    [InlineData(ConsumerState.Failed, HealthStatus.Unhealthy, "failed: slot busy")]
    [InlineData(ConsumerState.Stopped, HealthStatus.Unhealthy, "is stopped")]
    public void Evaluate_State_GivesItsStatus(ConsumerState state, HealthStatus expected, string text)
    {
        var result = ConsumerHealthCheck.Evaluate(Status(state) with { RetryAttempt = 3, LastError = "slot busy" }, Thresholds, HealthStatus.Unhealthy);

        result.Status.ShouldBe(expected);
        result.Description.ShouldNotBeNull().ShouldContain(text);
        result.Data["state"].ShouldBe(state.ToString());
    }

    [Theory]
    [InlineData(99L, 0d, null, null, HealthStatus.Healthy)]
    [InlineData(100L, 0d, null, null, HealthStatus.Degraded)]
    [InlineData(1000L, 0d, null, null, HealthStatus.Unhealthy)]
    [InlineData(0L, 61d, null, null, HealthStatus.Degraded)]
    [InlineData(0L, 301d, null, null, HealthStatus.Unhealthy)]
    [InlineData(0L, 0d, 999L, "reserved", HealthStatus.Degraded)]
    [InlineData(0L, 0d, 99L, "reserved", HealthStatus.Unhealthy)]
    [InlineData(0L, 0d, null, "extended", HealthStatus.Degraded)]
    [InlineData(0L, 0d, null, "unreserved", HealthStatus.Unhealthy)]
    [InlineData(0L, 0d, null, "lost", HealthStatus.Unhealthy)]
    [InlineData(0L, 0d, 5000L, "reserved", HealthStatus.Healthy)]
    public void Evaluate_Streaming_JudgedByThresholds(long lag, double ageSeconds, long? safeWalSize, string? walStatus, HealthStatus expected)
    {
        var status = Status(ConsumerState.Streaming) with
        {
            LagBytes = lag,
            CheckpointAge = TimeSpan.FromSeconds(ageSeconds),
            SlotSafeWalSizeBytes = safeWalSize,
            SlotWalStatus = walStatus,
        };

        var result = ConsumerHealthCheck.Evaluate(status, Thresholds, HealthStatus.Unhealthy);

        result.Status.ShouldBe(expected, result.Description);
        result.Data["lag_bytes"].ShouldBe(lag);
    }

    [Fact]
    public void Evaluate_ThresholdsOff_StreamingIsHealthyWhateverTheFigures()
    {
        var off = new ConsumerHealthOptions { LagBytesDegraded = null, LagBytesUnhealthy = null, SafeWalSizeDegraded = null, SafeWalSizeUnhealthy = null };
        var status = Status(ConsumerState.Streaming) with { LagBytes = long.MaxValue, CheckpointAge = TimeSpan.FromDays(30), SlotSafeWalSizeBytes = -5 };

        ConsumerHealthCheck.Evaluate(status, off, HealthStatus.Unhealthy).Status.ShouldBe(HealthStatus.Healthy);
    }

    private static ConsumerStatus Status(ConsumerState state) => new() { Name = "orders", State = state, DurableCheckpoint = "postgres 0/1000 count=1" };
}
