using System.Text.Json;
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
                $"The rustcdc v1 {sourceType} offset {OffsetJson.Raw(offset)} has binlog_file {GenericOffset.Quote(dto.BinlogFile)}, which is not a binlog file name: {error}.");
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
}
