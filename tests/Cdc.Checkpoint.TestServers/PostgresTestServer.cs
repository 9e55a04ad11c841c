using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Npgsql;

namespace Cdc.Checkpoint.TestServers;

/// <summary>
/// A private PostgreSQL 15 cluster for tests, with logical replication enabled, started from the Debian packages
/// (<c>/usr/lib/postgresql/15/bin</c>, or <c>PG_BIN</c>).
/// </summary>
/// <remarks>
/// <para>
/// <see cref="GetAsync"/> starts one shared cluster per test process, the first time it is asked, and stops and deletes
/// it when the process exits. <see cref="StartNewClusterAsync"/> starts another, independent cluster (its own
/// <c>initdb</c>, so its own system identifier) that the caller disposes.
/// </para>
/// <para>
/// Each cluster lives in its own directory under <c>/tmp</c> (data directory, unix socket, server log), listens on
/// 127.0.0.1 on a free port, trusts every local connection including replication, and trades durability for speed
/// (<c>fsync=off</c>): never use it to test the server's own crash safety. When the tests run as root the cluster runs
/// as the <c>postgres</c> OS user (<c>PG_OS_USER</c>), because PostgreSQL refuses to run as root.
/// </para>
/// <para>
/// Set <c>CDC_TEST_POSTGRES</c> to a connection string to use an existing server (it must have
/// <c>wal_level=logical</c>) instead of the shared throwaway cluster.
/// </para>
/// </remarks>
public sealed class PostgresTestServer : IAsyncDisposable
{
    /// <summary>The environment variable that names an existing server to use instead of the throwaway cluster.</summary>
    public const string OverrideVariable = "CDC_TEST_POSTGRES";

    private static readonly TimeSpan InitDbTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan PgCtlTimeout = TimeSpan.FromSeconds(90);
    private const int PgCtlWaitSeconds = 60;
    private const int StartAttempts = 3;

    private static readonly Lazy<Task<PostgresTestServer>> Shared =
        new(() => Task.Run(() => TestEnvironment.RequireServerAsync("PostgreSQL 15 (wal_level=logical)", () => StartSharedAsync(CancellationToken.None))));

    private static readonly ConcurrentDictionary<PostgresTestServer, byte> LiveClusters = new();
    private static int _exitHookInstalled;

    private readonly LocalCluster? _cluster;
    private readonly bool _isShared;
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    private int _disposed;

    private PostgresTestServer(string connectionString, LocalCluster? cluster, bool isShared)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        ConnectionString = builder.ConnectionString;
        Database = builder.Database ?? "postgres";
        _cluster = cluster;
        _isShared = isShared;
    }

    /// <summary>The connection string of the cluster's default database (<c>postgres</c> for a throwaway cluster).</summary>
    public string ConnectionString { get; }

    /// <summary>
    /// The connection string for a <c>LogicalReplicationConnection</c> to the default database. Npgsql adds
    /// <c>replication=database</c> itself; this string only turns pooling off, as a replication session is never pooled.
    /// </summary>
    public string ReplicationConnectionString => GetReplicationConnectionString();

    /// <summary>The default database.</summary>
    public string Database { get; }

    /// <summary><see langword="true"/> when the server came from <c>CDC_TEST_POSTGRES</c> and is not managed by the tests.</summary>
    public bool IsExternal => _cluster is null;

    /// <summary>The data directory of a throwaway cluster; <see langword="null"/> for an external server.</summary>
    public string? DataDirectory => _cluster?.DataDirectory;

    /// <summary>The TCP port of a throwaway cluster; <see langword="null"/> for an external server.</summary>
    public int? Port => _cluster?.Port;

    /// <summary>
    /// The shared server of this test process: the <c>CDC_TEST_POSTGRES</c> server when set, otherwise a throwaway
    /// cluster started on first use and removed at process exit. Do not dispose it.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting (the start itself goes on for the next caller).</param>
    /// <returns>The server.</returns>
    /// <exception cref="InvalidOperationException">The server cannot be started or reached; the message says why and quotes the server log.</exception>
    public static Task<PostgresTestServer> GetAsync(CancellationToken cancellationToken = default) =>
        Shared.Value.WaitAsync(cancellationToken);

    /// <summary>
    /// Starts another throwaway cluster with its own <c>initdb</c>, so it has a different system identifier: a second
    /// server for tests that must tell servers apart. The caller disposes it. Ignores <c>CDC_TEST_POSTGRES</c>.
    /// </summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running cluster.</returns>
    /// <exception cref="InvalidOperationException">The cluster cannot be started; the message quotes the server log.</exception>
    public static Task<PostgresTestServer> StartNewClusterAsync(CancellationToken cancellationToken = default) =>
        TestEnvironment.RequireServerAsync("A second throwaway PostgreSQL 15 cluster", async () =>
        {
            var cluster = await LocalCluster.StartAsync(cancellationToken);
            return await WrapAsync(cluster, isShared: false, cancellationToken);
        });

    /// <summary>The connection string of another database on this server.</summary>
    /// <param name="database">The database name.</param>
    /// <returns>The connection string.</returns>
    public string GetConnectionString(string database)
    {
        ArgumentException.ThrowIfNullOrEmpty(database);
        return new NpgsqlConnectionStringBuilder(ConnectionString) { Database = database }.ConnectionString;
    }

    /// <summary>The connection string for a <c>LogicalReplicationConnection</c> to <paramref name="database"/>.</summary>
    /// <param name="database">The database the replication session attaches to; the default database when null.</param>
    /// <returns>The connection string.</returns>
    public string GetReplicationConnectionString(string? database = null) =>
        new NpgsqlConnectionStringBuilder(ConnectionString) { Database = database ?? Database, Pooling = false }.ConnectionString;

    /// <summary>
    /// Creates a fresh database so a test class gets its own tables and publications (slots are still cluster-wide:
    /// give them unique names).
    /// </summary>
    /// <param name="prefix">The start of the name: lower-case letters, digits and <c>_</c>.</param>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>The connection string of the new database.</returns>
    public async Task<string> CreateDatabaseAsync(string prefix = "test", CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        if (prefix.Length > 40 || !prefix.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_'))
        {
            throw new ArgumentException($"Database prefix '{prefix}' must be 1-40 characters of [a-z0-9_].", nameof(prefix));
        }

        var name = $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(63, prefix.Length + 13)];
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
        return GetConnectionString(name);
    }

    /// <summary>
    /// Stops and starts a throwaway cluster (fast shutdown, or immediate — a simulated crash — when
    /// <paramref name="immediate"/>). Pooled connections to it are cleared.
    /// </summary>
    /// <param name="immediate">Use <c>pg_ctl -m immediate</c>: no shutdown checkpoint, crash recovery on start.</param>
    /// <param name="cancellationToken">Cancels the restart.</param>
    /// <returns>A task that completes when the server accepts connections again.</returns>
    /// <exception cref="InvalidOperationException">The server is external or cannot be restarted.</exception>
    public async Task RestartAsync(bool immediate = false, CancellationToken cancellationToken = default)
    {
        var cluster = _cluster ?? throw new InvalidOperationException($"The server from {OverrideVariable} is not managed by the tests and cannot be restarted.");
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await _lifecycle.WaitAsync(cancellationToken);
        try
        {
            NpgsqlConnection.ClearAllPools();
            await cluster.StopAsync(immediate ? "immediate" : "fast", cancellationToken);
            try
            {
                await cluster.StartServerAsync(cancellationToken);
            }
            catch (InvalidOperationException ex)
            {
                throw new InvalidOperationException($"Could not restart {this}: {ex.Message}{FormatLogTail(cluster.ReadLogTail(40))}", ex);
            }
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>The last lines of the server log of a throwaway cluster (empty for an external server).</summary>
    /// <param name="maxLines">How many lines at most.</param>
    /// <returns>The log tail.</returns>
    public string ReadLogTail(int maxLines = 40) => _cluster?.ReadLogTail(maxLines) ?? string.Empty;

    /// <summary>
    /// Stops a cluster from <see cref="StartNewClusterAsync"/> and deletes its directory. Does nothing for the shared
    /// server (it is removed at process exit) or an external one.
    /// </summary>
    /// <returns>A task that completes when the cluster is gone.</returns>
    public async ValueTask DisposeAsync()
    {
        if (_isShared || _cluster is null || Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _lifecycle.WaitAsync();
        try
        {
            NpgsqlConnection.ClearAllPools();
            LiveClusters.TryRemove(this, out _);
            await _cluster.DestroyAsync();
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <inheritdoc />
    public override string ToString() =>
        _cluster is null ? $"PostgreSQL from {OverrideVariable}" : $"PostgreSQL test cluster on 127.0.0.1:{_cluster.Port} ({_cluster.Root})";

    private static async Task<PostgresTestServer> StartSharedAsync(CancellationToken cancellationToken)
    {
        var external = Environment.GetEnvironmentVariable(OverrideVariable);
        if (!string.IsNullOrWhiteSpace(external))
        {
            string connectionString;
            try
            {
                connectionString = new NpgsqlConnectionStringBuilder(external).ConnectionString;
            }
            catch (ArgumentException ex)
            {
                throw new InvalidOperationException($"{OverrideVariable} is not a valid Npgsql connection string: {ex.Message}. Fix or unset it.", ex);
            }

            var server = new PostgresTestServer(connectionString, cluster: null, isShared: true);
            await server.CheckLogicalReplicationAsync(cancellationToken);
            return server;
        }

        var cluster = await LocalCluster.StartAsync(cancellationToken);
        return await WrapAsync(cluster, isShared: true, cancellationToken);
    }

    private static async Task<PostgresTestServer> WrapAsync(LocalCluster cluster, bool isShared, CancellationToken cancellationToken)
    {
        var server = new PostgresTestServer(cluster.ConnectionString, cluster, isShared);
        LiveClusters[server] = 0;
        InstallExitHook();
        try
        {
            await server.CheckLogicalReplicationAsync(cancellationToken);
            return server;
        }
        catch
        {
            LiveClusters.TryRemove(server, out _);
            await cluster.DestroyAsync();
            throw;
        }
    }

    // Npgsql's own replication tests check wal_level first: a clear precondition message beats a protocol error later.
    private async Task CheckLogicalReplicationAsync(CancellationToken cancellationToken)
    {
        string walLevel;
        try
        {
            await using var connection = new NpgsqlConnection(ConnectionString);
            await connection.OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand("SELECT current_setting('wal_level')", connection);
            walLevel = (string)(await command.ExecuteScalarAsync(cancellationToken))!;
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
        {
            throw new InvalidOperationException(
                $"Cannot connect to {this}: {ex.Message}{FormatLogTail(ReadLogTail())}", ex);
        }

        if (walLevel != "logical")
        {
            throw new InvalidOperationException(
                $"{this} has wal_level={walLevel}; the tests need wal_level=logical (set it in postgresql.conf and restart the server, or unset {OverrideVariable} to use a throwaway cluster).");
        }
    }

    private static void InstallExitHook()
    {
        if (Interlocked.Exchange(ref _exitHookInstalled, 1) == 0)
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                foreach (var server in LiveClusters.Keys)
                {
                    server._cluster?.DestroyAtExit();
                }
            };
        }
    }

    private static string FormatLogTail(string tail) =>
        string.IsNullOrWhiteSpace(tail) ? string.Empty : $"{Environment.NewLine}--- server log (last lines) ---{Environment.NewLine}{tail}";

    /// <summary>One initdb'd cluster in its own directory, run by the unprivileged OS user when we are root.</summary>
    private sealed class LocalCluster
    {
        private readonly string _pgBin;
        private readonly string? _osUser;
        private Process? _watchdog;

        private LocalCluster(string pgBin, string? osUser, string root)
        {
            _pgBin = pgBin;
            _osUser = osUser;
            Root = root;
        }

        public string Root { get; }

        public string DataDirectory => Path.Combine(Root, "data");

        public int Port { get; private set; }

        private string LogPath => Path.Combine(Root, "server.log");

        private string PgCtl => Path.Combine(_pgBin, "pg_ctl");

        public string ConnectionString => new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = Port,
            Username = "postgres",
            Database = "postgres",
            Timeout = 30,
            CommandTimeout = 60,
            IncludeErrorDetail = true,
            ApplicationName = "cdc-checkpoint-tests",
        }.ConnectionString;

        public static async Task<LocalCluster> StartAsync(CancellationToken cancellationToken)
        {
            if (!OperatingSystem.IsLinux())
            {
                throw new PlatformNotSupportedException($"Throwaway PostgreSQL clusters need Linux; set {OverrideVariable} to the connection string of a server with wal_level=logical.");
            }

            var pgBin = Environment.GetEnvironmentVariable("PG_BIN") is { Length: > 0 } bin ? bin : "/usr/lib/postgresql/15/bin";
            if (!File.Exists(Path.Combine(pgBin, "initdb")) || !File.Exists(Path.Combine(pgBin, "pg_ctl")))
            {
                throw new InvalidOperationException(
                    $"PostgreSQL server binaries not found: {Path.Combine(pgBin, "initdb")} is missing. Install the postgresql-15 package (eng/test.sh does), set PG_BIN to the directory holding initdb and pg_ctl, or set {OverrideVariable} to the connection string of a server with wal_level=logical.");
            }

            string? osUser = null;
            if (TestEnvironment.IsRoot)
            {
                osUser = Environment.GetEnvironmentVariable("PG_OS_USER") is { Length: > 0 } user ? user : "postgres";
                await EnsureOsUserAsync(osUser, cancellationToken);
            }

            // The postgres user cannot reach root's TMPDIR (often under /root), so root always uses /tmp.
            var tempBase = osUser is null ? Path.GetTempPath() : "/tmp";
            var root = Path.Combine(tempBase, "cdc-pg-" + Path.GetRandomFileName().Replace(".", "", StringComparison.Ordinal));
            Directory.CreateDirectory(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var cluster = new LocalCluster(pgBin, osUser, root);
            try
            {
                if (osUser is not null)
                {
                    await RunCheckedAsync("chown", [$"{osUser}:", root], root, PgCtlTimeout, cancellationToken);
                }

                await cluster.InitDbAsync(cancellationToken);
                cluster.StartWatchdog();
                await cluster.StartServerAsync(cancellationToken);
                return cluster;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                var tail = cluster.ReadLogTail(60);
                await cluster.DestroyAsync();
                throw new InvalidOperationException(
                    $"Could not start a throwaway PostgreSQL cluster in {root}: {ex.Message}{FormatLogTail(tail)}", ex);
            }
            catch
            {
                await cluster.DestroyAsync();
                throw;
            }
        }

        /// <summary>Starts the postmaster: on a new free port the first time, on the same port after a stop.</summary>
        public async Task StartServerAsync(CancellationToken cancellationToken)
        {
            var keepPort = Port != 0;
            for (var attempt = 1; ; attempt++)
            {
                if (!keepPort || attempt > 1)
                {
                    Port = FindFreePort();
                    File.WriteAllText(Path.Combine(DataDirectory, "cdc_test_port.conf"), $"port = {Port.ToString(CultureInfo.InvariantCulture)}\n");
                }

                var result = await RunAsync(
                    PgCtl,
                    ["-D", DataDirectory, "-l", LogPath, "-w", "-t", PgCtlWaitSeconds.ToString(CultureInfo.InvariantCulture), "start"],
                    asServerUser: true,
                    PgCtlTimeout,
                    cancellationToken);
                if (result.ExitCode == 0)
                {
                    return;
                }

                // The port was free when we looked; another process may have taken it since. Try another one — except on
                // a restart, where connection strings already name the port.
                if (!keepPort && attempt < StartAttempts && ReadLogTail(20).Contains("Address already in use", StringComparison.Ordinal))
                {
                    continue;
                }

                throw new InvalidOperationException($"pg_ctl start failed on port {Port}: {result.Describe()}");
            }
        }

        public async Task StopAsync(string mode, CancellationToken cancellationToken)
        {
            if (!File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
            {
                return;
            }

            var result = await RunAsync(
                PgCtl,
                ["-D", DataDirectory, "-m", mode, "-w", "-t", PgCtlWaitSeconds.ToString(CultureInfo.InvariantCulture), "stop"],
                asServerUser: true,
                PgCtlTimeout,
                cancellationToken);
            if (result.ExitCode != 0)
            {
                throw new InvalidOperationException($"pg_ctl stop -m {mode} failed for {DataDirectory}: {result.Describe()}{FormatLogTail(ReadLogTail(40))}");
            }
        }

        public async Task DestroyAsync()
        {
            try
            {
                await StopAsync("fast", CancellationToken.None);
            }
            catch (InvalidOperationException)
            {
                // A cluster that will not stop cleanly is stopped hard before its directory goes away.
                await RunAsync(PgCtl, ["-D", DataDirectory, "-m", "immediate", "-w", "stop"], asServerUser: true, PgCtlTimeout, CancellationToken.None);
            }

            DeleteRoot();
            StopWatchdog();
        }

        // ProcessExit handlers must finish synchronously; the thread pool may already be winding down.
        public void DestroyAtExit()
        {
            if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
            {
                RunSync(PgCtl, ["-D", DataDirectory, "-m", "fast", "-w", "-t", "30", "stop"], asServerUser: true, TimeSpan.FromSeconds(40));
            }

            DeleteRoot();
        }

        public string ReadLogTail(int maxLines)
        {
            try
            {
                if (!File.Exists(LogPath))
                {
                    return string.Empty;
                }

                var lines = File.ReadAllLines(LogPath);
                return string.Join(Environment.NewLine, lines.Skip(Math.Max(0, lines.Length - maxLines)));
            }
            catch (IOException ex)
            {
                return $"(cannot read {LogPath}: {ex.Message})";
            }
            catch (UnauthorizedAccessException ex)
            {
                return $"(cannot read {LogPath}: {ex.Message})";
            }
        }

        private async Task InitDbAsync(CancellationToken cancellationToken)
        {
            // --no-sync: a throwaway cluster need not survive a power cut; it saves most of initdb's time.
            var result = await RunAsync(
                Path.Combine(_pgBin, "initdb"),
                ["-D", DataDirectory, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"],
                asServerUser: true,
                InitDbTimeout,
                cancellationToken);
            if (result.ExitCode != 0)
            {
                throw new InvalidOperationException($"initdb failed: {result.Describe()}");
            }

            var settings = new StringBuilder()
                .AppendLine()
                .AppendLine("# Cdc.Checkpoint test cluster")
                .AppendLine("listen_addresses = '127.0.0.1'")
                .AppendLine(CultureInfo.InvariantCulture, $"unix_socket_directories = '{Root}'")
                .AppendLine("wal_level = logical")
                .AppendLine("max_replication_slots = 20")
                .AppendLine("max_wal_senders = 20")
                .AppendLine("max_connections = 100")
                .AppendLine("shared_buffers = 32MB")
                // Speed only: these clusters are thrown away and never test the server's own durability.
                .AppendLine("fsync = off")
                .AppendLine("synchronous_commit = off")
                .AppendLine("full_page_writes = off")
                .AppendLine("include_if_exists = 'cdc_test_port.conf'")
                .ToString();
            File.AppendAllText(Path.Combine(DataDirectory, "postgresql.conf"), settings);
            File.WriteAllText(
                Path.Combine(DataDirectory, "pg_hba.conf"),
                """
                local   all          all                 trust
                local   replication  all                 trust
                host    all          all   127.0.0.1/32  trust
                host    replication  all   127.0.0.1/32  trust

                """);
        }

        // If the test process dies without running ProcessExit (killed by a hang timeout, SIGKILL), a small shell
        // process notices and stops the postmaster (SIGINT = fast shutdown) and removes the directory.
        private void StartWatchdog()
        {
            const string Script =
                """
                exec </dev/null >/dev/null 2>&1
                while kill -0 "$1"; do sleep 1; done
                pm=$(head -n 1 "$2/data/postmaster.pid" 2>/dev/null) || pm=
                if [ -n "$pm" ]; then
                  kill -INT "$pm"
                  i=0; while kill -0 "$pm" && [ $i -lt 30 ]; do sleep 1; i=$((i+1)); done
                fi
                rm -rf "$2"
                """;
            var startInfo = new ProcessStartInfo("/bin/sh")
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = "/",
            };
            foreach (var argument in new[] { "-c", Script, "cdc-pg-watchdog", Environment.ProcessId.ToString(CultureInfo.InvariantCulture), Root })
            {
                startInfo.ArgumentList.Add(argument);
            }

            _watchdog = Process.Start(startInfo)
                ?? throw new InvalidOperationException("Could not start /bin/sh for the cluster watchdog.");
        }

        private void StopWatchdog()
        {
            var watchdog = Interlocked.Exchange(ref _watchdog, null);
            if (watchdog is null)
            {
                return;
            }

            try
            {
                watchdog.Kill();
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }

            watchdog.Dispose();
        }

        private void DeleteRoot()
        {
            try
            {
                if (Directory.Exists(Root))
                {
                    Directory.Delete(Root, recursive: true);
                }
            }
            catch (IOException)
            {
                // The watchdog removes what is left once this process is gone.
            }
            catch (UnauthorizedAccessException)
            {
                // Same as above.
            }
        }

        private static int FindFreePort()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        private static async Task EnsureOsUserAsync(string user, CancellationToken cancellationToken)
        {
            var probe = await RunCommandAsync("id", ["-u", user], null, PgCtlTimeout, cancellationToken);
            if (probe.ExitCode == 0)
            {
                return;
            }

            await RunCheckedAsync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user], "/", PgCtlTimeout, cancellationToken);
        }

        private Task<ProcessResult> RunAsync(string file, string[] arguments, bool asServerUser, TimeSpan timeout, CancellationToken cancellationToken)
        {
            var (fileName, args) = asServerUser ? AsServerUser(file, arguments) : (file, arguments);
            return RunCommandAsync(fileName, args, Root, timeout, cancellationToken);
        }

        private void RunSync(string file, string[] arguments, bool asServerUser, TimeSpan timeout)
        {
            var (fileName, args) = asServerUser ? AsServerUser(file, arguments) : (file, arguments);
            try
            {
                using var process = Process.Start(CreateStartInfo(fileName, args, Root))!;
                process.StandardInput.Close();
                if (!process.WaitForExit(timeout))
                {
                    process.Kill(entireProcessTree: true);
                }
            }
            catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception or IOException)
            {
                // At process exit there is nobody left to tell; the watchdog cleans up.
            }
        }

        private (string FileName, string[] Arguments) AsServerUser(string file, string[] arguments)
        {
            if (_osUser is null)
            {
                return (file, arguments);
            }

            var runuser = File.Exists("/usr/sbin/runuser") ? "/usr/sbin/runuser" : File.Exists("/sbin/runuser") ? "/sbin/runuser" : "runuser";
            return (runuser, ["-u", _osUser, "--", file, .. arguments]);
        }

        private static async Task RunCheckedAsync(string file, string[] arguments, string workingDirectory, TimeSpan timeout, CancellationToken cancellationToken)
        {
            var result = await RunCommandAsync(file, arguments, workingDirectory, timeout, cancellationToken);
            if (result.ExitCode != 0)
            {
                throw new InvalidOperationException(result.Describe());
            }
        }

        private static ProcessStartInfo CreateStartInfo(string file, string[] arguments, string? workingDirectory)
        {
            var startInfo = new ProcessStartInfo(file)
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                // The OS user must be able to enter the working directory (initdb and pg_ctl warn otherwise).
                WorkingDirectory = workingDirectory ?? "/",
            };
            foreach (var argument in arguments)
            {
                startInfo.ArgumentList.Add(argument);
            }

            // PGPORT, PGDATA, PGHOST… from the caller's environment must not redirect the throwaway cluster's tools.
            foreach (var key in startInfo.Environment.Keys.Where(k => k.StartsWith("PG", StringComparison.Ordinal)).ToList())
            {
                startInfo.Environment.Remove(key);
            }

            return startInfo;
        }

        private static async Task<ProcessResult> RunCommandAsync(
            string file, string[] arguments, string? workingDirectory, TimeSpan timeout, CancellationToken cancellationToken)
        {
            var commandLine = string.Join(' ', new[] { file }.Concat(arguments));
            Process process;
            try
            {
                process = Process.Start(CreateStartInfo(file, arguments, workingDirectory))
                    ?? throw new InvalidOperationException($"Could not start `{commandLine}`.");
            }
            catch (System.ComponentModel.Win32Exception ex)
            {
                throw new InvalidOperationException($"Could not start `{commandLine}`: {ex.Message}", ex);
            }

            using (process)
            {
                process.StandardInput.Close();
                var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
                var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
                using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeoutSource.CancelAfter(timeout);
                try
                {
                    await process.WaitForExitAsync(timeoutSource.Token);
                }
                catch (OperationCanceledException)
                {
                    try
                    {
                        process.Kill(entireProcessTree: true);
                    }
                    catch (InvalidOperationException)
                    {
                        // It exited in the meantime.
                    }

                    cancellationToken.ThrowIfCancellationRequested();
                    throw new InvalidOperationException($"`{commandLine}` did not finish within {timeout.TotalSeconds:0} s and was killed.");
                }

                // A daemon started by the command (the postmaster) could hold the pipes open; do not wait for it.
                var output = await ReadOrEmptyAsync(stdout);
                var error = await ReadOrEmptyAsync(stderr);
                return new ProcessResult(commandLine, process.ExitCode, output, error);
            }
        }

        private static async Task<string> ReadOrEmptyAsync(Task<string> read)
        {
            try
            {
                return await read.WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (TimeoutException)
            {
                return "(output not closed)";
            }
        }
    }

    private sealed record ProcessResult(string CommandLine, int ExitCode, string StandardOutput, string StandardError)
    {
        public string Describe() =>
            $"`{CommandLine}` exited with {ExitCode}."
            + (StandardError.Length > 0 ? $" stderr: {StandardError.Trim()}" : string.Empty)
            + (StandardOutput.Length > 0 ? $" stdout: {StandardOutput.Trim()}" : string.Empty);
    }
}
