using System.Text.Json;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Tables;

/// <summary>
/// Turns a row a dialect read into a <see cref="CheckpointRecord"/>, validating everything first: the row layout version,
/// the offset JSON and its source type. A row that fails is <see cref="CheckpointErrorCode.Corrupt"/> or
/// <see cref="CheckpointErrorCode.UnsupportedFormatVersion"/>, naming the row and the fix.
/// </summary>
internal sealed class TableRowParser(OffsetCodecRegistry codecs, string tableName, string name, string? providerAssembly)
{
    /// <summary>The row layout this release writes (the format_version column).</summary>
    public const int RowFormatVersion = 1;

    // The offset column holds the offset JSON in the shape of the file checkpoint's current format, so the codecs read it
    // as that version: format_version is the version of the row layout, not of the offset JSON (a codec given 1 would read
    // the rustcdc v1 shape, which differs for MySQL and MariaDB offsets).
    private const int OffsetJsonVersion = Files.FileCheckpoint.CurrentFormatVersion;

    public CheckpointRecord Parse(TableRow row)
    {
        var where = $"{tableName} row (name '{name}', source_type '{row.SourceType}')";
        if (row.FormatVersion != RowFormatVersion)
        {
            throw new CheckpointException(
                CheckpointErrorCode.UnsupportedFormatVersion,
                $"Checkpoint {where} has format_version {row.FormatVersion}; this release reads version {RowFormatVersion}. Upgrade {providerAssembly}.");
        }

        CheckpointOffset offset;
        try
        {
            using var document = OffsetJsonText.Parse(row.OffsetJson);
            offset = codecs.Read(row.SourceType, document.RootElement, OffsetJsonVersion);
        }
        catch (Exception ex) when (ex is FormatException or JsonException or ArgumentException)
        {
            throw new CheckpointException(CheckpointErrorCode.Corrupt, $"Checkpoint {where} holds an offset that cannot be read: {ex.Message} Repair or rewind the row.", ex);
        }

        if (!string.Equals(offset.SourceType, row.SourceType, StringComparison.Ordinal))
        {
            throw new CheckpointException(CheckpointErrorCode.Corrupt, $"Checkpoint {where} was read as an offset of source type '{offset.SourceType}'. Repair or rewind the row.");
        }

        return new CheckpointRecord(row.SourceType, row.CommittedEventCount, offset)
        {
            FormatVersion = row.FormatVersion,
            Sequence = row.Sequence,
            SavedAt = row.UpdatedAt,
            Epoch = row.Epoch,
        };
    }
}
