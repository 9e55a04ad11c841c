using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres.Store;
using Cdc.Checkpoint.TestServers;
using Npgsql;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Postgres.Tests.Store;

/// <summary>One database with the checkpoint tables, shared by the store tests of this process (names are unique per test).</summary>
internal static class StoreDatabase
{
    private static readonly Lazy<Task<NpgsqlDataSource>> Shared = new(CreateAsync);

    private static readonly Lazy<Task<NpgsqlDataSource>> WithoutTables = new(CreateWithoutTablesAsync);

    public static OffsetCodecRegistry Codecs { get; } = OffsetCodecRegistry.Empty.WithPostgres().With(ConformanceOffset.OffsetCodec);

    public static Task<NpgsqlDataSource> GetAsync() => Shared.Value;

    /// <summary>A database on the same server where the checkpoint tables were never created.</summary>
    public static Task<NpgsqlDataSource> GetWithoutTablesAsync() => WithoutTables.Value;

    /// <summary>The offset the store tests save: <paramref name="lsn"/> on one slot of one server.</summary>
    public static PostgresOffset Offset(ulong lsn) => new(new NpgsqlLogSequenceNumber(lsn), "store_slot", 7_000_000_000_000_000_001UL, 1, "app");

    public static PostgresCheckpointStore NewStore(NpgsqlDataSource dataSource, string? name = null, TimeProvider? timeProvider = null, string owner = "test") =>
        new(dataSource, name ?? "ckpt-" + Guid.NewGuid().ToString("N")[..12], new PostgresCheckpointStoreOptions { Codecs = Codecs, Owner = owner }, timeProvider: timeProvider);

    private static async Task<NpgsqlDataSource> CreateAsync()
    {
        var server = await PostgresTestServer.GetAsync();
        var dataSource = NpgsqlDataSource.Create(await server.CreateDatabaseAsync("store"));
        await new PostgresCheckpointStore(dataSource, "schema").CreateSchemaAsync();
        return dataSource;
    }

    private static async Task<NpgsqlDataSource> CreateWithoutTablesAsync()
    {
        var server = await PostgresTestServer.GetAsync();
        return NpgsqlDataSource.Create(await server.CreateDatabaseAsync("notables"));
    }
}
