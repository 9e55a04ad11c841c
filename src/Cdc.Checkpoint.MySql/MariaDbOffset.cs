using System.Text.Json;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Serialization;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.MySql;

/// <summary>
/// A position in a MariaDB change stream: the GTID position, the binlog file and position, or both, plus the
/// <c>server_id</c> it was read from and how far into the current transaction the consumer got.
/// </summary>
/// <remarks>
/// <para>
/// <b>Fields.</b> At least one of <see cref="GtidPosition"/> (the last GTID processed in each domain, as
/// <c>gtid_binlog_pos</c> prints it) and <see cref="BinlogPosition"/> is present. <see cref="BinlogOffset.SkipEvents"/> and
/// <see cref="BinlogOffset.SkipRows"/> resume inside a transaction: after the position, skip that many events of the next
/// transaction, then that many rows of the following event.
/// </para>
/// <para>
/// <b>Order</b> (<see cref="BinlogOffset.CompareTo"/>):
/// <list type="number">
/// <item>An offset of another type or source type is <see cref="OffsetOrder.Diverged"/>.</item>
/// <item>When both have a GTID position, the positions decide (see <see cref="MariaDbGtidPosition.CompareTo"/>, which
/// also explains how <c>gtid_strict_mode</c> relates) and the server id and binlog position are ignored: GTIDs are
/// global, so a failover to another server is legitimate. Equal positions compare by skip counts.</item>
/// <item>Otherwise both must have a binlog position; when both know their <see cref="BinlogOffset.ServerId"/> and the ids differ,
/// the offsets are <see cref="OffsetOrder.Diverged"/>. Then the binlog position decides, then the skip counts.</item>
/// <item>A GTID-only offset compared with a binlog-only offset is <see cref="OffsetOrder.Diverged"/>.</item>
/// </list>
/// </para>
/// <para>
/// <b>JSON</b> (format version 2): <c>{"gtid_position":"0-1-100,1-2-5","binlog_file":"mariadb-bin.000007",
/// "binlog_position":4,"server_id":1,"skip_events":2,"skip_rows":1}</c>, in that order; absent fields and zero skip
/// counts are omitted, an empty GTID position is written as <c>""</c>. <see cref="MariaDbOffsetCodec"/> also reads
/// rustcdc's format version 1.
/// </para>
/// <para>Instances are immutable and thread-safe.</para>
/// </remarks>
public sealed class MariaDbOffset : BinlogOffset, ITypedOffset<MariaDbOffset>
{
    /// <summary>The codec that reads MariaDB offsets.</summary>
    public static IOffsetCodec OffsetCodec => MariaDbOffsetCodec.Instance;

    /// <summary>The source type of a streaming MariaDB offset.</summary>
    public const string DefaultSourceType = "mariadb";

    /// <summary>The source type of the snapshot phase of a MariaDB source.</summary>
    public const string SnapshotSourceType = "mariadb_snapshot";

    /// <summary>Creates a MariaDB offset.</summary>
    /// <param name="gtidPosition">The GTID position, or <see langword="null"/> when GTIDs are not tracked.</param>
    /// <param name="binlogPosition">The binlog position, or <see langword="null"/> when only GTIDs are tracked.</param>
    /// <param name="serverId">The <c>server_id</c> the position was read from, if known.</param>
    /// <param name="skipEvents">Events of the next transaction already processed. <value>Default 0.</value></param>
    /// <param name="skipRows">Rows of the next event already processed. <value>Default 0.</value></param>
    /// <param name="sourceType">
    /// <see cref="DefaultSourceType"/> (<c>mariadb</c>) or another source type of the <c>mariadb</c> family such as
    /// <see cref="SnapshotSourceType"/>. <value>Default <c>mariadb</c>.</value>
    /// </param>
    /// <exception cref="ArgumentException">
    /// Neither a GTID position nor a binlog position is given, or <paramref name="sourceType"/> is not in the
    /// <c>mariadb</c> family.
    /// </exception>
    public MariaDbOffset(
        MariaDbGtidPosition? gtidPosition,
        BinlogPosition? binlogPosition,
        uint? serverId = null,
        ulong skipEvents = 0,
        ulong skipRows = 0,
        string sourceType = DefaultSourceType)
        : base(sourceType, DefaultSourceType, gtidPosition is not null, binlogPosition, serverId, skipEvents, skipRows, NoPosition, nameof(gtidPosition))
    {
        GtidPosition = gtidPosition;
    }

    private const string NoPosition =
        "A MariaDB offset needs a GTID position, a binlog position, or both; pass MariaDbGtidPosition.Empty to start from the first transaction.";

    /// <summary>The last GTID processed in each domain, or <see langword="null"/> when GTIDs are not tracked.</summary>
    public MariaDbGtidPosition? GtidPosition { get; }

    /// <inheritdoc />
    public override IOffsetCodec Codec => MariaDbOffsetCodec.Instance;

    private protected override string? GtidText => GtidPosition?.ToString();

    private protected override OffsetOrder? CompareGtid(BinlogOffset other) =>
        GtidPosition is not null && ((MariaDbOffset)other).GtidPosition is { } theirs ? GtidPosition.CompareTo(theirs) : null;

    /// <inheritdoc />
    public override void WriteJson(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var dto = new MariaDbOffsetDto
        {
            GtidPosition = GtidPosition?.ToString(),
            BinlogFile = BinlogPosition?.FileName,
            BinlogPosition = BinlogPosition?.Position,
            ServerId = ServerId,
            SkipEvents = SkipEvents,
            SkipRows = SkipRows,
        };
        JsonSerializer.Serialize(writer, dto, MySqlOffsetJsonContext.Default.MariaDbOffsetDto);
    }
}
