using Cdc.Checkpoint.Conformance.TableStores;
using Cdc.Checkpoint.MySql.Store;
using Cdc.Checkpoint.MySql.Tests.Integration;
using Cdc.Checkpoint.TestServers.MariaDb;
using MySqlConnector;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Store;

/// <summary>
/// The shared typed-error suite on a real MariaDB, and how the store words what MySqlConnector reports: a refused
/// privilege is <see cref="CheckpointErrorCode.Misconfigured"/> naming the GRANT, a lock-wait timeout is a transient
/// <see cref="CheckpointErrorCode.WriteFailed"/>.
/// </summary>
public sealed class MySqlStoreErrorTests(StoreDatabase database) : TableStoreErrorTests, IClassFixture<StoreDatabase>
{
    private static MariaDbOffset Gtid(ulong sequence) => MySqlStoreHarness.Gtid(sequence);

    protected override TableStoreHarness Harness { get; } = new MySqlStoreHarness(database);

    [Fact]
    public async Task Operations_UserWithoutWritePrivileges_MisconfiguredNamingTheGrant()
    {
        var user = "ro_" + Guid.NewGuid().ToString("N")[..8];
        await using (var admin = await database.DataSource.OpenConnectionAsync(Ct))
        {
            // Kept out of the binlog: other tests on the shared server read its GTID state.
            await MariaDbSql.ExecuteAsync(
                admin,
                $"SET SESSION sql_log_bin=0; CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'ro-pw'; GRANT SELECT ON `{database.Database}`.* TO '{user}'@'127.0.0.1'; SET SESSION sql_log_bin=1");
        }

        var builder = new MySqlConnectionStringBuilder(database.Server.GetConnectionString(database.Database)) { UserID = user, Password = "ro-pw" };
        await using var readOnly = new MySqlDataSource(builder.ConnectionString);
        var store = new MySqlCheckpointStore(readOnly, "ro-" + user, database.Options);

        (await store.LoadAsync(MariaDbOffset.DefaultSourceType, Ct)).ShouldBeNull();
        var save = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Gtid(1), 1, Ct));
        var schema = await Should.ThrowAsync<CheckpointException>(() => store.CreateSchemaAsync(Ct));

        save.ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
        save.IsTransient.ShouldBeFalse();
        save.Message.ShouldContain($"GRANT SELECT, INSERT, UPDATE ON `{database.Database}`.* TO <user>;");
        save.Message.ShouldContain(user);
        save.InnerException.ShouldBeOfType<MySqlException>().ErrorCode.ShouldBe(MySqlErrorCode.TableAccessDenied);
        schema.ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
        schema.Message.ShouldContain($"GRANT CREATE ON `{database.Database}`.*");
    }

    [Fact]
    public async Task SaveAsync_FenceRowLockedPastTheLockWaitTimeout_TransientWriteFailedAndRowUnchanged()
    {
        await using var server = await MariaDbTestServer.StartNewAsync(
            new MariaDbTestServerOptions { ServerId = 77, ExtraSettings = ["innodb_lock_wait_timeout=1"] }, Ct);
        await using var dataSource = server.CreateDataSource();
        var store = new MySqlCheckpointStore(dataSource, "locked");
        await store.CreateSchemaAsync(Ct);
        await store.SaveAsync(Gtid(1), 1, Ct);

        // Another session holds the fence row (as a long transaction of another owner would).
        await using var holder = await dataSource.OpenConnectionAsync(Ct);
        await using var transaction = await holder.BeginTransactionAsync(Ct);
        await using (var lockRow = new MySqlCommand("SELECT epoch FROM cdc_checkpoint_fence WHERE name = 'locked' FOR UPDATE", holder, transaction))
        {
            await lockRow.ExecuteScalarAsync(Ct);
        }

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Gtid(2), 2, Ct));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.WriteFailed);
        ex.IsTransient.ShouldBeTrue();
        ex.InnerException.ShouldBeOfType<MySqlException>().ErrorCode.ShouldBe(MySqlErrorCode.LockWaitTimeout);
        await transaction.RollbackAsync(Ct);
        (await store.LoadAsync(MariaDbOffset.DefaultSourceType, Ct))!.Offset.ShouldBe(Gtid(1));

        // The same save succeeds once the lock is gone.
        await store.SaveAsync(Gtid(2), 2, Ct);
        (await store.LoadAsync(MariaDbOffset.DefaultSourceType, Ct))!.Offset.ShouldBe(Gtid(2));
    }
}
