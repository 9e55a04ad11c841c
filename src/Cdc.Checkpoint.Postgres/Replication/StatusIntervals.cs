using System.Globalization;

namespace Cdc.Checkpoint.Postgres.Replication;

/// <summary>Derives the standby status interval from the walsender's <c>wal_sender_timeout</c>.</summary>
internal static class StatusIntervals
{
    /// <summary>Npgsql's default interval, kept as the upper bound.</summary>
    internal static readonly TimeSpan Maximum = TimeSpan.FromSeconds(10);

    /// <summary>A floor, so a very small timeout does not turn the timer into a busy loop.</summary>
    internal static readonly TimeSpan Minimum = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// How soon a status update deferred because the stream has received nothing yet is tried again (at most the
    /// interval): PostgreSQL sends a keepalive as soon as decoding has caught up, so the deferral is short.
    /// </summary>
    internal static readonly TimeSpan DeferredRetry = TimeSpan.FromMilliseconds(100);

    /// <summary>The status schedule of a session: <paramref name="interval"/>, in the timestamp units of its clock.</summary>
    internal static AcknowledgementState.StatusSchedule Schedule(TimeSpan interval, long timestampFrequency) =>
        new(ToTimestamp(interval, timestampFrequency), ToTimestamp(interval < DeferredRetry ? interval : DeferredRetry, timestampFrequency));

    /// <summary>
    /// A third of the timeout: the server ends a walsender that has heard nothing for the whole timeout, and asks for a
    /// reply after half of it; a third leaves one update of slack for a late timer tick.
    /// </summary>
    internal static TimeSpan Derive(TimeSpan? walSenderTimeout)
    {
        if (walSenderTimeout is not { } timeout || timeout <= TimeSpan.Zero)
        {
            return Maximum; // disabled (0) or unknown: the server never ends the stream for silence.
        }

        var third = timeout / 3;
        return third > Maximum ? Maximum : third < Minimum ? Minimum : third;
    }

    private static long ToTimestamp(TimeSpan duration, long frequency) =>
        checked((long)((Int128)duration.Ticks * frequency / TimeSpan.TicksPerSecond));

    /// <summary>Parses a PostgreSQL time setting as <c>SHOW</c> prints it (<c>60s</c>, <c>1min</c>, <c>500ms</c>, <c>0</c>).</summary>
    /// <returns>The duration, or <see langword="null"/> when the text is not a time setting.</returns>
    internal static TimeSpan? ParseSetting(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var trimmed = text.Trim();
        var digits = 0;
        while (digits < trimmed.Length && (char.IsAsciiDigit(trimmed[digits]) || trimmed[digits] is '.' or '-'))
        {
            digits++;
        }

        if (!double.TryParse(trimmed.AsSpan(0, digits), NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
        {
            return null;
        }

        // Without a unit wal_sender_timeout is in milliseconds.
        double? milliseconds = trimmed[digits..].Trim() switch
        {
            "" or "ms" => value,
            "us" => value / 1000,
            "s" => value * 1000,
            "min" => value * 60_000,
            "h" => value * 3_600_000,
            "d" => value * 86_400_000,
            _ => null,
        };
        return milliseconds is { } ms ? TimeSpan.FromMilliseconds(ms) : null;
    }
}
