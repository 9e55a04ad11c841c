using System.Globalization;
using System.Text;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Postgres.Validation;

/// <summary>
/// A PostgreSQL timeline history file (<c>TIMELINE_HISTORY</c>): one line per ancestor timeline,
/// <c>parentTLI&lt;tab&gt;switchpoint&lt;tab&gt;reason</c>, meaning the parent timeline ended at <c>switchpoint</c>.
/// </summary>
internal sealed class TimelineHistory
{
    private readonly Dictionary<uint, NpgsqlLogSequenceNumber> _switchPoints;

    private TimelineHistory(Dictionary<uint, NpgsqlLogSequenceNumber> switchPoints) => _switchPoints = switchPoints;

    public static TimelineHistory Empty { get; } = new([]);

    /// <summary>Parses the file; throws <see cref="FormatException"/> quoting a malformed line.</summary>
    public static TimelineHistory Parse(ReadOnlySpan<byte> content)
    {
        var switchPoints = new Dictionary<uint, NpgsqlLogSequenceNumber>();
        foreach (var rawLine in Encoding.UTF8.GetString(content).Split('\n'))
        {
            var line = rawLine.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var fields = line.Split((char[]?)null, 3, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 2
                || !uint.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var timeline)
                || timeline == 0
                || !PostgresOffset.TryParseLsn(fields[1], out var switchPoint))
            {
                throw new FormatException($"Timeline history line '{line}' is not '<timeline> <X/Y switch point> <reason>'.");
            }

            switchPoints[timeline] = switchPoint;
        }

        return new TimelineHistory(switchPoints);
    }

    /// <summary>Where <paramref name="timeline"/> ended in this history, or <see langword="null"/> when it is not an ancestor.</summary>
    public NpgsqlLogSequenceNumber? SwitchPointOf(uint timeline) =>
        _switchPoints.TryGetValue(timeline, out var point) ? point : null;
}
