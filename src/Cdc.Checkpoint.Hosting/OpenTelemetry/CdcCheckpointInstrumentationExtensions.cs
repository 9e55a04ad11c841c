using Cdc.Checkpoint.Diagnostics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

#pragma warning disable IDE0130 // Extension methods live in the namespace of what they extend, as OpenTelemetry's do.
namespace OpenTelemetry;
#pragma warning restore IDE0130

/// <summary>
/// Adds Cdc.Checkpoint to OpenTelemetry in one call, as <c>AddNpgsql()</c> does for Npgsql: the meter and the
/// activity source are both named <c>Cdc.Checkpoint</c>.
/// </summary>
public static class CdcCheckpointInstrumentationExtensions
{
    /// <summary>
    /// Subscribes to the <c>Cdc.Checkpoint</c> meter: save durations (histogram with buckets from 0.1 ms to 10 s),
    /// saves and refusals, lag and checkpoint age, acknowledged LSN, resume verdicts, idle advances.
    /// </summary>
    /// <param name="builder">The meter provider builder.</param>
    /// <returns>The builder, for chaining.</returns>
    public static MeterProviderBuilder AddCdcCheckpointInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(CheckpointMetrics.MeterName);
    }

    /// <summary>Subscribes to the <c>Cdc.Checkpoint</c> activity source: spans for saves, resume validations and acknowledgements.</summary>
    /// <param name="builder">The tracer provider builder.</param>
    /// <returns>The builder, for chaining.</returns>
    public static TracerProviderBuilder AddCdcCheckpointInstrumentation(this TracerProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddSource(CheckpointMetrics.MeterName);
    }
}
