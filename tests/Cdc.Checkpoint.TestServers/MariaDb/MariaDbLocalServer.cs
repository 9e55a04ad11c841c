using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using MySqlConnector;

namespace Cdc.Checkpoint.TestServers.MariaDb;

/// <summary>
/// One private <c>mariadbd</c>: its own directory under /tmp (config, datadir, socket, pid file, error log, tmpdir),
/// started as a child process of the test process with <c>--defaults-file</c> as its first option so /etc/mysql is
/// never read. Stopped with SIGTERM (SIGKILL after a timeout) and deleted on dispose or at process exit; directories
/// left behind by a test process that was killed are removed by the next one.
/// </summary>
internal sealed class MariaDbLocalServer
{
    private const string DirectoryPrefix = "cdc-mariadb-";
    private const string OwnerFileName = "owner.pid";
    private const string OsUser = "mysql";
    private const int MaxStartAttempts = 3;

    private static readonly ConcurrentDictionary<MariaDbLocalServer, byte> Live = new();
    private static readonly Lock SweepLock = new();
    private static bool s_swept;
    private static bool s_exitHookInstalled;

    private readonly MariaDbTestServerOptions _options;
    private readonly Queue<string> _processOutput = new();
    private readonly Lock _lifecycleLock = new();
    private Process? _process;
    private bool _destroyed;

    private MariaDbLocalServer(string root, MariaDbTestServerOptions options, string password)
    {
        Root = root;
        _options = options;
        Password = password;
    }

    public string Root { get; }

    public string DataDirectory => Path.Combine(Root, "data");

    public string SocketPath => Path.Combine(Root, "mysqld.sock");

    public string ErrorLogPath => Path.Combine(Root, "error.log");

    private string ConfigPath => Path.Combine(Root, "my.cnf");

    public int Port { get; private set; }

    public string Password { get; }

    public int? ProcessId => _process is { HasExited: false } p ? p.Id : null;

    public string TcpConnectionString(string database) =>
        $"Server=127.0.0.1;Port={Port.ToString(CultureInfo.InvariantCulture)};User={MariaDbTestServer.DefaultUser};Password={Password};Database={database}";

    // Pooling off: these connections are for the fixture's own setup, and a pool would outlive the process it reached.
    private string RootSocketConnectionString => $"Server={SocketPath};Protocol=Unix;User=root;Connect Timeout=2;Pooling=false";

    /// <summary>Creates, initialises and starts a server, then creates the <c>cdc</c> TCP user and the test database.</summary>
    public static async Task<MariaDbLocalServer> StartAsync(MariaDbTestServerOptions options, CancellationToken cancellationToken)
    {
        SweepStaleDirectories();
        InstallExitHook();
        var mariadbd = FindExecutable("mariadbd");
        var installDb = FindExecutable("mariadb-install-db");
        var root = CreatePrivateDirectory();
        var server = new MariaDbLocalServer(root, options, Convert.ToHexString(RandomNumberGenerator.GetBytes(12)).ToLowerInvariant());
        Live.TryAdd(server, 0);
        try
        {
            await File.WriteAllTextAsync(Path.Combine(root, OwnerFileName), Environment.ProcessId.ToString(CultureInfo.InvariantCulture), cancellationToken);
            if (TestEnvironment.IsRoot)
            {
                await EnsureOsUserAsync(cancellationToken);
                await RunToolAsync("chown", [$"{OsUser}:", root], TimeSpan.FromSeconds(30), cancellationToken);
            }

            server.Port = FreePort();
            server.WriteConfig();
            var (exitCode, output) = await RunToolAsync(
                installDb,
                [$"--defaults-file={server.ConfigPath}", "--auth-root-authentication-method=normal", "--skip-test-db"],
                TimeSpan.FromMinutes(3),
                cancellationToken,
                throwOnFailure: false);
            if (exitCode != 0)
            {
                throw new InvalidOperationException(
                    $"The throwaway MariaDB server in {root} could not be started: mariadb-install-db failed with exit code {exitCode}. " +
                    $"Output (tail):\n{Tail(output, 40)}\n{server.ReadLogTail(20)}");
            }

            await server.StartProcessAsync(mariadbd, allowPortChange: true, cancellationToken);
            await server.CreateUserAndDatabaseAsync(cancellationToken);
            return server;
        }
        catch
        {
            server.Destroy();
            throw;
        }
    }

    /// <summary>Stops the server (clean shutdown) and starts it again on the same datadir and port.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken)
    {
        await Task.Run(() => Stop(TimeSpan.FromSeconds(30)), CancellationToken.None);
        await StartProcessAsync(FindExecutable("mariadbd"), allowPortChange: false, cancellationToken);
    }

    /// <summary>Stops the server and deletes its directory; safe to call twice and from the process-exit hook.</summary>
    public void Destroy()
    {
        lock (_lifecycleLock)
        {
            if (_destroyed)
            {
                return;
            }

            _destroyed = true;
        }

        try
        {
            Stop(TimeSpan.FromSeconds(20));
        }
        finally
        {
            Live.TryRemove(this, out _);
            DeleteDirectory(Root);
        }
    }

    /// <summary>The last lines of the error log and of mariadbd's own output, for failure messages.</summary>
    public string ReadLogTail(int maxLines)
    {
        var builder = new StringBuilder();
        try
        {
            if (File.Exists(ErrorLogPath))
            {
                builder.Append("--- ").Append(ErrorLogPath).AppendLine(" (tail) ---");
                builder.AppendLine(Tail(File.ReadAllText(ErrorLogPath), maxLines));
            }
        }
        catch (IOException e)
        {
            builder.AppendLine(CultureInfo.InvariantCulture, $"(error log unreadable: {e.Message})");
        }

        lock (_processOutput)
        {
            if (_processOutput.Count > 0)
            {
                builder.AppendLine("--- mariadbd stdout/stderr (tail) ---");
                foreach (var line in _processOutput.TakeLast(maxLines))
                {
                    builder.AppendLine(line);
                }
            }
        }

        return builder.ToString();
    }

    private void WriteConfig()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw NotLinux();
        }

        var lines = new List<string>
        {
            "# Written by Cdc.Checkpoint.TestServers (MariaDbLocalServer); passed with --defaults-file, /etc/mysql is never read.",
            "[client]",
            $"socket={SocketPath}",
            "[mariadbd]",
        };
        if (TestEnvironment.IsRoot)
        {
            lines.Add($"user={OsUser}");
        }

        lines.AddRange(
        [
            $"datadir={DataDirectory}",
            $"socket={SocketPath}",
            $"pid-file={Path.Combine(Root, "mysqld.pid")}",
            $"log-error={ErrorLogPath}",
            $"tmpdir={Root}",
            $"port={Port.ToString(CultureInfo.InvariantCulture)}",
            "bind-address=127.0.0.1",
            "skip-name-resolve",
            $"server_id={_options.ServerId.ToString(CultureInfo.InvariantCulture)}",
            $"log_bin={Path.Combine(DataDirectory, "binlog")}",
            "binlog_format=ROW",
            "binlog_row_image=FULL",
            "log_slave_updates=ON",
            "gtid_strict_mode=ON",
            $"gtid_domain_id={_options.GtidDomainId.ToString(CultureInfo.InvariantCulture)}",
            // Without /etc/mysql the compiled-in default character set is latin1.
            "character_set_server=utf8mb4",
            "collation_server=utf8mb4_general_ci",
            // Speed knobs for a throwaway server; never use them where the server's own durability is under test.
            "innodb_buffer_pool_size=32M",
            "innodb_log_file_size=16M",
            "innodb_flush_log_at_trx_commit=2",
            "sync_binlog=0",
            "performance_schema=OFF",
            "skip-external-locking",
        ]);
        lines.AddRange(_options.ExtraSettings);
        File.WriteAllText(ConfigPath, string.Join('\n', lines) + "\n");
        // mariadbd ignores a world-writable config file; it must also be readable by the mysql user.
        File.SetUnixFileMode(ConfigPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }

    private async Task StartProcessAsync(string mariadbd, bool allowPortChange, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var process = StartMariadbd(mariadbd);
            _process = process;
            var failure = await WaitUntilReadyAsync(process, cancellationToken);
            if (failure is null)
            {
                return;
            }

            Stop(TimeSpan.FromSeconds(10));
            var log = ReadLogTail(40);
            var portTaken = log.Contains("Bind on TCP/IP port", StringComparison.Ordinal);
            if (portTaken && allowPortChange && attempt < MaxStartAttempts)
            {
                // Another process took the port between probing and binding: move to a new one.
                Port = FreePort();
                WriteConfig();
                continue;
            }

            throw new InvalidOperationException(
                $"The throwaway MariaDB server in {Root} (port {Port.ToString(CultureInfo.InvariantCulture)}) could not be started: {failure}\n{log}");
        }
    }

    private Process StartMariadbd(string mariadbd)
    {
        var startInfo = new ProcessStartInfo(mariadbd)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // --defaults-file must be the very first option.
        startInfo.ArgumentList.Add($"--defaults-file={ConfigPath}");
        var process = new Process { StartInfo = startInfo };
        process.OutputDataReceived += (_, e) => Capture(e.Data);
        process.ErrorDataReceived += (_, e) => Capture(e.Data);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Polls the socket as root until the server answers; returns why it did not, or <see langword="null"/>.</summary>
    private async Task<string?> WaitUntilReadyAsync(Process process, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        string lastError = "no answer yet";
        while (deadline.Elapsed < _options.StartTimeout)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (process.HasExited)
            {
                return $"mariadbd exited with code {process.ExitCode.ToString(CultureInfo.InvariantCulture)} before answering.";
            }

            if (File.Exists(SocketPath))
            {
                try
                {
                    await using var connection = new MySqlConnection(RootSocketConnectionString);
                    await connection.OpenAsync(cancellationToken);
                    return null;
                }
                catch (MySqlException e)
                {
                    lastError = $"{e.Number.ToString(CultureInfo.InvariantCulture)}: {e.Message}";
                }
            }

            await Task.Delay(50, cancellationToken);
        }

        return $"no answer on {SocketPath} within {_options.StartTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s (last error {lastError}).";
    }

    private async Task CreateUserAndDatabaseAsync(CancellationToken cancellationToken)
    {
        await using var connection = new MySqlConnection(RootSocketConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        // root@localhost only matches the socket, so tests get a TCP user. sql_log_bin=0 keeps the setup out of the
        // binlog and the GTID history: the first transaction a test commits is GTID <domain>-<server_id>-1.
        command.CommandText =
            "SET SESSION sql_log_bin=0; " +
            // The user is a constant and the password hex, so both are safe to inline (DDL takes no parameters here).
            $"CREATE USER '{MariaDbTestServer.DefaultUser}'@'127.0.0.1' IDENTIFIED BY '{Password}'; " +
            $"GRANT ALL PRIVILEGES ON *.* TO '{MariaDbTestServer.DefaultUser}'@'127.0.0.1' WITH GRANT OPTION; " +
            $"CREATE DATABASE `{MariaDbTestServer.DefaultDatabase}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;";
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private void Stop(TimeSpan timeout)
    {
        var process = _process;
        if (process is null)
        {
            return;
        }

        _process = null;
        using (process)
        {
            if (process.HasExited)
            {
                return;
            }

            // SIGTERM is mariadbd's clean shutdown (~50 ms here). Waiting on our own child also reaps it, so no zombie
            // lingers holding the port or the datadir lock.
            MariaDbProcessNative.Signal(process.Id, MariaDbProcessNative.SIGTERM);
            if (!process.WaitForExit(timeout))
            {
                Capture($"[fixture] mariadbd {process.Id} did not stop within {timeout.TotalSeconds} s after SIGTERM; sending SIGKILL.");
                process.Kill();
                process.WaitForExit(TimeSpan.FromSeconds(10));
            }
        }
    }

    private void Capture(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_processOutput)
        {
            _processOutput.Enqueue(line);
            while (_processOutput.Count > 200)
            {
                _processOutput.Dequeue();
            }
        }
    }

    private static void InstallExitHook()
    {
        lock (SweepLock)
        {
            if (s_exitHookInstalled)
            {
                return;
            }

            s_exitHookInstalled = true;
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                foreach (var server in Live.Keys)
                {
                    server.Destroy();
                }
            };
        }
    }

    /// <summary>
    /// Removes directories (and kills their mariadbd) whose owning test process no longer exists — left behind when
    /// a test run was killed before its exit hook ran. Directories of live processes are never touched.
    /// </summary>
    private static void SweepStaleDirectories()
    {
        lock (SweepLock)
        {
            if (s_swept)
            {
                return;
            }

            s_swept = true;
        }

        foreach (var directory in Directory.EnumerateDirectories("/tmp", DirectoryPrefix + "*"))
        {
            try
            {
                var ownerFile = Path.Combine(directory, OwnerFileName);
                if (!File.Exists(ownerFile)
                    || !int.TryParse(File.ReadAllText(ownerFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var owner)
                    || owner == Environment.ProcessId
                    || Directory.Exists($"/proc/{owner.ToString(CultureInfo.InvariantCulture)}"))
                {
                    continue;
                }

                var pidFile = Path.Combine(directory, "mysqld.pid");
                if (File.Exists(pidFile)
                    && int.TryParse(File.ReadAllText(pidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                {
                    var cmdline = $"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/cmdline";
                    if (File.Exists(cmdline) && File.ReadAllText(cmdline).Contains(directory, StringComparison.Ordinal))
                    {
                        MariaDbProcessNative.Signal(pid, MariaDbProcessNative.SIGKILL);
                        for (var i = 0; i < 100 && File.Exists(cmdline); i++)
                        {
                            Thread.Sleep(20);
                        }
                    }
                }

                DeleteDirectory(directory);
            }
            catch (IOException)
            {
                // Another process is sweeping or using it; leave it.
            }
            catch (UnauthorizedAccessException)
            {
                // Someone else's directory; leave it.
            }
        }
    }

    private static string CreatePrivateDirectory()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw NotLinux();
        }

        while (true)
        {
            var path = Path.Combine("/tmp", DirectoryPrefix + Convert.ToHexString(RandomNumberGenerator.GetBytes(5)).ToLowerInvariant());
            if (Directory.Exists(path))
            {
                continue;
            }

            Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            return path;
        }
    }

    private static PlatformNotSupportedException NotLinux() => new(
        $"The throwaway MariaDB server runs on Linux only; elsewhere set {MariaDbTestServer.OverrideVariable} to an existing server.");

    private static void DeleteDirectory(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (IOException)
        {
            // Best effort: the next test process sweeps it.
        }
        catch (UnauthorizedAccessException)
        {
            // Best effort: the next test process sweeps it.
        }
    }

    private static async Task EnsureOsUserAsync(CancellationToken cancellationToken)
    {
        var (exitCode, _) = await RunToolAsync("id", [OsUser], TimeSpan.FromSeconds(10), cancellationToken, throwOnFailure: false);
        if (exitCode != 0)
        {
            await RunToolAsync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OsUser], TimeSpan.FromSeconds(30), cancellationToken);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string FindExecutable(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        var candidates = path.Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/usr/local/mysql/bin"]);
        foreach (var directory in candidates)
        {
            var file = Path.Combine(directory, name);
            if (File.Exists(file))
            {
                return file;
            }
        }

        throw new InvalidOperationException(
            $"'{name}' was not found on PATH or in /usr/sbin. Install MariaDB with `apt-get install -y mariadb-server` " +
            $"(the system service need not run), or point the tests at a server with {MariaDbTestServer.OverrideVariable}=" +
            "\"Server=127.0.0.1;Port=3306;User=cdc;Password=...;Database=cdctest\".");
    }

    private static async Task<(int ExitCode, string Output)> RunToolAsync(
        string fileName, string[] arguments, TimeSpan timeout, CancellationToken cancellationToken, bool throwOnFailure = true)
    {
        var startInfo = new ProcessStartInfo(fileName)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"Could not start {fileName}.");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(timeoutSource.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            cancellationToken.ThrowIfCancellationRequested();
            throw new InvalidOperationException($"{fileName} {string.Join(' ', arguments)} did not finish within {timeout.TotalSeconds} s.");
        }

        var output = await stdout + await stderr;
        if (throwOnFailure && process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{fileName} {string.Join(' ', arguments)} failed with exit code {process.ExitCode}:\n{Tail(output, 20)}");
        }

        return (process.ExitCode, output);
    }

    private static string Tail(string text, int maxLines)
    {
        var lines = text.Split('\n');
        return string.Join('\n', lines.TakeLast(maxLines)).TrimEnd();
    }
}
