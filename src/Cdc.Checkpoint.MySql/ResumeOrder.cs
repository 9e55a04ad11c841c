using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.MySql;

/// <summary>The order rules MySQL and MariaDB offsets share.</summary>
internal static class ResumeOrder
{
    /// <summary>Orders two in-transaction resume points at the same transaction boundary: events first, then rows.</summary>
    public static OffsetOrder CompareSkips(ulong events, ulong rows, ulong otherEvents, ulong otherRows)
    {
        if (events != otherEvents)
        {
            return events > otherEvents ? OffsetOrder.After : OffsetOrder.Before;
        }

        return rows == otherRows ? OffsetOrder.Same : rows > otherRows ? OffsetOrder.After : OffsetOrder.Before;
    }

    /// <summary>Orders by binlog position, then by skip counts when the binlog positions are the same.</summary>
    public static OffsetOrder CompareBinlog(
        BinlogPosition binlog,
        ulong events,
        ulong rows,
        BinlogPosition otherBinlog,
        ulong otherEvents,
        ulong otherRows)
    {
        var order = binlog.CompareTo(otherBinlog);
        return order == OffsetOrder.Same ? CompareSkips(events, rows, otherEvents, otherRows) : order;
    }

    /// <summary>Orders by a GTID order, then by skip counts when the GTID state is the same.</summary>
    public static OffsetOrder ThenSkips(OffsetOrder gtidOrder, ulong events, ulong rows, ulong otherEvents, ulong otherRows) =>
        gtidOrder == OffsetOrder.Same ? CompareSkips(events, rows, otherEvents, otherRows) : gtidOrder;
}
