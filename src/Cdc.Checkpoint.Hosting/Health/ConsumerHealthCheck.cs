using System.Globalization;
using Cdc.Checkpoint.Hosting.Consumers;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Cdc.Checkpoint.Hosting.Health;

/// <summary>
/// The health of one hosted consumer: its state, its lag and checkpoint age, its slot's WAL headroom, and its last
/// error, against the thresholds of <see cref="ConsumerHealthOptions"/>. The figures go into the result's data.
/// </summary>
internal sealed class ConsumerHealthCheck(ConsumerStatusRegistry registry, string consumerName) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var tracker = registry.GetTracker(consumerName);
        if (tracker is null)
        {
            return Task.FromResult(new HealthCheckResult(
                context.Registration.FailureStatus,
                $"No hosted consumer named '{consumerName}' is registered (check the name given to AddCdcConsumer)."));
        }

        return Task.FromResult(Evaluate(tracker.Snapshot(), tracker.Health, context.Registration.FailureStatus));
    }

    internal static HealthCheckResult Evaluate(ConsumerStatus status, ConsumerHealthOptions thresholds, HealthStatus failureStatus)
    {
        var data = Data(status);
        switch (status.State)
        {
            case ConsumerState.Starting:
                return HealthCheckResult.Degraded($"Consumer '{status.Name}' is starting.", data: data);
            case ConsumerState.Retrying:
                return HealthCheckResult.Degraded(
                    string.Create(CultureInfo.InvariantCulture, $"Consumer '{status.Name}' is retrying (attempt {status.RetryAttempt}): {status.LastError}"), data: data);
            case ConsumerState.Failed:
                return new HealthCheckResult(failureStatus, $"Consumer '{status.Name}' failed: {status.LastError}", data: data);
            case ConsumerState.Stopped:
                return new HealthCheckResult(failureStatus, $"Consumer '{status.Name}' is stopped.", data: data);
        }

        var unhealthy = new List<string>();
        var degraded = new List<string>();
        Judge(status.LagBytes, thresholds.LagBytesUnhealthy, thresholds.LagBytesDegraded, higherIsWorse: true, "lag", " bytes", unhealthy, degraded);
        Judge(status.CheckpointAge?.TotalSeconds, thresholds.CheckpointAgeUnhealthy?.TotalSeconds, thresholds.CheckpointAgeDegraded?.TotalSeconds, higherIsWorse: true, "checkpoint age", " s", unhealthy, degraded);
        Judge(status.SlotSafeWalSizeBytes, thresholds.SafeWalSizeUnhealthy, thresholds.SafeWalSizeDegraded, higherIsWorse: false, "slot safe_wal_size", " bytes", unhealthy, degraded);
        switch (status.SlotWalStatus)
        {
            case "lost":
                unhealthy.Add("slot wal_status is 'lost': the WAL the slot needs is gone");
                break;
            case "unreserved":
                unhealthy.Add("slot wal_status is 'unreserved': its WAL will be removed at the next checkpoint");
                break;
            case "extended":
                degraded.Add("slot wal_status is 'extended': the slot retains more than max_wal_size");
                break;
        }

        if (unhealthy.Count > 0)
        {
            return new HealthCheckResult(failureStatus, $"Consumer '{status.Name}': {string.Join("; ", unhealthy.Concat(degraded))}.", data: data);
        }

        return degraded.Count > 0
            ? HealthCheckResult.Degraded($"Consumer '{status.Name}': {string.Join("; ", degraded)}.", data: data)
            : HealthCheckResult.Healthy($"Consumer '{status.Name}' is streaming; checkpoint {status.DurableCheckpoint}.", data);
    }

    private static void Judge(double? value, double? unhealthyAt, double? degradedAt, bool higherIsWorse, string what, string unit, List<string> unhealthy, List<string> degraded)
    {
        if (value is not { } v)
        {
            return;
        }

        bool Beyond(double limit) => higherIsWorse ? v >= limit : v < limit;
        var relation = higherIsWorse ? "at or above" : "below";
        if (unhealthyAt is { } u && Beyond(u))
        {
            unhealthy.Add(string.Create(CultureInfo.InvariantCulture, $"{what} {v:0.###}{unit} is {relation} the unhealthy threshold {u:0.###}{unit}"));
        }
        else if (degradedAt is { } d && Beyond(d))
        {
            degraded.Add(string.Create(CultureInfo.InvariantCulture, $"{what} {v:0.###}{unit} is {relation} the degraded threshold {d:0.###}{unit}"));
        }
    }

    private static Dictionary<string, object> Data(ConsumerStatus status)
    {
        var data = new Dictionary<string, object>(StringComparer.Ordinal) { ["state"] = status.State.ToString() };
        Add(data, "checkpoint", status.DurableCheckpoint);
        Add(data, "committed_event_count", status.CommittedEventCount);
        Add(data, "lag_bytes", status.LagBytes);
        Add(data, "checkpoint_age_seconds", status.CheckpointAge?.TotalSeconds);
        Add(data, "verdict", status.LastVerdict);
        Add(data, "error", status.LastError);
        Add(data, "error_code", status.LastErrorCode?.ToString());
        Add(data, "slot_wal_status", status.SlotWalStatus);
        Add(data, "slot_safe_wal_size_bytes", status.SlotSafeWalSizeBytes);
        if (status.RetryAttempt > 0)
        {
            data["retry_attempt"] = status.RetryAttempt;
        }

        return data;
    }

    private static void Add(Dictionary<string, object> data, string key, object? value)
    {
        if (value is not null)
        {
            data[key] = value;
        }
    }
}
