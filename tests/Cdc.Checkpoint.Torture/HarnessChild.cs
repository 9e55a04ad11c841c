using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Threading.Channels;

namespace Cdc.Checkpoint.Torture;

/// <summary>
/// A harness process started as a real child (<c>dotnet Cdc.Checkpoint.Torture.dll MODE …</c>), optionally behind a
/// launcher such as <c>strace</c> or <c>sh -c 'umask 0; exec …'</c>, with line-oriented access to its stdout.
/// Its stdin stays open for the child's whole life: the child treats end of stdin as "the parent is gone" and exits,
/// so a crashed test run never leaves a writer hammering the disk.
/// </summary>
public sealed class HarnessChild : IAsyncDisposable
{
    /// <summary>Environment variable naming the harness dll explicitly (default: next to this assembly).</summary>
    public const string DllVariable = "CDC_TORTURE_DLL";

    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentQueue<string> _allLines = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _disposed;

    private HarnessChild(Process process)
    {
        _process = process;
    }

    /// <summary>The child's process id (the launcher's when there is one).</summary>
    public int ProcessId => _process.Id;

    /// <summary>Every stdout line received so far.</summary>
    public IReadOnlyList<string> Lines => [.. _allLines];

    /// <summary>Everything the child wrote to stderr so far.</summary>
    public string StandardError
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>The exit code, once exited.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>The harness dll: <see cref="DllVariable"/> if set, else the copy next to this assembly.</summary>
    /// <returns>The full path.</returns>
    /// <exception cref="FileNotFoundException">The dll or its runtimeconfig.json is missing.</exception>
    public static string HarnessDll()
    {
        var configured = Environment.GetEnvironmentVariable(DllVariable);
        var dll = !string.IsNullOrEmpty(configured)
            ? Path.GetFullPath(configured)
            : Path.Combine(AppContext.BaseDirectory, "Cdc.Checkpoint.Torture.dll");
        var runtimeConfig = Path.ChangeExtension(dll, ".runtimeconfig.json");
        if (!File.Exists(dll) || !File.Exists(runtimeConfig))
        {
            throw new FileNotFoundException(
                $"The torture harness '{dll}' (with its runtimeconfig.json) was not found. Build tests/Cdc.Checkpoint.Torture, or set {DllVariable} to its dll.",
                dll);
        }

        return dll;
    }

    /// <summary>The dotnet host that runs the harness: the one running this process when it is dotnet, else DOTNET_HOST_PATH, else "dotnet".</summary>
    /// <returns>The host path or name.</returns>
    public static string DotnetHost()
    {
        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            return self;
        }

        var fromCli = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        return !string.IsNullOrEmpty(fromCli) && File.Exists(fromCli) ? fromCli : "dotnet";
    }

    /// <summary>Starts the harness with <paramref name="arguments"/>.</summary>
    /// <param name="arguments">The mode and its arguments.</param>
    /// <param name="launcher">A command that runs the harness command line given after it (for example strace and its options); none when empty.</param>
    /// <param name="environment">Extra environment variables for the child.</param>
    /// <returns>The running child.</returns>
    public static HarnessChild Start(IEnumerable<string> arguments, IEnumerable<string>? launcher = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var command = new List<string>(launcher ?? []);
        command.Add(DotnetHost());
        command.Add(HarnessDll());
        command.AddRange(arguments);

        var info = new ProcessStartInfo(command[0])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in command.Skip(1))
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info };
        var child = new HarnessChild(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                child._lines.Writer.TryComplete();
                child._stdoutClosed.TrySetResult();
                return;
            }

            child._allLines.Enqueue(e.Data);
            child._lines.Writer.TryWrite(e.Data);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (child._stderr)
                {
                    child._stderr.AppendLine(e.Data);
                }
            }
        };

        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            process.Dispose();
            throw new InvalidOperationException($"Could not start '{command[0]}' (is it installed? strace: apt-get install -y strace).", ex);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Runs the harness to completion.</summary>
    /// <param name="arguments">The mode and its arguments.</param>
    /// <param name="launcher">See <see cref="Start"/>.</param>
    /// <param name="environment">See <see cref="Start"/>.</param>
    /// <param name="timeout">How long the run may take.</param>
    /// <returns>The exited child (exit code, lines, stderr).</returns>
    /// <exception cref="TimeoutException">The child did not exit in time (it is killed).</exception>
    public static async Task<HarnessChild> RunAsync(IEnumerable<string> arguments, IEnumerable<string>? launcher = null, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        var child = Start(arguments, launcher, environment);
        child.CloseInput();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        try
        {
            await child.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            child.Kill();
            await child.WaitForExitAsync(CancellationToken.None);
            throw new TimeoutException($"Harness '{string.Join(' ', arguments)}' did not exit within {timeout}. Output: {string.Join(" | ", child.Lines)} {child.StandardError}");
        }

        return child;
    }

    /// <summary>Reads the next stdout line.</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <returns>The line, or <see langword="null"/> at end of output.</returns>
    /// <exception cref="TimeoutException">No line within <paramref name="timeout"/>.</exception>
    public async Task<string?> ReadLineAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await _lines.Reader.WaitToReadAsync(cts.Token) && _lines.Reader.TryRead(out var line) ? line : null;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"The harness (pid {ProcessId}) printed nothing for {timeout}. Lines so far: {string.Join(" | ", Lines)}. Stderr: {StandardError}");
        }
    }

    /// <summary>Reads lines until one starts with <paramref name="prefix"/>.</summary>
    /// <param name="prefix">The expected start of the line.</param>
    /// <param name="timeout">How long to wait in total.</param>
    /// <returns>The line, or <see langword="null"/> when output ended first.</returns>
    public async Task<string?> ReadUntilAsync(string prefix, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var left = TimeSpan.FromSeconds(Math.Max(0.001, (deadline - Stopwatch.GetTimestamp()) / (double)Stopwatch.Frequency));
            var line = await ReadLineAsync(left);
            if (line is null || line.StartsWith(prefix, StringComparison.Ordinal))
            {
                return line;
            }
        }
    }

    /// <summary>
    /// Lets the child run on for <paramref name="acks"/> lines starting with <c>ack </c> (fewer if its output ends), then
    /// for a further random 0–5 ms: the moment a crash campaign kills it.
    /// </summary>
    /// <param name="acks">How many acknowledgements to wait for.</param>
    /// <param name="random">The campaign's seeded random source.</param>
    /// <param name="lineTimeout">How long to wait for each line.</param>
    /// <returns>A task that completes at the moment to kill.</returns>
    public async Task RunOnForAcksAsync(int acks, Random random, TimeSpan lineTimeout)
    {
        for (var seen = 0; seen < acks;)
        {
            var line = await ReadLineAsync(lineTimeout);
            if (line is null)
            {
                break;
            }

            if (line.StartsWith("ack ", StringComparison.Ordinal))
            {
                seen++;
            }
        }

        var pause = random.Next(0, 6);
        if (pause > 0)
        {
            Thread.Sleep(pause);
        }
    }

    /// <summary>Writes one line to the child's stdin.</summary>
    /// <param name="line">The line.</param>
    public void Send(string line)
    {
        _process.StandardInput.WriteLine(line);
        _process.StandardInput.Flush();
    }

    /// <summary>Closes the child's stdin (children that watch it then exit).</summary>
    public void CloseInput()
    {
        try
        {
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The child is already gone.
        }
    }

    /// <summary>Kills the child with SIGKILL (what <see cref="Process.Kill()"/> sends on Unix).</summary>
    public void Kill()
    {
        try
        {
            _process.Kill();
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    /// <summary>Waits until the child has exited and its stdout is fully read.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>A task.</returns>
    public async Task WaitForExitAsync(CancellationToken cancellationToken = default)
    {
        await _process.WaitForExitAsync(cancellationToken);
        await _stdoutClosed.Task.WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (!_process.HasExited)
        {
            Kill();
            await _process.WaitForExitAsync();
        }

        CloseInput();
        _process.Dispose();
    }
}
