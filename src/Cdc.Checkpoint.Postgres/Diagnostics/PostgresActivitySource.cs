using System.Diagnostics;
using Cdc.Checkpoint.Diagnostics;

namespace Cdc.Checkpoint.Postgres.Diagnostics;

/// <summary>
/// This package's spans (validate, acknowledge) on an <see cref="ActivitySource"/> named like the core's,
/// <c>Cdc.Checkpoint</c> (<see cref="CheckpointMetrics.MeterName"/>): listeners subscribe by name, so a host's one
/// <c>AddSource("Cdc.Checkpoint")</c> sees the spans of every package of the family.
/// </summary>
internal static class PostgresActivitySource
{
    internal static readonly ActivitySource Source = new(CheckpointMetrics.MeterName, typeof(PostgresActivitySource).Assembly.GetName().Version?.ToString());

    /// <summary>Marks a sampled span as failed with the OpenTelemetry <c>error.type</c> tag (no-op when not sampled).</summary>
    internal static void SetError(Activity? activity, string errorType, string? description = null)
    {
        activity?.SetTag("error.type", errorType);
        activity?.SetStatus(ActivityStatusCode.Error, description);
    }
}
