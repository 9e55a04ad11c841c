using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.MySql.Store;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.TestServers.MariaDb;
using MySqlConnector;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Store;

/// <summary>A database of its own on the shared MariaDB, with the checkpoint tables created once.</summary>
public sealed class StoreDatabase : IAsyncLifetime
{
    public MariaDbTestServer Server { get; private set; } = null!;

    public string Database { get; private set; } = null!;

    public MySqlDataSource DataSource { get; private set; } = null!;

    public MySqlCheckpointStoreOptions Options { get; } = new()
    {
        Codecs = OffsetCodecRegistry.Empty.WithMySql().With(ConformanceOffset.OffsetCodec),
    };

    public async ValueTask InitializeAsync()
    {
        Server = await MariaDbTestServer.GetAsync();
        Database = await Server.CreateDatabaseAsync("store");
        DataSource = Server.CreateDataSource(Database);
        await new MySqlCheckpointStore(DataSource, "schema", Options).CreateSchemaAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (DataSource is not null)
        {
            await DataSource.DisposeAsync();
        }
    }

    public MySqlCheckpointStore NewStore(string? name = null, MySqlCheckpointStoreOptions? options = null, TimeProvider? timeProvider = null) =>
        new(DataSource, name ?? "store-" + Guid.NewGuid().ToString("N"), options ?? Options, timeProvider: timeProvider);
}
