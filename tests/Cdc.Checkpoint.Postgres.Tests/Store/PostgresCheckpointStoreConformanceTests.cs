using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.Postgres.Store;

namespace Cdc.Checkpoint.Postgres.Tests.Store;

/// <summary>The shared store conformance suite, run against <see cref="PostgresCheckpointStore"/> on a real server.</summary>
public sealed class PostgresCheckpointStoreConformanceTests : CheckpointStoreConformanceTests
{
    protected override async Task<ICheckpointStore> CreateStoreAsync() => StoreDatabase.NewStore(await StoreDatabase.GetAsync());

    protected override async Task<ICheckpointStore> ReopenAsync(ICheckpointStore store) =>
        StoreDatabase.NewStore(await StoreDatabase.GetAsync(), ((PostgresCheckpointStore)store).Name);
}
