using System.Text.Json;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.MySql.Serialization;

/// <summary>The part of reading rustcdc format version 1 records that MySQL and MariaDB share.</summary>
internal static class RustCdcV1
{
    /// <summary>
    /// Checks the three required fields and returns the GTID text (<see langword="null"/> when empty) and the binlog
    /// position (<see langword="null"/> when the file name is empty).
    /// </summary>
    public static (string? GtidText, BinlogPosition? Binlog) ReadCommon(string sourceType, JsonElement offset, RustCdcV1MySqlOffsetDto dto)
    {
        string Missing(string field) =>
            $"The rustcdc v1 {sourceType} offset {OffsetJson.Raw(offset)} lacks the required field '{field}' (v1 records have 'gtid', 'binlog_file' and 'binlog_pos'); the record is damaged.";

        if (dto.Gtid is null)
        {
            throw new FormatException(Missing("gtid"));
        }

        if (dto.BinlogFile is null)
        {
            throw new FormatException(Missing("binlog_file"));
        }

        if (dto.BinlogPos is null)
        {
            throw new FormatException(Missing("binlog_pos"));
        }

        BinlogPosition? binlog = null;
        if (dto.BinlogFile.Length == 0)
        {
            if (dto.BinlogPos.Value != 0)
            {
                throw new FormatException(
                    $"The rustcdc v1 {sourceType} offset {OffsetJson.Raw(offset)} has binlog_pos {dto.BinlogPos.Value} but an empty binlog_file; the record is damaged.");
            }
        }
        else if (!BinlogPosition.TryValidateFileName(dto.BinlogFile, out _, out _, out var error))
        {
            throw new FormatException(
                $"The rustcdc v1 {sourceType} offset {OffsetJson.Raw(offset)} has binlog_file {OffsetJsonText.Quote(dto.BinlogFile)}, which is not a binlog file name: {error}.");
        }
        else
        {
            binlog = new BinlogPosition(dto.BinlogFile, dto.BinlogPos.Value);
        }

        var gtidText = string.IsNullOrWhiteSpace(dto.Gtid) ? null : dto.Gtid;
        if (gtidText is null && binlog is null)
        {
            throw new FormatException(
                $"The rustcdc v1 {sourceType} offset {OffsetJson.Raw(offset)} has an empty gtid and an empty binlog_file, so it names no position; remove the record to start over.");
        }

        return (gtidText, binlog);
    }

    /// <summary>
    /// What resume validation compares with the live server for <paramref name="checkpoint"/>: the checkpoint itself,
    /// except for a rustcdc version 1 <c>mysql</c> record kept opaque because its <c>gtid</c> is not a MySQL GTID set
    /// (<see cref="MySqlOffsetCodec"/>). That one is a <see cref="MariaDbOffset"/> when its <c>gtid</c> parses as a
    /// MariaDB GTID position (a rustcdc user tailing MariaDB under source type <c>mysql</c>), so the server decides:
    /// a MariaDB server checks it like any MariaDB checkpoint, a MySQL server refuses it as another flavour's position.
    /// </summary>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.Misconfigured"/>: the legacy <c>gtid</c> is neither a MySQL GTID set nor a MariaDB
    /// GTID position, so no server can resume from it.
    /// </exception>
    public static CheckpointOffset? Interpret(CheckpointOffset? checkpoint)
    {
        if (checkpoint is not GenericOffset generic
            || !OffsetJson.IsFamily(generic.SourceType, MySqlOffset.DefaultSourceType)
            || generic.Value.ValueKind != JsonValueKind.Object
            || !generic.Value.TryGetProperty("gtid", out _))
        {
            return checkpoint;
        }

        (string? GtidText, BinlogPosition? Binlog) read;
        try
        {
            read = ReadCommon(generic.SourceType, generic.Value, OffsetJson.Deserialize(generic.SourceType, generic.Value, MySqlOffsetJsonContext.Default.RustCdcV1MySqlOffsetDto));
        }
        catch (FormatException)
        {
            return checkpoint; // not a rustcdc v1 shape: the validator refuses it as an opaque offset
        }

        if (read.GtidText is null || MariaDbGtidPosition.TryParse(read.GtidText, out var position) is false)
        {
            throw new CheckpointException(
                CheckpointErrorCode.Misconfigured,
                $"Checkpoint {checkpoint} comes from a rustcdc version 1 record whose gtid {OffsetJsonText.Quote(read.GtidText ?? string.Empty)} is neither a MySQL GTID set nor a MariaDB GTID position (rustcdc stored it as free text), so no server can resume from it. Find the source's real position (MySQL: SELECT @@gtid_executed; MariaDB: SELECT @@gtid_binlog_pos) and record it with `cdc-checkpoint rewind`.");
        }

        return new MariaDbOffset(position, read.Binlog);
    }
}
