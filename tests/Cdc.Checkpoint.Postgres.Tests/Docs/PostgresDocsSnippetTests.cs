using System.Text;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Postgres.Replication;
using Cdc.Checkpoint.Postgres.Store;
using Cdc.Checkpoint.Postgres.Tests.Support;
using Cdc.Checkpoint.Postgres.Validation;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput.Messages;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Docs;

/// <summary>
/// The C# snippets of docs/postgres.md, compiled here and run against a real PostgreSQL 15. Each snippet is the body
/// between <c>// snippet: NAME</c> and <c>// end snippet</c> below, and the docs must hold exactly that text after
/// their <c>&lt;!-- snippet: NAME --&gt;</c> marker, so the docs show code that compiles and runs as written.
/// </summary>
public sealed class PostgresDocsSnippetTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

#pragma warning disable CA1849, CA2007 // the snippets are written as a user writes them
    private static async Task QuickStartAsync(string connectionString, CancellationToken stoppingToken)
    {
        // snippet: postgres-quickstart
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var store = new PostgresCheckpointStore(dataSource, "orders-consumer");
        await store.CreateSchemaAsync(stoppingToken);   // once; or run the SQL below
        await store.AcquireAsync(stoppingToken);        // fences any earlier owner of "orders-consumer"

        await using var session = await PostgresReplicationSession.OpenAsync(
            connectionString, store,
            new PostgresReplicationSessionOptions { SlotName = "orders_slot", PublicationNames = ["orders_pub"] },
            cancellationToken: stoppingToken);

        await using var connection = await dataSource.OpenConnectionAsync(stoppingToken);
        NpgsqlTransaction? tx = null; ulong rows = 0;
        await foreach (var message in session.ReadAsync(stoppingToken))
        {
            switch (message)
            {
                case BeginMessage: tx = await connection.BeginTransactionAsync(stoppingToken); rows = 0; break;
                case InsertMessage insert: /* write the row with tx */ rows++; break;
                case CommitMessage commit:
                    var position = session.Acknowledger.MarkProcessed(commit, rows);  // no I/O
                    await store.SaveAsync(tx!, position.Offset, position.CommittedEventCount, stoppingToken);
                    await tx!.CommitAsync(stoppingToken);                            // rows + offset, atomically
                    await tx.DisposeAsync();
                    await session.Acknowledger.MarkDurableAsync(position, stoppingToken); // only now the server hears of it
                    break;
            }
        }
        // end snippet
    }

    private static async Task<PostgresResumeValidationResult> ValidateAsync(string connectionString, string directory)
    {
        // snippet: postgres-validate
        await using var dataSource = NpgsqlDataSource.Create(connectionString);   // reads pg_replication_slots
        await using var replication = new LogicalReplicationConnection(connectionString);
        await replication.Open();                                                 // IDENTIFY_SYSTEM runs on it

        await using var checkpoint = new FileCheckpoint(directory);
        var offset = await checkpoint.LoadOffsetAsync<PostgresOffset>("postgres"); // null on a fresh start
        var validator = new PostgresResumeValidator(dataSource);
        var result = await validator.ValidateAsync(replication, "orders_slot", offset);
        Console.WriteLine(result);   // verdict, action, start LSN and the operator's message
        result.ThrowIfRefused();     // CheckpointException with the verdict's error code
        // end snippet
        return result;
    }
#pragma warning restore CA1849, CA2007

    [Fact]
    public void Docs_PostgresSnippets_AreTheCodeCompiledHere()
    {
        var root = RepositoryRoot();
        var docs = File.ReadAllText(Path.Combine(root, "docs", "postgres.md"));
        var source = File.ReadAllText(Path.Combine(root, "tests", "Cdc.Checkpoint.Postgres.Tests", "Docs", "PostgresDocsSnippetTests.cs"));
        foreach (var name in new[] { "postgres-quickstart", "postgres-validate" })
        {
            DocsBlock(docs, name).ShouldBe(SourceBlock(source, name), $"docs/postgres.md snippet '{name}' must equal the code in {nameof(PostgresDocsSnippetTests)}");
        }
    }

    [Fact]
    public async Task QuickStartSnippet_ThreeInserts_CheckpointedTransactionallyAndAcknowledged()
    {
        await using var scenario = await PgScenario.CreateAsync();
        await scenario.ExecAsync("CREATE PUBLICATION orders_pub FOR TABLE src");
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var running = QuickStartAsync(scenario.ConnectionString, stop.Token);
        try
        {
            await Replication.ReplicationSessionServerTests.WaitUntilAsync(
                async () => running.IsCompleted || await scenario.ScalarAsync<long>("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'orders_slot' AND active") == 1,
                "the snippet to stream");

            // The slot is already active while CREATE_REPLICATION_SLOT runs, and a row committed before its consistent
            // point is never decoded: wait for the fresh start's first save, which comes after the slot exists.
            await Replication.ReplicationSessionServerTests.WaitUntilAsync(
                async () => running.IsCompleted || await scenario.ScalarAsync<long>("SELECT count(*) FROM cdc_checkpoint WHERE name = 'orders-consumer'") == 1,
                "the fresh start's checkpoint");
            await scenario.InsertAsync(1, 3);
            await Replication.ReplicationSessionServerTests.WaitUntilAsync(
                // At least: WAL is cluster-wide, so other tests' traffic can add an idle-advance heartbeat or two.
                async () => running.IsCompleted || await scenario.ScalarAsync<long>("SELECT coalesce(max(committed_event_count), 0)::bigint FROM cdc_checkpoint WHERE name = 'orders-consumer'") >= 3,
                "3 events checkpointed");
            running.IsCompleted.ShouldBeFalse(running.Exception?.ToString());
        }
        finally
        {
            await stop.CancelAsync();
            await Should.ThrowAsync<OperationCanceledException>(() => running);
        }

        var confirmed = (await scenario.SlotAsync("orders_slot")).ShouldNotBeNull().ConfirmedFlushLsn.ShouldNotBeNull();
        var store = new PostgresCheckpointStore(scenario.DataSource, "orders-consumer");
        ((PostgresOffset)(await store.LoadAsync("postgres", Ct))!.Offset).Lsn.ShouldBeGreaterThanOrEqualTo(confirmed);
    }

    [Fact]
    public async Task ValidateSnippet_FreshStartThenMissingSlot_ReportsAndRefuses()
    {
        await using var scenario = await PgScenario.CreateAsync();
        await scenario.ExecAsync("SELECT pg_drop_replication_slot('orders_slot') FROM pg_replication_slots WHERE slot_name = 'orders_slot'");
        var directory = new TempDirectory("cdc-pg-docs-");
        try
        {
            (await ValidateAsync(scenario.ConnectionString, directory.Path)).Verdict.ShouldBe(PostgresResumeVerdict.FreshStart);

            await using (var checkpoint = new FileCheckpoint(directory.Path))
            {
                var system = ulong.Parse(await scenario.ScalarAsync<string>("SELECT system_identifier::text FROM pg_control_system()"), System.Globalization.CultureInfo.InvariantCulture);
                await checkpoint.SaveAsync(new PostgresOffset(await scenario.CurrentWalAsync(), "orders_slot", system, 1, scenario.DatabaseName), 1, Ct);
            }

            var ex = await Should.ThrowAsync<CheckpointException>(() => ValidateAsync(scenario.ConnectionString, directory.Path));
            ex.ErrorCode.ShouldBe(CheckpointErrorCode.PositionUnavailable); // SlotMissing
        }
        finally
        {
            directory.Dispose();
        }
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Cdc.sln")))
        {
            dir = dir.Parent;
        }

        dir.ShouldNotBeNull("the repository root (Cdc.sln) above the test assembly");
        return dir.FullName;
    }

    private static string DocsBlock(string docs, string name)
    {
        var marker = docs.IndexOf($"<!-- snippet: {name} -->", StringComparison.Ordinal);
        marker.ShouldBeGreaterThanOrEqualTo(0, $"docs/postgres.md has no '<!-- snippet: {name} -->' marker");
        var start = docs.IndexOf("```csharp\n", marker, StringComparison.Ordinal) + "```csharp\n".Length;
        var end = docs.IndexOf("```", start, StringComparison.Ordinal);
        return docs[start..end].TrimEnd('\n');
    }

    private static string SourceBlock(string source, string name)
    {
        var lines = source.Split('\n');
        var first = Array.FindIndex(lines, l => l.Trim() == $"// snippet: {name}") + 1;
        var last = Array.FindIndex(lines, first, l => l.Trim() == "// end snippet");
        var block = lines[first..last];
        var indent = block.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        var text = new StringBuilder();
        foreach (var line in block)
        {
            text.Append(line.Length >= indent ? line[indent..] : line.TrimStart()).Append('\n');
        }

        return text.ToString().TrimEnd('\n');
    }
}
