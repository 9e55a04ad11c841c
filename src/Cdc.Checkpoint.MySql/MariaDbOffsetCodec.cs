using System.Text.Json;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Serialization;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.MySql;

/// <summary>
/// Reads <see cref="MariaDbOffset"/> JSON for the <c>mariadb</c> family (<c>mariadb</c>, <c>mariadb_snapshot</c>): the
/// current shape (format version 2 and later, see <see cref="MariaDbOffset"/>) and rustcdc's format version 1, which
/// stored MariaDB offsets in the MySQL shape <c>{"gtid": "0-1-100", "binlog_file": "…", "binlog_pos": 4}</c>.
/// </summary>
/// <remarks>
/// In a version 1 record an empty <c>gtid</c> means "no GTIDs" and an empty <c>binlog_file</c> (with
/// <c>binlog_pos</c> 0) means "no binlog position"; a record with neither is refused. Stateless and thread-safe.
/// </remarks>
public sealed class MariaDbOffsetCodec : IOffsetCodec
{
    private MariaDbOffsetCodec()
    {
    }

    /// <summary>The instance.</summary>
    public static MariaDbOffsetCodec Instance { get; } = new();

    /// <inheritdoc />
    public bool CanRead(string sourceType) => OffsetJson.IsFamily(sourceType, MariaDbOffset.DefaultSourceType);

    /// <inheritdoc />
    /// <exception cref="ArgumentException"><paramref name="sourceType"/> is not in the <c>mariadb</c> family.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="formatVersion"/> is below 1.</exception>
    public CheckpointOffset Read(string sourceType, JsonElement offset, int formatVersion) =>
        OffsetJson.Read(sourceType, offset, formatVersion, MariaDbOffset.DefaultSourceType, ReadCurrent, ReadV1);

    private static MariaDbOffset ReadCurrent(string sourceType, JsonElement offset)
    {
        var dto = OffsetJson.Deserialize(sourceType, offset, MySqlOffsetJsonContext.Default.MariaDbOffsetDto);
        var position = OffsetJson.ReadGtid(sourceType, offset, dto.GtidPosition, "gtid_position", "GTID position", MariaDbGtidPosition.Parse);
        var binlog = OffsetJson.ReadBinlog(sourceType, offset, dto.BinlogFile, dto.BinlogPosition, "binlog_file", "binlog_position");
        OffsetJson.RequirePosition(sourceType, offset, position is not null, binlog, "gtid_position");
        return new MariaDbOffset(position, binlog, dto.ServerId, dto.SkipEvents, dto.SkipRows, sourceType);
    }

    private static MariaDbOffset ReadV1(string sourceType, JsonElement offset)
    {
        var dto = OffsetJson.Deserialize(sourceType, offset, MySqlOffsetJsonContext.Default.RustCdcV1MySqlOffsetDto);
        var (gtidText, binlog) = RustCdcV1.ReadCommon(sourceType, offset, dto);
        MariaDbGtidPosition? position = null;
        if (gtidText is not null)
        {
            try
            {
                position = MariaDbGtidPosition.Parse(gtidText);
            }
            catch (FormatException ex)
            {
                var hint = GtidSet.TryParse(gtidText, out _)
                    ? " It looks like a MySQL GTID set: if the source is MySQL, the record belongs under source type 'mysql'."
                    : string.Empty;
                throw new FormatException(
                    $"The rustcdc v1 {sourceType} record's gtid {OffsetJsonText.Quote(gtidText)} isn't a valid MariaDB GTID position ({ex.Message}).{hint} rustcdc did not validate this field; correct it to the source's gtid_binlog_pos value, or remove the record and resume from a known position.",
                    ex);
            }
        }

        return new MariaDbOffset(position, binlog, sourceType: sourceType);
    }
}
