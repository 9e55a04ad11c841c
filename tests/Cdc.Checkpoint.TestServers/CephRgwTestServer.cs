using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Cdc.Checkpoint.TestServers;

/// <summary>
/// A real S3 server for tests: a throwaway single-node Ceph cluster (one monitor, one memstore OSD, no manager,
/// <c>auth none</c>) with a RADOS Gateway on loopback, started from the Debian packages <c>radosgw ceph-mon
/// ceph-osd</c> in about two seconds, and an S3 user. <see cref="OverrideVariable"/> points the tests at another
/// server instead: <c>endpoint=http://host:port;access_key=AK;secret_key=SK</c>.
/// </summary>
public sealed class CephRgwTestServer : IAsyncDisposable
{
    /// <summary>The environment variable that replaces the throwaway server: <c>endpoint=URL;access_key=AK;secret_key=SK</c>.</summary>
    public const string OverrideVariable = "CDC_TEST_S3";

    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(60);
    private static readonly Lazy<Task<CephRgwTestServer>> Shared = new(() => TestEnvironment.RequireServerAsync("An S3 server (Ceph RGW)", StartSharedAsync), LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly string? _root;

    private CephRgwTestServer(Uri endpoint, string accessKey, string secretKey, string? root)
    {
        Endpoint = endpoint;
        AccessKey = accessKey;
        SecretKey = secretKey;
        _root = root;
    }

    /// <summary>The S3 endpoint.</summary>
    public Uri Endpoint { get; }

    /// <summary>The access key of the test user.</summary>
    public string AccessKey { get; }

    /// <summary>The secret key of the test user.</summary>
    public string SecretKey { get; }

    /// <summary><see langword="true"/> when the server comes from <see cref="OverrideVariable"/>.</summary>
    public bool IsExternal => _root is null;

    /// <summary>The server shared by the whole test run (started once; stopped when the process exits).</summary>
    /// <returns>The server.</returns>
    public static Task<CephRgwTestServer> GetAsync() => Shared.Value;

    /// <summary>Stops a throwaway cluster (SIGKILL: memstore holds nothing worth flushing) and removes its directory.</summary>
    /// <returns>A task.</returns>
    public ValueTask DisposeAsync()
    {
        if (_root is not null)
        {
            KillDaemons(_root);
            try
            {
                Directory.Delete(_root, recursive: true);
            }
            catch (IOException)
            {
                // A daemon still closing a log file; the directory is under /tmp.
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public override string ToString() => IsExternal ? $"S3 server from {OverrideVariable} ({Endpoint})" : $"Ceph RGW test server at {Endpoint} ({_root})";

    private static async Task<CephRgwTestServer> StartSharedAsync()
    {
        if (Environment.GetEnvironmentVariable(OverrideVariable) is { Length: > 0 } spec)
        {
            return ParseOverride(spec);
        }

        var server = await StartAsync().ConfigureAwait(false);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return server;
    }

    private static CephRgwTestServer ParseOverride(string spec)
    {
        var parts = spec.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => p.Split('=', 2))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0].ToLowerInvariant(), p => p[1], StringComparer.Ordinal);
        if (!parts.TryGetValue("endpoint", out var endpoint) || !parts.TryGetValue("access_key", out var access) || !parts.TryGetValue("secret_key", out var secret)
            || !Uri.TryCreate(endpoint, UriKind.Absolute, out var uri))
        {
            throw new InvalidOperationException($"{OverrideVariable} must read 'endpoint=http://host:port;access_key=AK;secret_key=SK'.");
        }

        return new CephRgwTestServer(uri, access, secret, root: null);
    }

    private static async Task<CephRgwTestServer> StartAsync()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/usr/bin/radosgw") || !File.Exists("/usr/bin/ceph-mon") || !File.Exists("/usr/bin/ceph-osd"))
        {
            throw new InvalidOperationException(
                $"A throwaway Ceph RGW needs Linux and the Debian packages radosgw ceph-mon ceph-osd (eng/test.sh installs them); or set {OverrideVariable}=endpoint=URL;access_key=AK;secret_key=SK.");
        }

        var root = Path.Combine(Path.GetTempPath(), "cdc-rgw-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            return await StartInAsync(root).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            var logs = ReadLogTails(root);
            KillDaemons(root);
            throw new InvalidOperationException($"Could not start the throwaway Ceph RGW in {root}: {ex.Message}\nLog tails:\n{logs}", ex);
        }
    }

    private static async Task<CephRgwTestServer> StartInAsync(string root)
    {
        foreach (var sub in new[] { "run", "log", "mon", "osd", "rgw" })
        {
            Directory.CreateDirectory(Path.Combine(root, sub));
        }

        var rgwPort = FindFreePort();
        var monPort = FindFreePort();
        var fsid = Guid.NewGuid().ToString();
        var conf = Path.Combine(root, "ceph.conf");
        // ceph's parser needs the final newline. The short paxos intervals bring the first start from ~13 s to
        // ~1.5 s; radosgw defaults to ms_mon_client_mode=secure, impossible with auth=none (it loops on "returned -13").
        File.WriteAllText(conf, $$"""
            [global]
            fsid = {{fsid}}
            mon host = v2:127.0.0.1:{{monPort}}
            public addr = 127.0.0.1
            auth cluster required = none
            auth service required = none
            auth client required = none
            run dir = {{root}}/run
            admin socket = {{root}}/run/$name.asok
            pid file = {{root}}/run/$name.pid
            log file = {{root}}/log/$name.log
            keyring = {{root}}/keyring
            osd pool default size = 1
            osd pool default min size = 1
            osd pool default pg num = 8
            osd pool default pgp num = 8
            osd pool default pg autoscale mode = off
            osd crush chooseleaf type = 0
            mon allow pool size one = true
            mon warn on pool no redundancy = false
            mon allow pool delete = true
            mon data avail warn = 1
            mon data avail crit = 0
            paxos propose interval = 0.05
            paxos min wait = 0.01
            mon osd report timeout = 900
            [mon]
            mon data = {{root}}/mon/$cluster-$id
            [osd]
            osd data = {{root}}/osd/$cluster-$id
            osd objectstore = memstore
            memstore device bytes = 1073741824
            osd max object name len = 460
            osd max object namespace len = 64
            [client.rgw]
            ms mon client mode = crc
            rgw frontends = beast endpoint=127.0.0.1:{{rgwPort}}
            rgw data = {{root}}/rgw
            rgw thread pool size = 32

            """);

        var monmap = Path.Combine(root, "monmap");
        // The monitor needs a msgr2 address (--addv); the daemons fork into the background and write pid files under run/.
        await RunAsync("monmaptool", ["--create", "--clobber", "--fsid", fsid, "--addv", "a", $"[v2:127.0.0.1:{monPort}]", monmap]).ConfigureAwait(false);
        await RunAsync("ceph-mon", ["-c", conf, "--mkfs", "-i", "a", "--monmap", monmap]).ConfigureAwait(false);
        await RunAsync("ceph-mon", ["-c", conf, "-i", "a"]).ConfigureAwait(false);
        var osdUuid = Guid.NewGuid().ToString();
        var osdId = (await RunAsync("ceph", ["-c", conf, "--connect-timeout", "20", "osd", "new", osdUuid]).ConfigureAwait(false)).Trim();
        Directory.CreateDirectory(Path.Combine(root, "osd", "ceph-" + osdId));
        await RunAsync("ceph-osd", ["-c", conf, "-i", osdId, "--mkfs", "--osd-uuid", osdUuid]).ConfigureAwait(false);
        await RunAsync("ceph-osd", ["-c", conf, "-i", osdId]).ConfigureAwait(false);
        await WaitUntilAsync(async () => (await RunAsync("ceph", ["-c", conf, "--connect-timeout", "20", "osd", "stat"], check: false).ConfigureAwait(false)).Contains("1 up", StringComparison.Ordinal), "the OSD to come up").ConfigureAwait(false);
        await RunAsync("radosgw", ["-c", conf, "-n", "client.rgw"]).ConfigureAwait(false);
        var endpoint = new Uri($"http://127.0.0.1:{rgwPort}/");
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) })
        {
            await WaitUntilAsync(
                async () =>
                {
                    try
                    {
                        using var response = await http.GetAsync(endpoint).ConfigureAwait(false);
                        return true;
                    }
                    catch (HttpRequestException)
                    {
                        return false;
                    }
                    catch (TaskCanceledException)
                    {
                        return false;
                    }
                },
                "radosgw to listen").ConfigureAwait(false);
        }

        const string Access = "CDCTESTACCESSKEY";
        const string Secret = "CDCTESTSECRETKEY";
        await RunAsync("radosgw-admin", ["-c", conf, "user", "create", "--uid=cdc-test", "--display-name=cdc-test", "--access-key=" + Access, "--secret-key=" + Secret]).ConfigureAwait(false);
        return new CephRgwTestServer(endpoint, Access, Secret, root);
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition().ConfigureAwait(false))
        {
            if (deadline.Elapsed > StepTimeout)
            {
                throw new TimeoutException($"Timed out after {StepTimeout.TotalSeconds} s waiting for {what}.");
            }

            await Task.Delay(100).ConfigureAwait(false);
        }
    }

    private static async Task<string> RunAsync(string program, string[] arguments, bool check = true)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {program}.");
        // Daemons fork and keep the pipes open in the child: read until the parent exits, not until end of stream.
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(StepTimeout);
        await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        var output = await Task.WhenAny(stdout, Task.Delay(2000)).ConfigureAwait(false) == stdout ? await stdout.ConfigureAwait(false) : string.Empty;
        if (check && process.ExitCode != 0)
        {
            var error = await Task.WhenAny(stderr, Task.Delay(2000)).ConfigureAwait(false) == stderr ? await stderr.ConfigureAwait(false) : string.Empty;
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited with {process.ExitCode.ToString(CultureInfo.InvariantCulture)}: {error}");
        }

        return output;
    }

    private static void KillDaemons(string root)
    {
        var run = Path.Combine(root, "run");
        if (!Directory.Exists(run))
        {
            return;
        }

        foreach (var pidFile in Directory.EnumerateFiles(run, "*.pid"))
        {
            if (int.TryParse(File.ReadAllText(pidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                try
                {
                    using var process = Process.GetProcessById(pid);
                    process.Kill();
                }
                catch (ArgumentException)
                {
                    // Already gone.
                }
                catch (InvalidOperationException)
                {
                    // Already gone.
                }
            }
        }
    }

    private static string ReadLogTails(string root)
    {
        var log = Path.Combine(root, "log");
        return !Directory.Exists(log)
            ? string.Empty
            : string.Join('\n', Directory.EnumerateFiles(log).Select(f => f + ":\n" + string.Join('\n', File.ReadLines(f).TakeLast(5))));
    }

    private static int FindFreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
