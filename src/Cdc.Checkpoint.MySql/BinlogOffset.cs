using System.Globalization;
using System.Text;
using Cdc.Checkpoint.MySql.Serialization;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.MySql;

/// <summary>
/// What <see cref="MySqlOffset"/> and <see cref="MariaDbOffset"/> share: a GTID state of the server's flavour, a binlog
/// position, the <c>server_id</c> the position was read from, and how far into the current transaction the consumer got.
/// Use it to read those fields without caring which flavour an offset is; only this package derives from it.
/// </summary>
/// <remarks>
/// <para>
/// <b>Order</b> (<see cref="CompareTo"/>), the same for both flavours:
/// <list type="number">
/// <item>An offset of another type or source type is <see cref="OffsetOrder.Diverged"/>.</item>
/// <item>When both have a GTID state, it decides and the server identity and binlog position are ignored (GTIDs are
/// global, so a failover to another server is legitimate); equal states compare by skip counts.</item>
/// <item>Otherwise both must have a binlog position and come from the same server (a known server identity that differs
/// is <see cref="OffsetOrder.Diverged"/>); then the binlog position decides, then the skip counts.</item>
/// <item>A GTID-only offset compared with a binlog-only offset is <see cref="OffsetOrder.Diverged"/>.</item>
/// </list>
/// </para>
/// <para>Instances are immutable and thread-safe.</para>
/// </remarks>
public abstract class BinlogOffset : CheckpointOffset
{
    // Only this package's two flavours derive (private protected): the order rules assume one of them.
    private protected BinlogOffset(
        string sourceType,
        string family,
        bool hasGtid,
        BinlogPosition? binlogPosition,
        uint? serverId,
        ulong skipEvents,
        ulong skipRows,
        string noPositionMessage,
        string gtidParameterName)
        : base(sourceType)
    {
        OffsetJson.CheckSourceType(sourceType, family);
        if (!hasGtid && binlogPosition is null)
        {
            throw new ArgumentException(noPositionMessage, gtidParameterName);
        }

        BinlogPosition = binlogPosition;
        ServerId = serverId;
        SkipEvents = skipEvents;
        SkipRows = skipRows;
    }

    /// <summary>The binlog position, or <see langword="null"/> when only GTIDs are tracked.</summary>
    public BinlogPosition? BinlogPosition { get; }

    /// <summary>The <c>server_id</c> of the server the position was read from, if known.</summary>
    public uint? ServerId { get; }

    /// <summary>Events of the next transaction already processed (Debezium's <c>event</c>).</summary>
    public ulong SkipEvents { get; }

    /// <summary>Rows of the next event already processed (Debezium's <c>row</c>).</summary>
    public ulong SkipRows { get; }

    /// <inheritdoc />
    /// <remarks>The rules are listed in the remarks on <see cref="BinlogOffset"/>, <see cref="MySqlOffset"/> and <see cref="MariaDbOffset"/>.</remarks>
    public sealed override OffsetOrder CompareTo(CheckpointOffset other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other is not BinlogOffset that || that.GetType() != GetType() || !string.Equals(SourceType, that.SourceType, StringComparison.Ordinal))
        {
            return OffsetOrder.Diverged;
        }

        if (CompareGtid(that) is { } gtidOrder)
        {
            return ResumeOrder.ThenSkips(gtidOrder, SkipEvents, SkipRows, that.SkipEvents, that.SkipRows);
        }

        if (BinlogPosition is null || that.BinlogPosition is null || !SameServer(that))
        {
            return OffsetOrder.Diverged;
        }

        return ResumeOrder.CompareBinlog(BinlogPosition, SkipEvents, SkipRows, that.BinlogPosition, that.SkipEvents, that.SkipRows);
    }

    /// <summary>The offset in its human form: <c>gtid …, binlog file:position, server …, skip N events M rows</c>, each part only when present.</summary>
    /// <returns>The human form.</returns>
    public sealed override string ToString()
    {
        var builder = new StringBuilder();
        if (GtidText is { } gtid)
        {
            builder.Append("gtid ").Append(gtid.Length == 0 ? "(empty)" : gtid);
        }

        if (BinlogPosition is not null)
        {
            builder.Append(builder.Length > 0 ? ", " : string.Empty).Append("binlog ").Append(BinlogPosition.ToString());
        }

        if (ServerText is { } server)
        {
            builder.Append(", server ").Append(server);
        }

        if (SkipEvents != 0 || SkipRows != 0)
        {
            builder.Append(CultureInfo.InvariantCulture, $", skip {SkipEvents} events {SkipRows} rows");
        }

        return builder.ToString();
    }

    /// <summary>The GTID state as text (empty for an empty state), or <see langword="null"/> when GTIDs are not tracked.</summary>
    private protected abstract string? GtidText { get; }

    /// <summary>The server identity in the human form, or <see langword="null"/> when unknown.</summary>
    private protected virtual string? ServerText => ServerId?.ToString(CultureInfo.InvariantCulture);

    /// <summary>The order of the GTID states when both offsets (of the same type) have one; otherwise <see langword="null"/>.</summary>
    private protected abstract OffsetOrder? CompareGtid(BinlogOffset other);

    /// <summary>Whether a binlog position of <paramref name="other"/> (of the same type) may be compared with this one's.</summary>
    private protected virtual bool SameServer(BinlogOffset other) =>
        ServerId is not { } id || other.ServerId is not { } otherId || id == otherId;
}
