using System.Data.Common;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Tests.Integration;
using Cdc.Checkpoint.MySql.Validation;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.TestServers.MariaDb;
using MySqlConnector;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Validation;

/// <summary>Two private servers in domain 0: A (server_id 61) and B (server_id 62), so B can play "another server".</summary>
public sealed class ValidationServers : IAsyncLifetime
{
    public MariaDbTestServer A { get; private set; } = null!;

    public MariaDbTestServer B { get; private set; } = null!;

    public MySqlDataSource SourceA { get; private set; } = null!;

    public MySqlDataSource SourceB { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var a = MariaDbTestServer.StartNewAsync(new MariaDbTestServerOptions { ServerId = 61 });
        var b = MariaDbTestServer.StartNewAsync(new MariaDbTestServerOptions { ServerId = 62 });
        (A, B) = (await a, await b);
        (SourceA, SourceB) = (A.CreateDataSource(), B.CreateDataSource());
        foreach (var source in new[] { SourceA, SourceB })
        {
            await using var connection = await source.OpenConnectionAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "CREATE TABLE rows_v (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(200)) ENGINE=InnoDB";
            await command.ExecuteNonQueryAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var disposable in new IAsyncDisposable?[] { SourceA, SourceB, A, B })
        {
            if (disposable is not null)
            {
                await disposable.DisposeAsync();
            }
        }
    }
}

/// <summary>
/// The resume validator against real MariaDB 10.11 servers: each unsafe situation is produced for real (PURGE BINARY
/// LOGS, RESET MASTER, a second server, another server id writing to the domain) and must be refused.
/// </summary>
public sealed class MariaDbResumeValidationTests(ValidationServers servers) : IClassFixture<ValidationServers>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ReadServerFactsAsync_MariaDb_ReadsFlavourIdentityGtidStateAndBinlogFiles()
    {
        await using var connection = await servers.SourceA.OpenConnectionAsync(Ct);
        await InsertAsync(connection, 2);
        var gtidBinlogPos = await MariaDbSql.ScalarAsync<string>(connection, "SELECT @@GLOBAL.gtid_binlog_pos");

        var facts = await new MySqlResumeValidator(servers.SourceA).ReadServerFactsAsync(cancellationToken: Ct);

        facts.Flavor.ShouldBe(MySqlServerFlavor.MariaDb);
        facts.Version.ShouldBeGreaterThanOrEqualTo(new Version(10, 6));
        facts.VersionText.ShouldContain("MariaDB");
        facts.ServerId.ShouldBe(61u);
        facts.ServerUuid.ShouldBeNull();
        facts.BinaryLoggingEnabled.ShouldBeTrue();
        facts.GtidStrictMode.ShouldBe(true);
        facts.GtidDomainId.ShouldBe(0u);
        facts.GtidBinlogPosition.ShouldBe(MariaDbGtidPosition.Parse(gtidBinlogPos));
        facts.GtidBinlogState.ShouldContain(g => g.DomainId == 0 && g.ServerId == 61);
        facts.BinlogFiles.ShouldNotBeEmpty();
        facts.CurrentBinlogPosition.ShouldNotBeNull().FileName.ShouldBe(facts.BinlogFiles[^1].Name);
        facts.EarliestGtidPosition.ShouldNotBeNull();
        facts.CheckpointBinlogMapping.ShouldBeNull();
    }

    [Fact]
    public async Task ValidateAsync_CheckpointAtTheCurrentPosition_ResumesWithAMatchingBinlogGtidPos()
    {
        await using var connection = await servers.SourceA.OpenConnectionAsync(Ct);
        await InsertAsync(connection, 3);
        var checkpoint = await CurrentAsync(connection, 61);

        var validator = new MySqlResumeValidator(servers.SourceA, new MySqlResumeValidationOptions { RequireBinlogPosition = true });
        var result = await validator.ValidateAsync(checkpoint, Ct);

        result.Verdict.ShouldBe(MySqlResumeVerdict.Resume, result.Message);
        result.BinlogPositionUsable.ShouldBeTrue();
        result.Server.CheckpointBinlogMapping.ShouldNotBeNull().GtidPosition.ShouldBe(checkpoint.GtidPosition);
        result.ThrowIfRefused();
    }

    [Fact]
    public async Task ValidateAsync_RustcdcMySqlRecordHoldingThisServersMariaDbGtid_JudgedAsAMariaDbPosition()
    {
        await using var connection = await servers.SourceA.OpenConnectionAsync(Ct);
        await InsertAsync(connection, 2);
        var current = await CurrentAsync(connection, 61);
        var gtid = current.GtidPosition.ShouldNotBeNull().ToString();
        // As rustcdc wrote it: source type "mysql", the MariaDB GTID as free text, read back as an opaque offset.
        var legacy = MySqlOffsetCodec.Instance.Read("mysql", JsonDocument.Parse($$"""{"gtid":"{{gtid}}","binlog_file":"","binlog_pos":0}""").RootElement, 1);
        legacy.ShouldBeOfType<GenericOffset>();

        var result = await new MySqlResumeValidator(servers.SourceA).ValidateAsync(legacy, Ct);

        result.Verdict.ShouldBe(MySqlResumeVerdict.Resume, result.Message);
        result.Checkpoint.ShouldBeOfType<MariaDbOffset>().GtidPosition.ShouldBe(current.GtidPosition);

        var freeText = MySqlOffsetCodec.Instance.Read("mysql", JsonDocument.Parse("""{"gtid":"gtid-1","binlog_file":"","binlog_pos":0}""").RootElement, 1);
        (await Should.ThrowAsync<CheckpointException>(() => new MySqlResumeValidator(servers.SourceA).ValidateAsync(freeText, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
    }

    [Fact]
    public async Task ValidateAsync_NoCheckpoint_FreshStart()
    {
        var result = await new MySqlResumeValidator(servers.SourceA).ValidateAsync(null, Ct);
        result.Verdict.ShouldBe(MySqlResumeVerdict.FreshStart);
        result.IsRefused.ShouldBeFalse();
        result.Server.CurrentBinlogPosition.ShouldNotBeNull();
    }

    [Fact]
    public async Task ValidateAsync_BinaryLogsPurgedPastTheCheckpoint_PositionPurged()
    {
        await using var connection = await servers.SourceA.OpenConnectionAsync(Ct);
        await InsertAsync(connection, 2);
        var checkpoint = await CurrentAsync(connection, 61);
        await InsertAsync(connection, 3);
        await MariaDbSql.ExecuteAsync(connection, "FLUSH BINARY LOGS");
        await InsertAsync(connection, 2);
        await PurgeToCurrentAsync(connection);

        var byGtid = await new MySqlResumeValidator(servers.SourceA).ValidateAsync(checkpoint, Ct);
        byGtid.Verdict.ShouldBe(MySqlResumeVerdict.PositionPurged, byGtid.Message);
        byGtid.IsRefused.ShouldBeTrue();
        byGtid.Message.ShouldContain("purged");
        Should.Throw<CheckpointException>(byGtid.ThrowIfRefused).ErrorCode.ShouldBe(CheckpointErrorCode.PositionUnavailable);

        var byPosition = await new MySqlResumeValidator(servers.SourceA, new MySqlResumeValidationOptions { RequireBinlogPosition = true }).ValidateAsync(checkpoint, Ct);
        byPosition.Verdict.ShouldBe(MySqlResumeVerdict.PositionPurged);

        var binlogOnly = new MariaDbOffset(null, checkpoint.BinlogPosition, 61);
        var fileGone = await new MySqlResumeValidator(servers.SourceA).ValidateAsync(binlogOnly, Ct);
        fileGone.Verdict.ShouldBe(MySqlResumeVerdict.PositionPurged, fileGone.Message);
        fileGone.Message.ShouldContain(checkpoint.BinlogPosition!.FileName);

        var accepted = await new MySqlResumeValidator(servers.SourceA, new MySqlResumeValidationOptions { AcceptPurgedTransactions = true }).ValidateAsync(checkpoint, Ct);
        accepted.Verdict.ShouldBe(MySqlResumeVerdict.PositionPurged);
        accepted.IsRefused.ShouldBeFalse();
        accepted.GapAccepted.ShouldBeTrue();
    }

    [Fact]
    public async Task ValidateAsync_AfterResetMaster_AheadUntilTheFileIsRewrittenThenBinlogReset()
    {
        await using var connection = await servers.SourceB.OpenConnectionAsync(Ct);
        await MariaDbSql.ExecuteAsync(connection, "RESET MASTER");
        await InsertAsync(connection, 10);
        var checkpoint = await CurrentAsync(connection, 62);
        checkpoint.BinlogPosition!.FileName.ShouldBe("binlog.000001");
        await InsertAsync(connection, 5);
        var validator = new MySqlResumeValidator(servers.SourceB);
        (await validator.ValidateAsync(checkpoint, Ct)).Verdict.ShouldBe(MySqlResumeVerdict.Resume);

        await MariaDbSql.ExecuteAsync(connection, "RESET MASTER");
        var empty = await validator.ValidateAsync(checkpoint, Ct);
        empty.Verdict.ShouldBe(MySqlResumeVerdict.CheckpointAhead, empty.Message);
        empty.Message.ShouldContain("RESET MASTER");

        // A few transactions: binlog.000001 exists again but is shorter, and the GTIDs are behind.
        await InsertAsync(connection, 3, note: "after the reset, with a longer note so the events have other sizes");
        var shortFile = await validator.ValidateAsync(checkpoint, Ct);
        shortFile.Verdict.ShouldBe(MySqlResumeVerdict.CheckpointAhead, shortFile.Message);

        // Enough transactions to pass the checkpoint's sequence number and position: the GTIDs look fine, but
        // BINLOG_GTID_POS at the checkpoint's position is another GTID position (or none): the file name was reused.
        await InsertAsync(connection, 20, note: "after the reset, with a longer note so the events have other sizes");
        var reused = await validator.ValidateAsync(checkpoint, Ct);
        reused.Verdict.ShouldBe(MySqlResumeVerdict.BinlogReset, reused.Message);
        reused.Server.CheckpointBinlogMapping.ShouldNotBeNull().GtidPosition.ShouldNotBe(checkpoint.GtidPosition);
        Should.Throw<CheckpointException>(reused.ThrowIfRefused).ErrorCode.ShouldBe(CheckpointErrorCode.HistoryDiverged);
    }

    [Fact]
    public async Task ValidateAsync_CheckpointFromAnotherServer_ServerMismatch()
    {
        await using var a = await servers.SourceA.OpenConnectionAsync(Ct);
        await InsertAsync(a, 2);
        var fromA = await CurrentAsync(a, 61);
        await using var b = await servers.SourceB.OpenConnectionAsync(Ct);
        await InsertAsync(b, 2);

        var result = await new MySqlResumeValidator(servers.SourceB).ValidateAsync(fromA, Ct);

        result.Verdict.ShouldBe(MySqlResumeVerdict.ServerMismatch, result.Message);
        result.Message.ShouldContain("server_id 62");
        Should.Throw<CheckpointException>(result.ThrowIfRefused).ErrorCode.ShouldBe(CheckpointErrorCode.ServerMismatch);

        var binlogOnly = await new MySqlResumeValidator(servers.SourceB).ValidateAsync(new MariaDbOffset(null, fromA.BinlogPosition, 61), Ct);
        binlogOnly.Verdict.ShouldBe(MySqlResumeVerdict.ServerMismatch, binlogOnly.Message);
    }

    [Fact]
    public async Task ValidateAsync_GtidOfAnotherServerIdInTheDomain_HistoryDiverged()
    {
        // Server 9 (a session server_id, as a second writer) writes one transaction, then 61 writes two more. The
        // strict-mode history of domain 0 now has 0-9-k and, later, 0-61-(k+2).
        await using var connection = await servers.SourceA.OpenConnectionAsync(Ct);
        await MariaDbSql.ExecuteAsync(connection, "SET SESSION server_id = 9");
        await InsertAsync(connection, 1);
        var nine = MariaDbGtid.Parse(await MariaDbSql.ScalarAsync<string>(connection, "SELECT @@last_gtid"));
        await MariaDbSql.ExecuteAsync(connection, "SET SESSION server_id = 61");
        await InsertAsync(connection, 2);
        var validator = new MySqlResumeValidator(servers.SourceA);

        // The checkpoint claims server 9 wrote k+1: its last GTID in domain 0 here is k.
        var claimed = new MariaDbOffset(MariaDbGtidPosition.Empty.With(new MariaDbGtid(0, 9, nine.SequenceNumber + 1)), null, 61);
        var result = await validator.ValidateAsync(claimed, Ct);
        result.Verdict.ShouldBe(MySqlResumeVerdict.HistoryDiverged, result.Message);
        result.Message.ShouldContain($"here is {nine}");

        // The same sequence number as the server's last GTID, but written by server 9: another transaction.
        var last = MariaDbGtid.Parse(await MariaDbSql.ScalarAsync<string>(connection, "SELECT @@GLOBAL.gtid_binlog_pos"));
        var twin = new MariaDbOffset(MariaDbGtidPosition.Empty.With(new MariaDbGtid(0, 9, last.SequenceNumber)), null, 61);
        (await validator.ValidateAsync(twin, Ct)).Verdict.ShouldBe(MySqlResumeVerdict.HistoryDiverged);

        // The real 0-9-k is fine.
        var real = new MariaDbOffset(MariaDbGtidPosition.Empty.With(nine), null, 61);
        (await validator.ValidateAsync(real, Ct)).Verdict.ShouldBe(MySqlResumeVerdict.Resume);
    }

    [Fact]
    public async Task ValidateAsync_DomainTheServerNeverHad_ServerMismatchUnlessIgnored()
    {
        await using var connection = await servers.SourceA.OpenConnectionAsync(Ct);
        await InsertAsync(connection, 1);
        var current = await CurrentAsync(connection, 61);
        var withForeignDomain = new MariaDbOffset(current.GtidPosition!.With(new MariaDbGtid(7, 61, 3)), null, serverId: null);

        var refused = await new MySqlResumeValidator(servers.SourceA).ValidateAsync(withForeignDomain, Ct);
        refused.Verdict.ShouldBe(MySqlResumeVerdict.ServerMismatch, refused.Message);
        refused.Message.ShouldContain("Domain(s) 7");

        var ignored = await new MySqlResumeValidator(servers.SourceA, new MySqlResumeValidationOptions { IgnoreMissingDomains = true }).ValidateAsync(withForeignDomain, Ct);
        ignored.Verdict.ShouldBe(MySqlResumeVerdict.Resume, ignored.Message);
        ignored.IgnoredDomains.ShouldBe([7u]);
    }

    [Fact]
    public async Task ValidateAsync_StrictModeTurnedOff_MisconfiguredUnlessRelaxed()
    {
        await using var connection = await servers.SourceB.OpenConnectionAsync(Ct);
        await InsertAsync(connection, 1);
        var checkpoint = await CurrentAsync(connection, 62);
        await MariaDbSql.ExecuteAsync(connection, "SET GLOBAL gtid_strict_mode = 0");
        try
        {
            var refused = await new MySqlResumeValidator(servers.SourceB).ValidateAsync(checkpoint, Ct);
            refused.Verdict.ShouldBe(MySqlResumeVerdict.Misconfigured, refused.Message);
            refused.Server.GtidStrictMode.ShouldBe(false);

            var relaxed = await new MySqlResumeValidator(servers.SourceB, new MySqlResumeValidationOptions { RequireGtidStrictMode = false }).ValidateAsync(checkpoint, Ct);
            relaxed.Verdict.ShouldBe(MySqlResumeVerdict.Resume, relaxed.Message);
        }
        finally
        {
            await MariaDbSql.ExecuteAsync(connection, "SET GLOBAL gtid_strict_mode = 1");
        }
    }

    [Fact]
    public async Task ReadServerFactsAsync_UserWithoutBinlogMonitor_MisconfiguredNamingThePrivilege()
    {
        await using (var admin = await servers.SourceA.OpenConnectionAsync(Ct))
        {
            await MariaDbSql.ExecuteAsync(admin, "CREATE USER IF NOT EXISTS 'limited'@'127.0.0.1' IDENTIFIED BY 'limited-pw'");
            await MariaDbSql.ExecuteAsync(admin, "GRANT SELECT ON *.* TO 'limited'@'127.0.0.1'");
        }

        var builder = new DbConnectionStringBuilder { ConnectionString = servers.A.ConnectionString };
        builder["User"] = "limited";
        builder["Password"] = "limited-pw";
        await using var limited = new MySqlDataSource(builder.ConnectionString);

        var ex = await Should.ThrowAsync<CheckpointException>(() => new MySqlResumeValidator(limited).ValidateAsync(null, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
        ex.Message.ShouldContain("BINLOG MONITOR");
        ex.InnerException.ShouldBeAssignableTo<DbException>();
    }

    [Fact]
    public async Task ValidateAsync_EveryValidation_CountedByVerdictFlavourAndOutcome()
    {
        var measurements = new List<(long Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Cdc.Checkpoint" && instrument.Name == "cdc.checkpoint.mysql.resume.verdicts")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            lock (measurements)
            {
                measurements.Add((value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value)));
            }
        });
        listener.Start();

        await using var connection = await servers.SourceA.OpenConnectionAsync(Ct);
        var current = await CurrentAsync(connection, 61);
        await new MySqlResumeValidator(servers.SourceA).ValidateAsync(current, Ct);
        var last = MariaDbGtid.Parse(await MariaDbSql.ScalarAsync<string>(connection, "SELECT @@GLOBAL.gtid_binlog_pos"));
        var ahead = new MariaDbOffset(MariaDbGtidPosition.Empty.With(new MariaDbGtid(0, 61, last.SequenceNumber + 1000)), null, 61);
        await new MySqlResumeValidator(servers.SourceA).ValidateAsync(ahead, Ct);

        lock (measurements)
        {
            measurements.ShouldContain(m => m.Value == 1 && Equals(m.Tags["cdc.verdict"], "Resume") && Equals(m.Tags["cdc.outcome"], "resume") && Equals(m.Tags["cdc.flavor"], "MariaDb"));
            measurements.ShouldContain(m => m.Value == 1 && Equals(m.Tags["cdc.verdict"], "CheckpointAhead") && Equals(m.Tags["cdc.outcome"], "refused"));
        }
    }

    private static async Task InsertAsync(DbConnection connection, int count, string note = "row")
    {
        for (var i = 0; i < count; i++)
        {
            await MariaDbSql.ExecuteAsync(connection, "INSERT INTO rows_v (note) VALUES (@note)", ("@note", note));
        }
    }

    /// <summary>The server's current binlog position and the GTID position exactly there, as a checkpoint.</summary>
    internal static async Task<MariaDbOffset> CurrentAsync(DbConnection connection, uint serverId)
    {
        string file;
        ulong position;
        await using (var command = MariaDbSql.Create(connection, "SHOW MASTER STATUS"))
        await using (var reader = await command.ExecuteReaderAsync(Ct))
        {
            (await reader.ReadAsync(Ct)).ShouldBeTrue();
            file = reader.GetString(0);
            position = reader.GetFieldValue<ulong>(1);
        }

        var gtid = await MariaDbSql.ScalarAsync<string>(connection, "SELECT BINLOG_GTID_POS(@file, @position)", ("@file", file), ("@position", position));
        return new MariaDbOffset(MariaDbGtidPosition.Parse(gtid), new BinlogPosition(file, position), serverId);
    }

    /// <summary>PURGE BINARY LOGS TO the current file, retried until SHOW BINARY LOGS starts there (the purge can lag).</summary>
    internal static async Task PurgeToCurrentAsync(DbConnection connection)
    {
        await MariaDbSql.ExecuteAsync(connection, "FLUSH BINARY LOGS");
        var current = (await CurrentAsync(connection, 0)).BinlogPosition!.FileName;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            await MariaDbSql.ExecuteAsync(connection, $"PURGE BINARY LOGS TO '{current}'");
            var first = await MariaDbSql.ScalarAsync<string>(connection, "SHOW BINARY LOGS");
            if (first == current)
            {
                return;
            }

            DateTime.UtcNow.ShouldBeLessThan(deadline, $"PURGE BINARY LOGS TO '{current}' still leaves {first} after 60 s");
            await Task.Delay(100, Ct);
        }
    }
}
