using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Tables;
using Xunit;

namespace Cdc.Checkpoint.Conformance.TableStores;

/// <summary>The base of the shared table-store suites: the provider's <see cref="TableStoreHarness"/> and shortcuts to it.</summary>
public abstract class TableStoreSuite
{
    /// <summary>The test's cancellation token.</summary>
    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The provider's harness on its real throwaway server.</summary>
    protected abstract TableStoreHarness Harness { get; }

    /// <summary>The provider's own ordered offset at <paramref name="position"/>.</summary>
    protected CheckpointOffset Offset(ulong position) => Harness.Offset(position);

    /// <summary>A store on the database with the checkpoint tables (see <see cref="TableStoreHarness.NewStoreAsync"/>).</summary>
    protected Task<TableCheckpointStore> NewStoreAsync(string? name = null, string owner = "test", TimeProvider? timeProvider = null) =>
        Harness.NewStoreAsync(name, owner, timeProvider);
}
