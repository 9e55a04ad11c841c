using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using Xunit;

namespace Cdc.Checkpoint.Cli.Tests.Support;

/// <summary>Records written the way consumers write them: by the library, or as rustcdc v1 files.</summary>
public static class Fixtures
{
    public const string ServerUuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562";

    /// <summary>rustcdc 0.6 (format version 1) PostgreSQL record: LSN as a number.</summary>
    public const string PostgresV1 =
        """{"checkpoint_format_version":1,"source_type":"postgres","committed_event_count":11,"offset":{"lsn":99,"slot_name":"slot_a"}}""";

    public const string PostgresSnapshotV1 =
        """{"checkpoint_format_version":1,"source_type":"postgres_snapshot","committed_event_count":5,"offset":{"lsn":50,"slot_name":"slot_a"}}""";

    /// <summary>rustcdc v1 MySQL record; its GTID set is not in canonical form (upper case, split interval).</summary>
    public const string MySqlV1 =
        """{"checkpoint_format_version":1,"source_type":"mysql","committed_event_count":7,"offset":{"gtid":"3E11FA47-71CA-11E1-9E33-C80AA9429562:1-3:4-5","binlog_file":"mysql-bin.000001","binlog_pos":4}}""";

    public static FileCheckpointOptions Options => new() { Codecs = OffsetCodecRegistry.Empty.WithPostgres().WithMySql() };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static PostgresOffset Pg(string lsn, string slot = "orders_slot", uint? timeline = null) =>
        new(PostgresOffset.ParseLsn(lsn), slot, timeline: timeline);

    /// <summary>Saves through the library (taking and releasing the lease in this test process).</summary>
    public static async Task SaveAsync(string directory, CheckpointOffset offset, ulong count)
    {
        var checkpoint = new FileCheckpoint(directory, Options);
        await using (checkpoint)
        {
            await checkpoint.SaveAsync(offset, count, Ct);
        }
    }

    public static async Task<CheckpointRecord?> LoadAsync(string directory, string sourceType)
    {
        var checkpoint = new FileCheckpoint(directory, Options);
        await using (checkpoint)
        {
            return await checkpoint.LoadAsync(sourceType, Ct);
        }
    }

    public static string LeasePath(string directory) => Path.Combine(directory, FileCheckpoint.LeaseFileName);
}
