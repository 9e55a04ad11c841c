using System.Collections.Concurrent;
using System.Data.Common;
using System.Globalization;
using BinlogTailer;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Tests.Integration;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.TestServers.MariaDb;
using MySqlConnector;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Tailer;

/// <summary>A private server (server_id 71) whose binlog rotates every 4 KiB, for the tailer tests.</summary>
public sealed class TailerServer : IAsyncLifetime
{
    public MariaDbTestServer Server { get; private set; } = null!;

    public MySqlDataSource DataSource { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Server = await MariaDbTestServer.StartNewAsync(new MariaDbTestServerOptions { ServerId = 71, ExtraSettings = ["max_binlog_size=4096"] });
        DataSource = Server.CreateDataSource();
        await using var connection = await DataSource.OpenConnectionAsync();
        await MariaDbSql.ExecuteAsync(connection, "CREATE TABLE tailed (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(100)) ENGINE=InnoDB");
        await MariaDbSql.ExecuteAsync(connection, "CREATE TABLE tailed_myisam (id INT) ENGINE=MyISAM");
    }

    public async ValueTask DisposeAsync()
    {
        if (DataSource is not null)
        {
            await DataSource.DisposeAsync();
        }

        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
    }
}

/// <summary>The BinlogTailer example against a real MariaDB: rotation while tailing, and SIGKILL while rows are written.</summary>
public sealed class TailerTests(TailerServer fixture) : IClassFixture<TailerServer>, IDisposable
{
    /// <summary>How many times the kill test kills the tailer; raise it for a longer soak.</summary>
    public const string KillsVariable = "CDC_TAILER_KILLS";

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly TempDirectory _temp = new("cdc-tailer-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // The tailer creates its checkpoint directory itself, as in production.
    private string CheckpointDirectory => _temp.File("checkpoint");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task RunAsync_WhileTheBinlogRotates_SeesEveryTransactionInOrderAndCheckpointsTheLast()
    {
        var seen = new ConcurrentQueue<TailedTransaction>();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var tailer = new BinlogTailer.Tailer(fixture.DataSource, CheckpointDirectory, TextWriter.Null, new TailerOptions { PollInterval = TimeSpan.FromMilliseconds(20) });
        tailer.Transaction += seen.Enqueue;
        tailer.Started += _ => started.TrySetResult();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var running = tailer.RunAsync(stop.Token);
        await started.Task.WaitAsync(Patience, Ct);

        // Every kind of transaction boundary: autocommit row inserts (Xid), an explicit multi-statement transaction,
        // a standalone DDL statement (GTID without BEGIN), a non-transactional insert (COMMIT query); and rotations,
        // both explicit (FLUSH BINARY LOGS) and from max_binlog_size.
        await using var connection = await fixture.DataSource.OpenConnectionAsync(Ct);
        var written = new List<string>();
        for (var i = 1; i <= 60; i++)
        {
            written.Add(await CommitAsync(connection, i switch
            {
                20 => "BEGIN; INSERT INTO tailed (note) VALUES ('one'); INSERT INTO tailed (note) VALUES ('two'); COMMIT",
                30 => $"CREATE TABLE ddl_{Guid.NewGuid():N} (id INT) ENGINE=InnoDB",
                40 => "INSERT INTO tailed_myisam VALUES (40)",
                _ => $"INSERT INTO tailed (note) VALUES ('row {i} {new string('x', 40 + (i % 40))}')",
            }));
            if (i % 15 == 0)
            {
                await MariaDbSql.ExecuteAsync(connection, "FLUSH BINARY LOGS");
            }
        }

        var deadline = DateTime.UtcNow + Patience;
        while (!seen.Any(t => t.Gtid == written[^1]) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, Ct);
        }

        await stop.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(() => running);

        var transactions = seen.ToList();
        transactions.Select(t => t.Gtid).ShouldBe(written);
        transactions.Select(t => t.Count).ShouldBe(Enumerable.Range(1, written.Count).Select(n => (ulong)n));
        // The flushes alone put the transactions in 4 files; 15 transactions (about 4.5 KiB) overflow a 4 KiB file.
        transactions.Select(t => t.End.FileName).Distinct().Count().ShouldBeGreaterThanOrEqualTo(6, "three FLUSH BINARY LOGS plus size rotations");

        var checkpoint = await LoadAsync();
        checkpoint.ShouldNotBeNull().CommittedEventCount.ShouldBe((ulong)written.Count);
        var offset = checkpoint.Offset.ShouldBeOfType<MariaDbOffset>();
        offset.BinlogPosition.ShouldBe(transactions[^1].End);
        offset.GtidPosition!.TryGetGtid(0, out var last).ShouldBeTrue();
        last.ToString().ShouldBe(written[^1]);
        offset.ServerId.ShouldBe(71u);
    }

    [Fact]
    public async Task Process_KilledWithSigkillRepeatedlyWhileRowsAreWritten_SeesEveryCommittedGtidAndNeverRegresses()
    {
        var kills = int.TryParse(Environment.GetEnvironmentVariable(KillsVariable), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : 5;
        var committed = new ConcurrentQueue<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        using var stopWriter = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        Task? writer = null;
        CheckpointRecord? previous = null;
        try
        {
            for (var run = 1; run <= kills; run++)
            {
                using var tailer = TailerProcess.Start(fixture.Server.ConnectionString, CheckpointDirectory);
                await tailer.WaitForAsync(lines => lines.Any(l => l.StartsWith("READY ", StringComparison.Ordinal)), Patience, "READY");
                writer ??= WriteUntilCancelledAsync(committed, stopWriter.Token);

                // Let it make progress past the last checkpoint, then kill it at a random moment.
                var floor = previous?.CommittedEventCount ?? 0;
                await tailer.WaitForAsync(lines => lines.Any(l => IsCheckpointAbove(l, floor)), Patience, $"a checkpoint above count {floor}");
                await Task.Delay(Random.Shared.Next(0, 150), Ct);
                await tailer.KillAsync();

                var lines = tailer.Lines;
                lines.ShouldContain(l => l.StartsWith("VALIDATION Resume", StringComparison.Ordinal) || l.StartsWith("VALIDATION FreshStart", StringComparison.Ordinal));
                var transactions = Transactions(lines);
                seen.UnionWith(transactions.Select(t => t.Gtid));

                // No gap: the first transaction after a restart is the one right after the checkpoint it resumed from.
                if (previous is not null && transactions.Count > 0)
                {
                    var resumedAt = Last(previous);
                    transactions[0].Gtid.ShouldBe(new MariaDbGtid(0, 71, resumedAt.SequenceNumber + 1).ToString(), $"run {run} resumed from {previous.Offset}");
                }

                // The checkpoint never moves backwards, across kills.
                var current = (await LoadAsync()).ShouldNotBeNull();
                if (previous is not null)
                {
                    current.CommittedEventCount.ShouldBeGreaterThanOrEqualTo(previous.CommittedEventCount);
                    current.Offset.CompareTo(previous.Offset).ShouldBeOneOf(OffsetOrder.After, OffsetOrder.Same);
                }

                previous = current;
            }
        }
        finally
        {
            await stopWriter.CancelAsync();
            if (writer is not null)
            {
                await writer;
            }
        }

        // A last run catches up with everything that was committed.
        var lastCommitted = committed.Last();
        using (var final = TailerProcess.Start(fixture.Server.ConnectionString, CheckpointDirectory))
        {
            await final.WaitForAsync(lines => lines.Any(l => IsCheckpointOf(l, lastCommitted)), Patience, $"the checkpoint of {lastCommitted}");
            await final.KillAsync();
            seen.UnionWith(Transactions(final.Lines).Select(t => t.Gtid));
        }

        committed.Count.ShouldBeGreaterThan(kills);
        committed.Where(g => !seen.Contains(g)).ShouldBeEmpty("every committed GTID is seen by some run of the tailer");
        var end = (await LoadAsync()).ShouldNotBeNull();
        end.CommittedEventCount.ShouldBeGreaterThanOrEqualTo(previous!.CommittedEventCount);
        Last(end).SequenceNumber.ShouldBeGreaterThanOrEqualTo(MariaDbGtid.Parse(lastCommitted).SequenceNumber);
    }

    [Fact]
    public async Task Process_CheckpointPurgedFromTheServer_ExitsWithCode3UntilTheGapIsAccepted()
    {
        await using var connection = await fixture.DataSource.OpenConnectionAsync(Ct);
        using (var first = TailerProcess.Start(fixture.Server.ConnectionString, CheckpointDirectory))
        {
            await first.WaitForAsync(lines => lines.Any(l => l.StartsWith("READY ", StringComparison.Ordinal)), Patience, "READY");
            var gtid = await CommitAsync(connection, "INSERT INTO tailed (note) VALUES ('before the purge')");
            await first.WaitForAsync(lines => lines.Any(l => IsCheckpointOf(l, gtid)), Patience, $"the checkpoint of {gtid}");
            await first.KillAsync();
        }

        var before = (await LoadAsync()).ShouldNotBeNull();
        for (var i = 0; i < 3; i++)
        {
            await CommitAsync(connection, "INSERT INTO tailed (note) VALUES ('purged before the tailer saw it')");
        }

        await Validation.MariaDbResumeValidationTests.PurgeToCurrentAsync(connection);

        using (var refused = TailerProcess.Start(fixture.Server.ConnectionString, CheckpointDirectory))
        {
            (await refused.ExitCodeAsync(Patience)).ShouldBe(3, refused.Errors);
            refused.Lines.ShouldContain(l => l.StartsWith("VALIDATION PositionPurged: ", StringComparison.Ordinal));
            refused.Errors.ShouldContain("refused (PositionUnavailable)");
            refused.Errors.ShouldContain("AcceptPurgedTransactions");
        }

        (await LoadAsync()).ShouldNotBeNull().Offset.ShouldBe(before.Offset);

        using var accepted = TailerProcess.Start(fixture.Server.ConnectionString, CheckpointDirectory, "--accept-purged");
        await accepted.WaitForAsync(lines => lines.Any(l => l.StartsWith("READY ", StringComparison.Ordinal)), Patience, "READY after accepting the gap");
        var after = await CommitAsync(connection, "INSERT INTO tailed (note) VALUES ('after the gap')");
        await accepted.WaitForAsync(lines => lines.Any(l => IsCheckpointOf(l, after)), Patience, $"the checkpoint of {after}");
        await accepted.KillAsync();
        accepted.Lines.ShouldContain(l => l.StartsWith("VALIDATION PositionPurged: ", StringComparison.Ordinal));
        var resumed = (await LoadAsync()).ShouldNotBeNull();
        resumed.CommittedEventCount.ShouldBeGreaterThan(before.CommittedEventCount);
        resumed.Offset.CompareTo(before.Offset).ShouldBe(OffsetOrder.After);
    }

    private async Task WriteUntilCancelledAsync(ConcurrentQueue<string> committed, CancellationToken cancellationToken)
    {
        await Task.Yield();
        await using var connection = await fixture.DataSource.OpenConnectionAsync(Ct);
        for (var i = 1; !cancellationToken.IsCancellationRequested; i++)
        {
            committed.Enqueue(await CommitAsync(connection, $"INSERT INTO tailed (note) VALUES ('kill test {i}')"));
            if (i % 25 == 0)
            {
                await MariaDbSql.ExecuteAsync(connection, "FLUSH BINARY LOGS");
            }

            try
            {
                await Task.Delay(3, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    [Fact]
    public async Task Main_DemoOnAMySqlConnectorConnectionString_SeesEveryTransactionAcrossARestartAndDropsItsTable()
    {
        using var demo = TailerProcess.Start(fixture.Server.ConnectionString, CheckpointDirectory, "--demo");

        (await demo.ExitCodeAsync(Patience)).ShouldBe(0, demo.Errors);
        demo.Lines.ShouldContain(l => l.StartsWith("every one of the ", StringComparison.Ordinal) && l.Contains("committed transactions was seen", StringComparison.Ordinal));
        await using var connection = await fixture.DataSource.OpenConnectionAsync(Ct);
        (await MariaDbSql.ScalarAsync<long>(connection, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE 'binlog_tailer_demo_%'")).ShouldBe(0L);
    }

    private static async Task<string> CommitAsync(DbConnection connection, string sql)
    {
        await using var command = MariaDbSql.Create(connection, sql + "; SELECT @@last_gtid");
        return Convert.ToString(await command.ExecuteScalarAsync(Ct), CultureInfo.InvariantCulture)!;
    }

    /// <summary>A <c>CHECKPOINT count gtid …, binlog …</c> line whose (single-domain) GTID position is <paramref name="gtid"/>.</summary>
    private static bool IsCheckpointOf(string line, string gtid) =>
        line.StartsWith("CHECKPOINT ", StringComparison.Ordinal) && line.Contains($" gtid {gtid},", StringComparison.Ordinal);

    private static bool IsCheckpointAbove(string line, ulong floor)
    {
        var parts = line.Split(' ', 3);
        return parts.Length == 3 && parts[0] == "CHECKPOINT" && ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count > floor;
    }

    private static List<(string Gtid, string End)> Transactions(List<string> lines) =>
        [.. lines.Where(l => l.StartsWith("TX ", StringComparison.Ordinal)).Select(l => l.Split(' ')).Select(p => (p[1], p[2]))];

    private static MariaDbGtid Last(CheckpointRecord record)
    {
        ((MariaDbOffset)record.Offset).GtidPosition!.TryGetGtid(0, out var gtid).ShouldBeTrue();
        return gtid;
    }

    private async Task<CheckpointRecord?> LoadAsync()
    {
        // The tailer is gone (killed or stopped), so its owner lease is free; take it only for this read.
        await using var checkpoint = new FileCheckpoint(CheckpointDirectory, new FileCheckpointOptions { Codecs = OffsetCodecRegistry.Empty.WithMySql() });
        return await checkpoint.LoadLatestAsync(Ct);
    }
}
