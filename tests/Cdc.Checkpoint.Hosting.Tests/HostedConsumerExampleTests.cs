using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Cdc.Checkpoint.TestServers;
using Npgsql;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Hosting.Tests;

/// <summary>
/// The contract of examples/HostedConsumer, run as a real process against the throwaway PostgreSQL: /healthz answers
/// 200 Healthy once it streams, /metrics serves the cdc_checkpoint instruments as Prometheus text, and SIGKILLs while
/// rows are inserted lose no row and apply none twice.
/// </summary>
public sealed class HostedConsumerExampleTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Example_KilledWithSigkillWhileRowsAreInserted_SinkExactAndEndpointsServe()
    {
        var server = await PostgresTestServer.GetAsync(Ct);
        var connectionString = new NpgsqlConnectionStringBuilder(await server.CreateDatabaseAsync("example", Ct)) { Options = "-c synchronous_commit=on" }.ConnectionString;
        var slot = "ex_" + Guid.NewGuid().ToString("N")[..20];
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var inserted = 0L;
        try
        {
            for (var run = 1; run <= 4; run++)
            {
                var port = FreePort();
                await using var app = ExampleProcess.Start(connectionString, slot, port);
                await Eventually(async () => await GetAsync(http, $"http://127.0.0.1:{port}/healthz") is (HttpStatusCode.OK, var body) && body.Contains("Healthy", StringComparison.Ordinal), $"run {run}: /healthz is 200 Healthy", app);

                // Rows go in while the consumer streams; the last run is stopped with SIGTERM, the others killed.
                for (var i = 0; i < 40; i++)
                {
                    await ExecAsync(dataSource, "INSERT INTO orders (id, item) VALUES ($1, $2)", ++inserted, $"item {inserted}");
                }

                await Eventually(async () => await CountAsync(dataSource, "orders_sink") >= inserted - 20, $"run {run}: the sink is catching up", app);
                if (run == 1)
                {
                    var (status, metrics) = await GetAsync(http, $"http://127.0.0.1:{port}/metrics");
                    status.ShouldBe(HttpStatusCode.OK);
                    metrics.ShouldContain("cdc_checkpoint_saves");
                    metrics.ShouldContain("cdc_checkpoint_lag");
                    metrics.ShouldContain("cdc_checkpoint_save_duration_seconds_bucket");
                    metrics.ShouldContain("le=\"0.00025\"", customMessage: "the bucket advice reaches the exporter");
                }

                if (run < 4)
                {
                    app.Kill();
                }
                else
                {
                    await Eventually(async () => await CountAsync(dataSource, "orders_sink") == inserted, "the sink has every row", app);
                    (await app.TerminateAsync()).ShouldBe(0, app.Output);
                }
            }

            var source = await IdsAsync(dataSource, "SELECT id FROM orders ORDER BY id");
            var sink = await IdsAsync(dataSource, "SELECT id FROM orders_sink ORDER BY id");
            source.Count.ShouldBe(160);
            sink.ShouldBe(source, "no row lost, none applied twice (a second apply would violate the sink's primary key and stop the consumer)");
        }
        finally
        {
            await using var admin = NpgsqlDataSource.Create(server.ConnectionString);
            await using var drop = admin.CreateCommand("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active");
            drop.Parameters.Add(new NpgsqlParameter { Value = slot });
            await drop.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    private static async Task Eventually(Func<Task<bool>> condition, string what, ExampleProcess app)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline || app.HasExited)
            {
                throw new TimeoutException($"Timed out waiting until {what} (process exited: {app.HasExited}). Its output:{Environment.NewLine}{app.Output}");
            }

            await Task.Delay(100, Ct);
        }
    }

    private static async Task<(HttpStatusCode Status, string Body)> GetAsync(HttpClient http, string url)
    {
        try
        {
            using var response = await http.GetAsync(url, Ct);
            return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
        }
        catch (HttpRequestException)
        {
            return (0, string.Empty); // Not listening yet.
        }
    }

    private static async Task ExecAsync(NpgsqlDataSource dataSource, string sql, params object[] values)
    {
        await using var command = dataSource.CreateCommand(sql);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        await command.ExecuteNonQueryAsync(Ct);
    }

    private static async Task<long> CountAsync(NpgsqlDataSource dataSource, string table)
    {
        try
        {
            await using var command = dataSource.CreateCommand($"SELECT count(*) FROM {table}");
            return (long)(await command.ExecuteScalarAsync(Ct))!;
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return 0;
        }
    }

    private static async Task<List<long>> IdsAsync(NpgsqlDataSource dataSource, string sql)
    {
        var ids = new List<long>();
        await using var command = dataSource.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct))
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The example as a child process: <c>dotnet HostedConsumer.dll --urls …</c> from its build output.</summary>
    private sealed class ExampleProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _output = new();

        private ExampleProcess(Process process)
        {
            _process = process;
            _process.OutputDataReceived += (_, e) => Keep(e.Data);
            _process.ErrorDataReceived += (_, e) => Keep(e.Data);
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public bool HasExited => _process.HasExited;

        public string Output => string.Join(Environment.NewLine, _output);

        public static ExampleProcess Start(string connectionString, string slot, int port)
        {
            var dll = Path.Combine(ExampleDirectory(), "HostedConsumer.dll");
            File.Exists(dll).ShouldBeTrue($"the example is built next to the tests: {dll}");
            var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = Path.GetDirectoryName(dll)!,
            };
            info.ArgumentList.Add(dll);
            info.ArgumentList.Add("--urls");
            info.ArgumentList.Add(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}"));
            info.Environment["ConnectionStrings__Source"] = connectionString;
            info.Environment["Cdc__Consumers__orders__SlotName"] = slot;
            info.Environment["Cdc__Consumers__orders__IdleAdvanceInterval"] = "00:00:01";
            return new ExampleProcess(Process.Start(info) ?? throw new InvalidOperationException("Could not start the example."));
        }

        /// <summary>SIGKILL: no cleanup of any kind.</summary>
        public void Kill() => _process.Kill();

        /// <summary>SIGTERM, then the exit code of a graceful stop.</summary>
        public async Task<int> TerminateAsync()
        {
            using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync(Ct);
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            await _process.WaitForExitAsync(timeout.Token);
            return _process.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
            }

            await _process.WaitForExitAsync(CancellationToken.None);
            TestContext.Current.TestOutputHelper?.WriteLine(Output);
            _process.Dispose();
        }

        // examples/HostedConsumer/bin/<Configuration>/net10.0, the configuration being the tests' own.
        private static string ExampleDirectory()
        {
            var tests = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            var framework = tests.Name;
            var configuration = tests.Parent!.Name;
            var root = tests;
            while (root is not null && !File.Exists(Path.Combine(root.FullName, "Cdc.sln")))
            {
                root = root.Parent;
            }

            return Path.Combine(root?.FullName ?? throw new InvalidOperationException("Cdc.sln not found above the test output."), "examples", "HostedConsumer", "bin", configuration, framework);
        }

        private void Keep(string? line)
        {
            if (line is not null)
            {
                _output.Enqueue(line);
            }
        }
    }
}
