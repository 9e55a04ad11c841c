using Cdc.Checkpoint.Hosting.Health;

namespace Cdc.Checkpoint.Hosting.Consumers;

/// <summary>Validation of the options every hosted consumer shares (policy, retry, health, failure behaviour).</summary>
internal static class ConsumerOptionsValidation
{
    public static void Validate(
        CheckpointPolicyOptions checkpoint,
        ConsumerRetryOptions retry,
        ConsumerHealthOptions health,
        ConsumerFailureBehavior onFailure,
        ConfigurationKeys key,
        string prefix,
        List<string> errors)
    {
        if (checkpoint.EveryTransactions < 0)
        {
            errors.Add($"{prefix} {key.Of("Checkpoint:EveryTransactions")} must be 0 (off) or more, not {checkpoint.EveryTransactions}.");
        }

        if (checkpoint.Interval is { } interval && interval <= TimeSpan.Zero)
        {
            errors.Add($"{prefix} {key.Of("Checkpoint:Interval")} must be positive (for example \"00:00:01\"), or removed to turn the timer off; not {interval}.");
        }

        if (checkpoint.EveryTransactions == 0 && checkpoint.Interval is null)
        {
            errors.Add($"{prefix} {key.Of("Checkpoint:EveryTransactions")} is 0 and {key.Of("Checkpoint:Interval")} is not set: the consumer would checkpoint only at shutdown. Set one of them.");
        }

        if (retry.MaxAttempts is < 1)
        {
            errors.Add($"{prefix} {key.Of("Retry:MaxAttempts")} must be 1 or more, or removed for unlimited retries; not {retry.MaxAttempts}.");
        }

        if (retry.Delay <= TimeSpan.Zero)
        {
            errors.Add($"{prefix} {key.Of("Retry:Delay")} must be positive, not {retry.Delay}.");
        }

        if (retry.MaxDelay < retry.Delay)
        {
            errors.Add($"{prefix} {key.Of("Retry:MaxDelay")} ({retry.MaxDelay}) must be at least {key.Of("Retry:Delay")} ({retry.Delay}).");
        }

        Pair(health.LagBytesDegraded, health.LagBytesUnhealthy, higherIsWorse: true, "Health:LagBytesDegraded", "Health:LagBytesUnhealthy", key, prefix, errors);
        Pair(health.CheckpointAgeDegraded?.TotalSeconds, health.CheckpointAgeUnhealthy?.TotalSeconds, higherIsWorse: true, "Health:CheckpointAgeDegraded", "Health:CheckpointAgeUnhealthy", key, prefix, errors);
        Pair(health.SafeWalSizeDegraded, health.SafeWalSizeUnhealthy, higherIsWorse: false, "Health:SafeWalSizeDegraded", "Health:SafeWalSizeUnhealthy", key, prefix, errors);
        if (health.SlotCheckInterval <= TimeSpan.Zero)
        {
            errors.Add($"{prefix} {key.Of("Health:SlotCheckInterval")} must be positive, not {health.SlotCheckInterval}.");
        }

        if (!Enum.IsDefined(onFailure))
        {
            errors.Add($"{prefix} {key.Of("OnFailure")} must be StopHost or MarkUnhealthy, not {onFailure}.");
        }
    }

    private static void Pair(double? degraded, double? unhealthy, bool higherIsWorse, string degradedKey, string unhealthyKey, ConfigurationKeys key, string prefix, List<string> errors)
    {
        if (degraded < 0 || unhealthy < 0)
        {
            errors.Add($"{prefix} {key.Of(degradedKey)} and {key.Of(unhealthyKey)} must not be negative.");
        }
        else if (degraded is { } d && unhealthy is { } u && (higherIsWorse ? d > u : d < u))
        {
            errors.Add($"{prefix} {key.Of(degradedKey)} ({d}) must be {(higherIsWorse ? "at most" : "at least")} {key.Of(unhealthyKey)} ({u}): Degraded comes before Unhealthy.");
        }
    }
}
