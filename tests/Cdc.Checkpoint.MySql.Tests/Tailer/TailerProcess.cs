using System.Diagnostics;
using System.Text;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Tailer;

/// <summary>
/// The BinlogTailer example as a child process (<c>dotnet exec BinlogTailer.dll</c> with this test assembly's runtime
/// config and deps, which include the example), its stdout lines collected as they arrive.
/// </summary>
internal sealed class TailerProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly StringBuilder _errors = new();

    private TailerProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public List<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    public string Errors
    {
        get
        {
            lock (_errors)
            {
                return _errors.ToString();
            }
        }
    }

    public static TailerProcess Start(string connectionString, string checkpointDirectory, params string[] extraArguments)
    {
        // The SDK copies a referenced executable's runtime config and deps next to this test assembly; this assembly's
        // own files (which list the example as a dependency) do as well.
        var directory = AppContext.BaseDirectory;
        var self = File.Exists(Path.Combine(directory, "BinlogTailer.runtimeconfig.json")) && File.Exists(Path.Combine(directory, "BinlogTailer.deps.json"))
            ? "BinlogTailer"
            : typeof(TailerProcess).Assembly.GetName().Name!;
        var info = new ProcessStartInfo(DotnetHost())
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var argument in new[]
        {
            "exec",
            "--runtimeconfig", Path.Combine(directory, self + ".runtimeconfig.json"),
            "--depsfile", Path.Combine(directory, self + ".deps.json"),
            Path.Combine(directory, "BinlogTailer.dll"),
            "--connection-string", connectionString,
            "--checkpoint-dir", checkpointDirectory,
            "--poll-ms", "20",
        }.Concat(extraArguments))
        {
            info.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var tailer = new TailerProcess(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (tailer._lines)
                {
                    tailer._lines.Add(e.Data);
                }
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (tailer._errors)
                {
                    tailer._errors.AppendLine(e.Data);
                }
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return tailer;
    }

    /// <summary>Waits until <paramref name="condition"/> holds for the lines so far; fails with the output when it does not in time or the process exits.</summary>
    public async Task WaitForAsync(Func<List<string>, bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var lines = Lines;
            if (condition(lines))
            {
                return;
            }

            if (_process.HasExited || DateTime.UtcNow > deadline)
            {
                string errors;
                lock (_errors)
                {
                    errors = _errors.ToString();
                }

                Assert.Fail($"BinlogTailer (pid {_process.Id}) {(_process.HasExited ? $"exited with {_process.ExitCode}" : $"did not get there in {timeout.TotalSeconds} s")} while waiting for {what}.\nstdout (tail):\n{string.Join('\n', lines.TakeLast(30))}\nstderr:\n{errors}");
            }

            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Waits for the process to exit by itself and returns its exit code.</summary>
    public async Task<int> ExitCodeAsync(TimeSpan timeout)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            await _process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            Assert.Fail($"BinlogTailer (pid {_process.Id}) did not exit within {timeout.TotalSeconds} s.\nstdout (tail):\n{string.Join('\n', Lines.TakeLast(30))}\nstderr:\n{Errors}");
        }

        _process.WaitForExit(); // drain the redirected output
        return _process.ExitCode;
    }

    /// <summary>SIGKILL, then wait until it is gone (its file lock is released by the kernel).</summary>
    public async Task KillAsync()
    {
        _process.Kill(); // SIGKILL on Unix: no handler runs.
        await _process.WaitForExitAsync(TestContext.Current.CancellationToken);
        _process.WaitForExit(); // drain the redirected output
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    private static string DotnetHost()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host))
        {
            return host;
        }

        // The shared framework lives in <root>/shared/Microsoft.NETCore.App/<version>/, next to <root>/dotnet.
        var root = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "..", "..", ".."));
        var candidate = Path.Combine(root, "dotnet");
        return File.Exists(candidate) ? candidate : "dotnet";
    }
}
