using Microsoft.Extensions.Options;

namespace Cdc.Checkpoint.Hosting.Consumers;

/// <summary>
/// Validates a hosted consumer's options when the host starts: the source's own keys (<see cref="ValidateSource"/>, written
/// by the provider) and then the keys every consumer shares (<see cref="HostedConsumerOptions"/>). Every problem is
/// reported at once, each message naming the configuration key and the fix. Register the derived validator with
/// <see cref="ValidatedOptions.Add"/>.
/// </summary>
/// <typeparam name="TOptions">The provider's consumer options.</typeparam>
public abstract class HostedConsumerOptionsValidator<TOptions> : IValidateOptions<TOptions>
    where TOptions : HostedConsumerOptions
{
    private readonly IEnumerable<ConfigurationKeys> _keys;

    /// <summary>Creates the validator.</summary>
    /// <param name="keys">Every registration's keys, as the container injects them.</param>
    protected HostedConsumerOptionsValidator(IEnumerable<ConfigurationKeys> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        _keys = keys;
    }

    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var key = ConfigurationKeys.For<TOptions>(_keys, name);
        var prefix = $"{DescribeConsumer(name)}:";
        var errors = new List<string>();
        ValidateSource(options, key, prefix, errors);
        ValidateShared(name, options, key, prefix, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>How messages name the consumer, for example <c>PostgreSQL replication consumer 'orders'</c>.</summary>
    /// <param name="name">The consumer name.</param>
    /// <returns>The description; messages start with it and a colon.</returns>
    protected abstract string DescribeConsumer(string? name);

    /// <summary>Adds a message to <paramref name="errors"/> for every problem with the source's own keys.</summary>
    /// <param name="options">The options.</param>
    /// <param name="key">Names the keys: <c>key.Of(nameof(options.SlotName))</c>.</param>
    /// <param name="prefix">The start of every message (the consumer, described, and a colon).</param>
    /// <param name="errors">Where problems go.</param>
    protected abstract void ValidateSource(TOptions options, ConfigurationKeys key, string prefix, IList<string> errors);

    private static void ValidateShared(string? name, TOptions options, ConfigurationKeys key, string prefix, List<string> errors)
    {
        if (options.Store is { } store && string.IsNullOrWhiteSpace(store))
        {
            errors.Add($"{prefix} {key.Of(nameof(options.Store))} is empty: name a registered checkpoint store, or remove the key to use the store named '{name}'.");
        }

        var checkpoint = options.Checkpoint;
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

        var retry = options.Retry;
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

        var health = options.Health;
        Pair(health.LagBytesDegraded, health.LagBytesUnhealthy, higherIsWorse: true, "Health:LagBytesDegraded", "Health:LagBytesUnhealthy", key, prefix, errors);
        Pair(health.CheckpointAgeDegraded?.TotalSeconds, health.CheckpointAgeUnhealthy?.TotalSeconds, higherIsWorse: true, "Health:CheckpointAgeDegraded", "Health:CheckpointAgeUnhealthy", key, prefix, errors);
        Pair(health.SafeWalSizeDegraded, health.SafeWalSizeUnhealthy, higherIsWorse: false, "Health:SafeWalSizeDegraded", "Health:SafeWalSizeUnhealthy", key, prefix, errors);
        if (health.SlotCheckInterval <= TimeSpan.Zero)
        {
            errors.Add($"{prefix} {key.Of("Health:SlotCheckInterval")} must be positive, not {health.SlotCheckInterval}.");
        }

        if (!Enum.IsDefined(options.OnFailure))
        {
            errors.Add($"{prefix} {key.Of("OnFailure")} must be StopHost or MarkUnhealthy, not {options.OnFailure}.");
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
