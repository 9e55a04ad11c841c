using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Tests.Integration;
using Cdc.Checkpoint.MySql.Validation;
using Cdc.Checkpoint.TestServers.MariaDb;
using MySqlConnector;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Validation;

/// <summary>A primary (server_id 81) and a replica (server_id 82) that replicates from it over GTID.</summary>
public sealed class ReplicationPair : IAsyncLifetime
{
    public MariaDbTestServer Primary { get; private set; } = null!;

    public MariaDbTestServer Replica { get; private set; } = null!;

    public MySqlDataSource PrimarySource { get; private set; } = null!;

    public MySqlDataSource ReplicaSource { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var primary = MariaDbTestServer.StartNewAsync(new MariaDbTestServerOptions { ServerId = 81 });
        var replica = MariaDbTestServer.StartNewAsync(new MariaDbTestServerOptions { ServerId = 82 });
        (Primary, Replica) = (await primary, await replica);
        (PrimarySource, ReplicaSource) = (Primary.CreateDataSource(), Replica.CreateDataSource());
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var disposable in new IAsyncDisposable?[] { PrimarySource, ReplicaSource, Replica, Primary })
        {
            if (disposable is not null)
            {
                await disposable.DisposeAsync();
            }
        }
    }
}

/// <summary>
/// Verdicts whose advice must be right, each produced for real on MariaDB 10.11: a replica promoted after a split, a
/// domain the same server never had, and (a documented limit) a GTID-only checkpoint after RESET MASTER.
/// </summary>
public sealed class MariaDbVerdictAdviceTests(ReplicationPair pair) : IClassFixture<ReplicationPair>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ValidateAsync_ReplicaPromotedAfterASplit_HistoryDivergedNotCheckpointAhead()
    {
        // Replicate 0-81-1..5 (the table and four rows), then split: the primary writes on (0-81-6..8, which the
        // consumer checkpoints), and the replica, promoted, writes 0-82-6..7 of its own.
        await pair.Replica.StartReplicationAsync(pair.Primary, Ct);
        await using var primary = await pair.PrimarySource.OpenConnectionAsync(Ct);
        await MariaDbSql.ExecuteAsync(primary, "CREATE TABLE split_rows (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(50)) ENGINE=InnoDB");
        await InsertAsync(primary, "split_rows", 4);
        await pair.Replica.WaitForReplicationAsync(pair.Primary, Ct);
        await pair.Replica.StopReplicationAsync(Ct);

        await InsertAsync(primary, "split_rows", 3);
        var checkpoint = await MariaDbResumeValidationTests.CurrentAsync(primary, 81);
        checkpoint.GtidPosition.ShouldBe(MariaDbGtidPosition.Parse("0-81-8"));
        await using var replica = await pair.ReplicaSource.OpenConnectionAsync(Ct);
        await InsertAsync(replica, "split_rows", 2);

        var validator = new MySqlResumeValidator(pair.ReplicaSource);
        var result = await validator.ValidateAsync(checkpoint, Ct);

        result.Server.GtidBinlogState.ShouldBe([MariaDbGtid.Parse("0-81-5"), MariaDbGtid.Parse("0-82-7")]);
        result.Verdict.ShouldBe(MySqlResumeVerdict.HistoryDiverged, result.Message);
        result.Message.ShouldContain("server_id 81's last GTID in domain 0 here is 0-81-5; after it server_id 82 wrote up to 0-82-7");
        Should.Throw<CheckpointException>(result.ThrowIfRefused).ErrorCode.ShouldBe(CheckpointErrorCode.HistoryDiverged);

        // The same without the binlog position: the GTIDs alone show it.
        var gtidOnly = await validator.ValidateAsync(new MariaDbOffset(checkpoint.GtidPosition, null, 81), Ct);
        gtidOnly.Verdict.ShouldBe(MySqlResumeVerdict.HistoryDiverged, gtidOnly.Message);

        // What the replica really had at the split resumes.
        var atSplit = new MariaDbOffset(MariaDbGtidPosition.Parse("0-81-5"), null, 81);
        (await validator.ValidateAsync(atSplit, Ct)).Verdict.ShouldBe(MySqlResumeVerdict.Resume);
    }

    [Fact]
    public async Task ValidateAsync_DomainTheSameServerNeverHad_HistoryDivergedWithTheResetAdvice()
    {
        // A server of its own (with the pair's primary server id): the split test counts the pair's GTIDs exactly, and
        // xUnit does not order the tests of a class.
        await using var server = await MariaDbTestServer.StartNewAsync(new MariaDbTestServerOptions { ServerId = 81 }, Ct);
        await using var dataSource = server.CreateDataSource();
        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await MariaDbSql.ExecuteAsync(connection, "CREATE TABLE IF NOT EXISTS domain_rows (id INT AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB");
        await MariaDbSql.ExecuteAsync(connection, "INSERT INTO domain_rows VALUES ()");
        var current = await MariaDbResumeValidationTests.CurrentAsync(connection, 81);

        // Taken on this server (server_id 81) with a domain 5 whose history this binlog does not have (as after
        // RESET MASTER or FLUSH BINARY LOGS DELETE_DOMAIN_ID).
        var checkpoint = new MariaDbOffset(current.GtidPosition!.With(new MariaDbGtid(5, 81, 3)), null, 81);
        var result = await new MySqlResumeValidator(dataSource).ValidateAsync(checkpoint, Ct);

        result.Verdict.ShouldBe(MySqlResumeVerdict.HistoryDiverged, result.Message);
        result.Message.ShouldContain("was taken on server_id 81");
        result.Message.ShouldContain("RESET MASTER");
        result.Message.ShouldContain("IgnoreMissingDomains");
        Should.Throw<CheckpointException>(result.ThrowIfRefused).ErrorCode.ShouldBe(CheckpointErrorCode.HistoryDiverged);
    }

    [Fact]
    public async Task ValidateAsync_GtidOnlyCheckpointAfterResetMasterPassedIt_UndetectedLimitCaughtByTheBinlogPosition()
    {
        await using var server = await MariaDbTestServer.StartNewAsync(new MariaDbTestServerOptions { ServerId = 83 }, Ct);
        await using var dataSource = server.CreateDataSource();
        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await MariaDbSql.ExecuteAsync(connection, "CREATE TABLE reset_rows (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(50)) ENGINE=InnoDB");
        await InsertAsync(connection, "reset_rows", 9);
        var checkpoint = await MariaDbResumeValidationTests.CurrentAsync(connection, 83);
        checkpoint.GtidPosition.ShouldBe(MariaDbGtidPosition.Parse("0-83-10"));

        // RESET MASTER, and new history passes sequence 10 with other transactions (and longer events).
        await MariaDbSql.ExecuteAsync(connection, "RESET MASTER");
        await InsertAsync(connection, "reset_rows", 15, "after the reset, with a longer note");
        var validator = new MySqlResumeValidator(dataSource);

        // The limit (docs/mysql.md, Limits): with GTIDs only, 0-83-10 is indistinguishable from the new 0-83-10.
        var gtidOnly = new MariaDbOffset(checkpoint.GtidPosition, null, 83);
        (await validator.ValidateAsync(gtidOnly, Ct)).Verdict.ShouldBe(MySqlResumeVerdict.Resume);

        // The mitigations: the checkpoint's binlog position catches the reset, and RequireBinlogPosition refuses
        // checkpoints without one.
        var withPosition = await validator.ValidateAsync(checkpoint, Ct);
        withPosition.Verdict.ShouldBe(MySqlResumeVerdict.BinlogReset, withPosition.Message);
        var required = await new MySqlResumeValidator(dataSource, new MySqlResumeValidationOptions { RequireBinlogPosition = true }).ValidateAsync(gtidOnly, Ct);
        required.Verdict.ShouldBe(MySqlResumeVerdict.Misconfigured, required.Message);
    }

    private static async Task InsertAsync(MySqlConnection connection, string table, int count, string note = "row")
    {
        for (var i = 0; i < count; i++)
        {
            await MariaDbSql.ExecuteAsync(connection, $"INSERT INTO {table} (note) VALUES (@note)", ("@note", note));
        }
    }
}
