using System.Text.Json;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;

namespace Cdc.Checkpoint.Cli.Reading;

/// <summary>
/// Values rustcdc stored without checking them, which the library keeps readable as written and resume validation
/// judges against the live server: the tool reports them instead of refusing the record.
/// </summary>
internal static class LegacyValues
{
    /// <summary>A warning about <paramref name="record"/>'s offset, or <see langword="null"/> when there is nothing odd.</summary>
    public static string? Describe(CheckpointRecord record)
    {
        switch (record.Offset)
        {
            case PostgresOffset { HasValidSlotName: false } pg:
                return $"slot name '{pg.SlotName}' is not a valid PostgreSQL slot name (1-{PostgresOffset.MaxSlotNameLength} characters of [a-z0-9_]); rustcdc did not check it. "
                    + "The record is read and migrated as it is, but resume validation refuses it: record the slot the consumer really streams with `cdc-checkpoint rewind`.";
            case GenericOffset generic when SourceTypeName.FamilyOf(generic.SourceType) == MySqlOffset.DefaultSourceType
                                            && generic.Value.ValueKind == JsonValueKind.Object
                                            && generic.Value.TryGetProperty("gtid", out var gtid)
                                            && gtid.ValueKind == JsonValueKind.String:
                var text = gtid.GetString()!;
                return MariaDbGtidPosition.TryParse(text, out var position)
                    ? $"gtid '{text}' is not a MySQL GTID set but a MariaDB GTID position ({position}), stored by rustcdc under source type '{generic.SourceType}'. "
                        + "The record is kept as written; resume validation checks it as a MariaDB position against the live server (a MySQL server refuses it)."
                    : $"gtid '{text}' is neither a MySQL GTID set nor a MariaDB GTID position (rustcdc stored it as free text). "
                        + "The record is kept as written, but no server can resume from it: record the real position with `cdc-checkpoint rewind`.";
            default:
                return null;
        }
    }
}
