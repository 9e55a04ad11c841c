using System.Diagnostics;

namespace Cdc.Checkpoint.Diagnostics;

/// <summary>
/// The one <see cref="ActivitySource"/> named <c>Cdc.Checkpoint</c> (the same name as the meter) on which every
/// package of the family starts its spans: save, validate, acknowledge. Internal so that the span names and tags stay
/// ours to change; a host subscribes by name (<c>AddSource("Cdc.Checkpoint")</c>).
/// </summary>
internal static class CheckpointActivitySource
{
    /// <summary>The source name, equal to <see cref="CheckpointMetrics.MeterName"/>.</summary>
    internal const string Name = CheckpointMetrics.MeterName;

    internal static readonly ActivitySource Source = new(Name, typeof(CheckpointActivitySource).Assembly.GetName().Version?.ToString());

    /// <summary>
    /// Marks <paramref name="activity"/> as failed with the OpenTelemetry <c>error.type</c> tag; a no-op when no listener
    /// sampled the span (<paramref name="activity"/> is <see langword="null"/>).
    /// </summary>
    internal static void SetError(Activity? activity, string errorType, string? description = null)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetTag("error.type", errorType);
        activity.SetStatus(ActivityStatusCode.Error, description);
    }
}
