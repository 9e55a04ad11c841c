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
            throw new FormatException($"Invalid {sourceType} offset JSON {Raw(offset)}: '{fileField}' {GenericOffset.Quote(file)} is not a binlog file name: {error}.");
        }

        return new BinlogPosition(file, position.Value);
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
