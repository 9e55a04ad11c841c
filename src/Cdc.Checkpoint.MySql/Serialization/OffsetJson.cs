using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.MySql.Serialization;

/// <summary>Reading helpers shared by the MySQL and MariaDB codecs: every failure becomes a <see cref="FormatException"/> quoting the JSON.</summary>
internal static class OffsetJson
{
    /// <summary>The first format version written by this library; version 1 is rustcdc's.</summary>
    public const int RustCdcFormatVersion = 1;

    public static T Deserialize<T>(string sourceType, JsonElement offset, JsonTypeInfo<T> typeInfo)
        where T : class
    {
        if (offset.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException(
                $"The {sourceType} offset must be a JSON object, but it is {offset.ValueKind}: {Raw(offset)}. The checkpoint record is damaged or was written for another source type.");
        }

        // Before the serializer: it turns a lone surrogate escape into a JsonException, but bytes that are not UTF-8
        // into an InvalidOperationException, and its message does not say what is wrong with the text.
        if (OffsetJsonText.FindUndecodable(offset) is { } undecodable)
        {
            throw new FormatException(
                $"Invalid {sourceType} offset JSON {Raw(offset)}: {undecodable} {OffsetJsonText.NotUnicode}. The checkpoint record is damaged.");
        }

        try
        {
            return offset.Deserialize(typeInfo)
                ?? throw new FormatException($"The {sourceType} offset JSON {Raw(offset)} is null.");
        }
        catch (JsonException ex)
        {
            throw new FormatException(
                $"Invalid {sourceType} offset JSON {Raw(offset)}: {ex.Message} The checkpoint record is damaged or was written by a newer version of Cdc.Checkpoint.",
                ex);
        }
    }

    public static BinlogPosition? ReadBinlog(string sourceType, JsonElement offset, string? file, ulong? position, string fileField, string positionField)
    {
        if (file is null && position is null)
        {
            return null;
        }

        if (file is null || position is null)
        {
            throw new FormatException(
                $"Invalid {sourceType} offset JSON {Raw(offset)}: '{fileField}' and '{positionField}' must appear together.");
        }

        if (!BinlogPosition.TryValidateFileName(file, out _, out _, out var error))
        {
            throw new FormatException($"Invalid {sourceType} offset JSON {Raw(offset)}: '{fileField}' {OffsetJsonText.Quote(file)} is not a binlog file name: {error}.");
        }

        return new BinlogPosition(file, position.Value);
    }

    /// <summary>Checks the source type and format version, then reads rustcdc's version 1 or the current shape.</summary>
    public static CheckpointOffset Read(
        string sourceType,
        JsonElement offset,
        int formatVersion,
        string family,
        Func<string, JsonElement, CheckpointOffset> readCurrent,
        Func<string, JsonElement, CheckpointOffset> readV1)
    {
        CheckSourceType(sourceType, family);
        CheckFormatVersion(formatVersion);
        return formatVersion == RustCdcFormatVersion ? readV1(sourceType, offset) : readCurrent(sourceType, offset);
    }

    /// <summary>Parses the GTID field of the current shape; <see langword="null"/> when absent.</summary>
    public static T? ReadGtid<T>(string sourceType, JsonElement offset, string? text, string field, string what, Func<string, T> parse)
        where T : class
    {
        if (text is null)
        {
            return null;
        }

        try
        {
            return parse(text);
        }
        catch (FormatException ex)
        {
            throw new FormatException($"Invalid {sourceType} offset JSON {Raw(offset)}: field '{field}' is not a valid {what}. {ex.Message}", ex);
        }
    }

    /// <summary>Refuses a current-shape offset that names neither a GTID state nor a binlog position.</summary>
    public static void RequirePosition(string sourceType, JsonElement offset, bool hasGtid, BinlogPosition? binlog, string gtidField)
    {
        if (!hasGtid && binlog is null)
        {
            throw new FormatException(
                $"Invalid {sourceType} offset JSON {Raw(offset)}: it has neither '{gtidField}' nor 'binlog_file'/'binlog_position', so it names no position.");
        }
    }

    public static void CheckFormatVersion(int formatVersion)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(formatVersion, RustCdcFormatVersion);
    }

    public static void CheckSourceType(string sourceType, string family)
    {
        ArgumentNullException.ThrowIfNull(sourceType);
        if (!IsFamily(sourceType, family))
        {
            throw new ArgumentException(
                $"Source type '{sourceType}' is not in the '{family}' family; use '{family}' or '{family}{SourceTypeName.SnapshotSuffix}'.",
                nameof(sourceType));
        }
    }

    public static bool IsFamily([NotNullWhen(true)] string? sourceType, string family) =>
        sourceType is not null && SourceTypeName.IsValid(sourceType) && string.Equals(SourceTypeName.FamilyOf(sourceType), family, StringComparison.Ordinal);

    public static string Raw(JsonElement element) => OffsetJsonText.QuoteRaw(element);
}
