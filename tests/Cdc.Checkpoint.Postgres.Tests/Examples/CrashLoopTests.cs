using System.Globalization;
using Cdc.Checkpoint.Postgres.Tests.Support;
using Cdc.Checkpoint.TestServers;
using Npgsql;
using PostgresLogicalReplication;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Examples;

/// <summary>
/// The example consumer, as separate processes, killed with SIGKILL at random points while rows are inserted:
/// the sink must end with exactly the inserted rows and the slot must never be acknowledged past the durable
/// checkpoint. Five kills per sink by default; set <c>CDC_CRASH_KILLS</c> to raise it.
/// </summary>
public sealed class CrashLoopTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static int Kills =>
        Environment.GetEnvironmentVariable("CDC_CRASH_KILLS") is { Length: > 0 } value ? int.Parse(value, CultureInfo.InvariantCulture) : 5;

    [Theory]
    [InlineData(SinkKind.Table)]
    [InlineData(SinkKind.File)]
    public async Task Example_KilledWithSigkillWhileRowsAreInserted_SinkHoldsEveryRowExactlyOnce(SinkKind sink)
    {
        var server = await PostgresTestServer.GetAsync(Ct);
        var connectionString = await server.CreateDatabaseAsync("crash", Ct);
        var work = new TempDirectory("cdc-crash-");
        var output = new StringWriter(CultureInfo.InvariantCulture);
        try
        {
            var result = await CrashLoop.RunAsync(
                new CrashLoopOptions { ConnectionString = connectionString, Sink = sink, Kills = Kills, WorkDirectory = work.Path, Log = output, Cleanup = false },
                Ct);
            TestContext.Current.TestOutputHelper?.WriteLine(output.ToString());

            // Check the sink and the slot independently of the demo's own verdict.
            var sinkIds = sink == SinkKind.Table
                ? await QueryIdsAsync(connectionString, $"SELECT id FROM \"{result.Schema}\".demo_sink")
                : File.ReadAllLines(Path.Combine(work.Path, result.Schema, "sink.tsv")).Select(l => long.Parse(l.Split('\t')[0], CultureInfo.InvariantCulture)).ToList();
            var sourceIds = await QueryIdsAsync(connectionString, $"SELECT id FROM \"{result.Schema}\".demo_source");

            result.Kills.ShouldBe(Kills);
            sourceIds.Order().ShouldBe(result.InsertedIds.Order());
            sourceIds.Count.ShouldBeGreaterThan(50);
            sinkIds.Count.ShouldBe(sourceIds.Count, "no row missing and none twice");
            sinkIds.Order().ShouldBe(sourceIds.Order());
            result.Violations.ShouldBeEmpty();
            result.FinalConfirmedFlush.ShouldBeLessThanOrEqualTo(result.FinalCheckpoint);
            result.Passed.ShouldBeTrue();
            output.ToString().ShouldContain("SIGKILL");
        }
        finally
        {
            await using var dataSource = NpgsqlDataSource.Create(server.ConnectionString);
            await using var drop = dataSource.CreateCommand(
                $"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '{new NpgsqlConnectionStringBuilder(connectionString).Database}' AND NOT active");
            await drop.ExecuteNonQueryAsync(CancellationToken.None);
            work.Dispose();
        }
    }

    private static async Task<List<long>> QueryIdsAsync(string connectionString, string sql)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var command = dataSource.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        var ids = new List<long>();
        while (await reader.ReadAsync(Ct))
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }
}
