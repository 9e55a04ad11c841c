using Cdc.Checkpoint.Hosting.Consumers;
using Cdc.Checkpoint.Hosting.Health;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;

#pragma warning disable IDE0130 // Extension methods live in the namespace of what they extend, as Microsoft.Extensions.* do.
namespace Microsoft.Extensions.DependencyInjection;
#pragma warning restore IDE0130

/// <summary>Adds the health check of a hosted CDC consumer.</summary>
public static class ConsumerHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds the health check of the hosted consumer <paramref name="consumerName"/>: Degraded while it starts or retries,
    /// Unhealthy (or <paramref name="failureStatus"/>) when it failed or stopped, and, while it streams, judged by the
    /// thresholds of its <see cref="ConsumerHealthOptions"/> (lag, checkpoint age, slot WAL headroom).
    /// </summary>
    /// <param name="builder">The health checks builder (<c>services.AddHealthChecks()</c>).</param>
    /// <param name="consumerName">The consumer name given at registration.</param>
    /// <param name="failureStatus">The status reported for a failure; Unhealthy when <see langword="null"/>.</param>
    /// <param name="tags">Tags of the check (for example <c>"ready"</c>).</param>
    /// <returns>The builder, for chaining.</returns>
    public static IHealthChecksBuilder AddCdcConsumer(this IHealthChecksBuilder builder, string consumerName, HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(consumerName);
        builder.Services.TryAddSingleton<ConsumerStatusRegistry>();
        return builder.Add(new HealthCheckRegistration(
            $"cdc-consumer-{consumerName}",
            sp => new ConsumerHealthCheck(sp.GetRequiredService<ConsumerStatusRegistry>(), consumerName),
            failureStatus,
            tags));
    }
}
