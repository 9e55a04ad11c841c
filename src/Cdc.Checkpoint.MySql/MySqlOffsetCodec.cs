using System.Text.Json;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Serialization;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.MySql;

/// <summary>
/// Reads <see cref="MySqlOffset"/> JSON for the <c>mysql</c> family (<c>mysql</c>, <c>mysql_snapshot</c>): the current
/// shape (format version 2 and later, see <see cref="MySqlOffset"/>) and rustcdc's format version 1,
/// <c>{"gtid": "&lt;GTID set&gt;", "binlog_file": "…", "binlog_pos": 4}</c>.
/// </summary>
/// <remarks>
/// In a version 1 record an empty <c>gtid</c> means "no GTIDs" and an empty <c>binlog_file</c> (with
/// <c>binlog_pos</c> 0) means "no binlog position"; a record with neither is refused. rustcdc did not check <c>gtid</c>:
/// a version 1 record whose <c>gtid</c> is not a MySQL GTID set (a MariaDB GTID such as <c>0-1-100</c>, or any other
/// text) is read as it was written, as a <see cref="GenericOffset"/>, and <see cref="Validation.MySqlResumeValidator"/>
/// interprets it against the live server. Stateless and thread-safe.
/// </remarks>
public sealed class MySqlOffsetCodec : IOffsetCodec
{
    private MySqlOffsetCodec()
    {
    }

    /// <summary>The instance.</summary>
    public static MySqlOffsetCodec Instance { get; } = new();

    /// <inheritdoc />
    public bool CanRead(string sourceType) => OffsetJson.IsFamily(sourceType, MySqlOffset.DefaultSourceType);

    /// <inheritdoc />
    /// <exception cref="ArgumentException"><paramref name="sourceType"/> is not in the <c>mysql</c> family.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="formatVersion"/> is below 1.</exception>
    public CheckpointOffset Read(string sourceType, JsonElement offset, int formatVersion) =>
        OffsetJson.Read(sourceType, offset, formatVersion, MySqlOffset.DefaultSourceType, ReadCurrent, ReadV1);

    private static MySqlOffset ReadCurrent(string sourceType, JsonElement offset)
    {
        var dto = OffsetJson.Deserialize(sourceType, offset, MySqlOffsetJsonContext.Default.MySqlOffsetDto);
        var gtidSet = OffsetJson.ReadGtid(sourceType, offset, dto.GtidSet, "gtid_set", "GTID set", GtidSet.Parse);
        var binlog = OffsetJson.ReadBinlog(sourceType, offset, dto.BinlogFile, dto.BinlogPosition, "binlog_file", "binlog_position");
        Guid? serverUuid = null;
        if (dto.ServerUuid is not null)
        {
            if (!Guid.TryParseExact(dto.ServerUuid, "D", out var uuid) || uuid == Guid.Empty)
            {
                throw new FormatException(
                    $"Invalid {sourceType} offset JSON {OffsetJson.Raw(offset)}: field 'server_uuid' {OffsetJsonText.Quote(dto.ServerUuid)} is not a server UUID like 3e11fa47-71ca-11e1-9e33-c80aa9429562.");
            }

            serverUuid = uuid;
        }

        OffsetJson.RequirePosition(sourceType, offset, gtidSet is not null, binlog, "gtid_set");
        return new MySqlOffset(gtidSet, binlog, serverUuid, dto.ServerId, dto.SkipEvents, dto.SkipRows, sourceType);
    }

    private static CheckpointOffset ReadV1(string sourceType, JsonElement offset)
    {
        var dto = OffsetJson.Deserialize(sourceType, offset, MySqlOffsetJsonContext.Default.RustCdcV1MySqlOffsetDto);
        var (gtidText, binlog) = RustCdcV1.ReadCommon(sourceType, offset, dto);
        GtidSet? gtidSet = null;
        if (gtidText is not null && !GtidSet.TryParse(gtidText, out gtidSet))
        {
            // rustcdc stored `gtid` as free text: users tailing MariaDB under source type "mysql" stored MariaDB GTIDs
            // ("0-1-100"; rustcdc's own tests use "1-2-3"). The record is kept as written, as an opaque offset, so it
            // stays readable and migratable; MySqlResumeValidator reads it against the live server (RustCdcV1.Interpret).
            return new GenericOffset(sourceType, offset);
        }

        return new MySqlOffset(gtidSet, binlog, sourceType: sourceType);
    }
}
