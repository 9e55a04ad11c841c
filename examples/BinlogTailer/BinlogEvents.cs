using System.Globalization;
using Cdc.Checkpoint.MySql.Gtid;

namespace BinlogTailer;

/// <summary>One row of <c>SHOW BINLOG EVENTS</c>.</summary>
/// <param name="LogName">The binlog file the event is in.</param>
/// <param name="Position">Where the event starts.</param>
/// <param name="EventType">The event type as the server names it (<c>Gtid</c>, <c>Query</c>, <c>Xid</c>, <c>Rotate</c>, …).</param>
/// <param name="ServerId">The server id that wrote the event.</param>
/// <param name="EndPosition">Where the next event starts (<c>End_log_pos</c>).</param>
/// <param name="Info">The server's one-line description of the event.</param>
public sealed record BinlogEvent(string LogName, ulong Position, string EventType, uint ServerId, ulong EndPosition, string Info);

/// <summary>A MySQL GTID as a <c>Gtid</c> event's <c>Info</c> shows it: <c>uuid:n</c>, or <c>uuid:tag:n</c> on MySQL 8.3+.</summary>
/// <param name="SourceId">The source UUID.</param>
/// <param name="Tag">The tag, or empty.</param>
/// <param name="TransactionNumber">The transaction number.</param>
public readonly record struct MySqlGtid(Guid SourceId, string Tag, long TransactionNumber)
{
    /// <inheritdoc />
    public override string ToString() =>
        Tag.Length == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{SourceId:D}:{TransactionNumber}")
            : string.Create(CultureInfo.InvariantCulture, $"{SourceId:D}:{Tag}:{TransactionNumber}");
}

/// <summary>Reads the <c>Info</c> text of the events the tailer acts on. Formats differ between MariaDB and MySQL.</summary>
public static class BinlogEventText
{
    /// <summary>
    /// MariaDB <c>Gtid</c> event: <c>BEGIN GTID 0-1-5</c> (a transaction that ends with <c>Xid</c> or a <c>COMMIT</c>
    /// query), <c>GTID 0-1-6</c> (a standalone statement such as DDL, which ends with its one <c>Query</c> event), possibly
    /// followed by <c>cid=…</c>; XA transactions start with <c>XA START … GTID 0-1-7</c>.
    /// </summary>
    /// <param name="info">The event's Info.</param>
    /// <param name="gtid">The GTID.</param>
    /// <param name="standalone"><see langword="true"/> for a standalone statement (no BEGIN).</param>
    /// <returns><see langword="true"/> when the text names a GTID.</returns>
    public static bool TryParseMariaDbGtid(string info, out MariaDbGtid gtid, out bool standalone)
    {
        ArgumentNullException.ThrowIfNull(info);
        gtid = default;
        standalone = false;
        var at = info.IndexOf("GTID ", StringComparison.Ordinal);
        if (at < 0)
        {
            return false;
        }

        var start = at + "GTID ".Length;
        var end = info.IndexOf(' ', start);
        var text = end < 0 ? info[start..] : info[start..end];
        if (!MariaDbGtid.TryParse(text, out gtid))
        {
            return false;
        }

        standalone = !info.StartsWith("BEGIN", StringComparison.Ordinal) && !info.StartsWith("XA START", StringComparison.Ordinal);
        return true;
    }

    /// <summary>
    /// MySQL <c>Gtid</c> event: <c>SET @@SESSION.GTID_NEXT= '3e11fa47-71ca-11e1-9e33-c80aa9429562:23'</c>, with a tag on
    /// MySQL 8.3+ (<c>'…:mytag:23'</c>).
    /// </summary>
    /// <param name="info">The event's Info.</param>
    /// <param name="gtid">The GTID.</param>
    /// <returns><see langword="true"/> when the text names a GTID.</returns>
    public static bool TryParseMySqlGtid(string info, out MySqlGtid gtid)
    {
        ArgumentNullException.ThrowIfNull(info);
        gtid = default;
        var open = info.IndexOf('\'', StringComparison.Ordinal);
        var close = open < 0 ? -1 : info.IndexOf('\'', open + 1);
        if (close < 0)
        {
            return false;
        }

        var parts = info[(open + 1)..close].Split(':');
        if (parts.Length is < 2 or > 3 || !Guid.TryParse(parts[0], out var uuid)
            || !long.TryParse(parts[^1], NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number < 1)
        {
            return false;
        }

        var tag = parts.Length == 3 ? parts[1].Trim().ToLowerInvariant() : string.Empty;
        if (parts.Length == 3 && tag.Length == 0)
        {
            return false;
        }

        gtid = new MySqlGtid(uuid, tag, number);
        return true;
    }

    /// <summary>A <c>Rotate</c> event: <c>binlog.000002;pos=4</c>.</summary>
    /// <param name="info">The event's Info.</param>
    /// <param name="file">The next file.</param>
    /// <param name="position">The position in it.</param>
    /// <returns><see langword="true"/> when the text is a rotate target.</returns>
    public static bool TryParseRotate(string info, out string file, out ulong position)
    {
        ArgumentNullException.ThrowIfNull(info);
        file = string.Empty;
        position = 0;
        var separator = info.LastIndexOf(";pos=", StringComparison.Ordinal);
        if (separator <= 0 || !ulong.TryParse(info.AsSpan(separator + ";pos=".Length), NumberStyles.None, CultureInfo.InvariantCulture, out position))
        {
            return false;
        }

        file = info[..separator];
        return true;
    }

    /// <summary>Whether a <c>Query</c> event ends the open transaction (<c>COMMIT</c>, <c>ROLLBACK</c>, <c>XA COMMIT</c>, …).</summary>
    /// <param name="info">The event's Info.</param>
    /// <returns><see langword="true"/> for a transaction-ending statement.</returns>
    public static bool EndsTransaction(string info)
    {
        ArgumentNullException.ThrowIfNull(info);
        var text = info.TrimStart();
        return text.StartsWith("COMMIT", StringComparison.OrdinalIgnoreCase)
            || text.StartsWith("ROLLBACK", StringComparison.OrdinalIgnoreCase)
            || text.StartsWith("XA COMMIT", StringComparison.OrdinalIgnoreCase)
            || text.StartsWith("XA ROLLBACK", StringComparison.OrdinalIgnoreCase)
            || text.StartsWith("XA PREPARE", StringComparison.OrdinalIgnoreCase);
    }
}
