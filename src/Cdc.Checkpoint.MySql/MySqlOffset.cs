using System.Globalization;
using System.Text.Json;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Serialization;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.MySql;

/// <summary>
/// A position in a MySQL change stream: the executed GTID set, the binlog file and position, or both, plus the
/// identity of the server it was read from and how far into the current transaction the consumer got.
/// </summary>
/// <remarks>
/// <para>
/// <b>Fields.</b> At least one of <see cref="GtidSet"/> (the transactions fully processed, as
/// <c>gtid_executed</c> prints them) and <see cref="BinlogPosition"/> is present. <see cref="ServerUuid"/> and
/// <see cref="BinlogOffset.ServerId"/> record which server the position was read from, when known. <see cref="BinlogOffset.SkipEvents"/> and
/// <see cref="BinlogOffset.SkipRows"/> resume inside a transaction, as Debezium's <c>event</c> and <c>row</c> offsets do: after
/// the position, skip that many events of the next transaction, then that many rows of the following event.
/// </para>
/// <para>
/// <b>Order</b> (<see cref="BinlogOffset.CompareTo"/>):
/// <list type="number">
/// <item>An offset of another type or source type (<c>mysql</c> vs <c>mysql_snapshot</c>) is
/// <see cref="OffsetOrder.Diverged"/>.</item>
/// <item>When both offsets have a GTID set, the sets decide and the server identity and binlog position are ignored:
/// GTIDs are global across a replication topology, so resuming on another server after a failover is legitimate, and
/// binlog file names differ between servers. Equal sets compare by skip counts (<see cref="BinlogOffset.SkipEvents"/>, then
/// <see cref="BinlogOffset.SkipRows"/>); a strict superset is <see cref="OffsetOrder.After"/>, a strict subset
/// <see cref="OffsetOrder.Before"/>, and anything else (each set holds a transaction the other lacks)
/// <see cref="OffsetOrder.Diverged"/>.</item>
/// <item>Otherwise both must have a binlog position and come from the same server: when both know their
/// <see cref="ServerUuid"/>, or both know their <see cref="BinlogOffset.ServerId"/>, a difference is
/// <see cref="OffsetOrder.Diverged"/> (a binlog position means nothing on another server). Then the binlog position
/// decides (see <see cref="MySql.BinlogPosition.CompareTo"/>), then the skip counts.</item>
/// <item>An offset with only a GTID set compared with one with only a binlog position is
/// <see cref="OffsetOrder.Diverged"/>.</item>
/// </list>
/// </para>
/// <para>
/// <b>JSON</b> (format version 2): <c>{"gtid_set":"…","binlog_file":"mysql-bin.000123","binlog_position":4,
/// "server_uuid":"…","server_id":1,"skip_events":2,"skip_rows":1}</c>, in that order; absent fields and zero skip
/// counts are omitted, an empty GTID set is written as <c>""</c>. <see cref="MySqlOffsetCodec"/> also reads rustcdc's
/// format version 1.
/// </para>
/// <para>Instances are immutable and thread-safe.</para>
/// </remarks>
public sealed class MySqlOffset : BinlogOffset, ITypedOffset<MySqlOffset>
{
    /// <summary>The source type of a streaming MySQL offset.</summary>
    public const string DefaultSourceType = "mysql";

    /// <summary>The source type of the snapshot phase of a MySQL source.</summary>
    public const string SnapshotSourceType = "mysql_snapshot";

    /// <summary>Creates a MySQL offset.</summary>
    /// <param name="gtidSet">The executed GTID set, or <see langword="null"/> when the server does not use GTIDs.</param>
    /// <param name="binlogPosition">The binlog position, or <see langword="null"/> when only GTIDs are tracked.</param>
    /// <param name="serverUuid">The <c>server_uuid</c> the position was read from, if known.</param>
    /// <param name="serverId">The <c>server_id</c> the position was read from, if known.</param>
    /// <param name="skipEvents">Events of the next transaction already processed. <value>Default 0.</value></param>
    /// <param name="skipRows">Rows of the next event already processed. <value>Default 0.</value></param>
    /// <param name="sourceType">
    /// <see cref="DefaultSourceType"/> (<c>mysql</c>) or another source type of the <c>mysql</c> family such as
    /// <see cref="SnapshotSourceType"/>. <value>Default <c>mysql</c>.</value>
    /// </param>
    /// <exception cref="ArgumentException">
    /// Neither a GTID set nor a binlog position is given, <paramref name="serverUuid"/> is <see cref="Guid.Empty"/>, or
    /// <paramref name="sourceType"/> is not in the <c>mysql</c> family.
    /// </exception>
    public MySqlOffset(
        GtidSet? gtidSet,
        BinlogPosition? binlogPosition,
        Guid? serverUuid = null,
        uint? serverId = null,
        ulong skipEvents = 0,
        ulong skipRows = 0,
        string sourceType = DefaultSourceType)
        : base(sourceType, DefaultSourceType, gtidSet is not null, binlogPosition, serverId, skipEvents, skipRows, NoPosition, nameof(gtidSet))
    {
        if (serverUuid == Guid.Empty)
        {
            throw new ArgumentException("The server UUID is all zeros; pass null when the server UUID is unknown.", nameof(serverUuid));
        }

        GtidSet = gtidSet;
        ServerUuid = serverUuid;
    }

    private const string NoPosition =
        "A MySQL offset needs a GTID set, a binlog position, or both; pass GtidSet.Empty to start from the first transaction.";

    /// <summary>The codec that reads MySQL offsets.</summary>
    public static IOffsetCodec OffsetCodec => MySqlOffsetCodec.Instance;

    /// <summary>The transactions fully processed, or <see langword="null"/> when GTIDs are not tracked.</summary>
    public GtidSet? GtidSet { get; }

    /// <summary>The <c>server_uuid</c> of the server the position was read from, if known.</summary>
    public Guid? ServerUuid { get; }

    /// <inheritdoc />
    public override IOffsetCodec Codec => MySqlOffsetCodec.Instance;

    // For example "gtid 3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5, binlog mysql-bin.000123:4, server 3e11fa47-…/1, skip 2 events 1 rows".
    private protected override string? GtidText => GtidSet?.ToString();

    private protected override string? ServerText =>
        ServerUuid is null && ServerId is null
            ? null
            : (ServerUuid?.ToString("D") ?? "?") + "/" + (ServerId?.ToString(CultureInfo.InvariantCulture) ?? "?");

    /// <inheritdoc />
    public override void WriteJson(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var dto = new MySqlOffsetDto
        {
            GtidSet = GtidSet?.ToString(),
            BinlogFile = BinlogPosition?.FileName,
            BinlogPosition = BinlogPosition?.Position,
            ServerUuid = ServerUuid?.ToString("D"),
            ServerId = ServerId,
            SkipEvents = SkipEvents,
            SkipRows = SkipRows,
        };
        JsonSerializer.Serialize(writer, dto, MySqlOffsetJsonContext.Default.MySqlOffsetDto);
    }

    private protected override OffsetOrder? CompareGtid(BinlogOffset other) =>
        GtidSet is not null && ((MySqlOffset)other).GtidSet is { } theirs ? GtidSet.CompareTo(theirs) : null;

    // A binlog position means nothing on another server: a known UUID that differs, or a known id that differs, diverges.
    private protected override bool SameServer(BinlogOffset other) =>
        (ServerUuid is not { } uuid || ((MySqlOffset)other).ServerUuid is not { } otherUuid || uuid == otherUuid) && base.SameServer(other);
}
