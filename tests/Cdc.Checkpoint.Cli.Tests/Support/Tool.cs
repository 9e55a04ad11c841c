using System.Diagnostics;
using System.Text.Json;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Cli.Tests.Support;

/// <summary>What one run of the tool printed and returned.</summary>
public sealed record CliResult(int ExitCode, string StdOut, string StdErr)
{
    public JsonElement Json()
    {
        using var document = JsonDocument.Parse(StdOut);
        return document.RootElement.Clone();
    }

    /// <summary>Asserts the exit code, showing both streams when it differs.</summary>
    public CliResult ShouldExit(int expected)
    {
        ExitCode.ShouldBe(expected, $"stdout:\n{StdOut}\nstderr:\n{StdErr}");
        return this;
    }

    /// <summary>Asserts a short error report: at most <paramref name="maxLines"/> lines on stderr, no stack trace, naming <paramref name="mentions"/>.</summary>
    public CliResult ShouldReportBriefly(int maxLines = 2, params string[] mentions)
    {
        var lines = StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Length.ShouldBeInRange(1, maxLines, $"stderr:\n{StdErr}");
        StdErr.ShouldNotContain("   at ");
        StdErr.ShouldNotContain("Exception");
        StdErr.ShouldStartWith("cdc-checkpoint: ");
        foreach (var mention in mentions)
        {
            StdErr.ShouldContain(mention, Case.Sensitive, $"stderr:\n{StdErr}");
        }

        return this;
    }
}

/// <summary>Runs the built tool as a real process: <c>dotnet Cdc.Checkpoint.Cli.dll …</c>, copied next to the tests.</summary>
public static class Tool
{
    private static readonly string ToolPath = Path.Combine(AppContext.BaseDirectory, "Cdc.Checkpoint.Cli.dll");

    private static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    public static Task<CliResult> RunAsync(params string[] args) => RunAsync(new Dictionary<string, string>(), args);

    /// <summary>Runs the tool with extra environment variables (connection strings kept off the command line).</summary>
    public static async Task<CliResult> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        File.Exists(ToolPath).ShouldBeTrue($"the tool is not built next to the tests: {ToolPath}");
        var start = new ProcessStartInfo(DotnetHost)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(ToolPath);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["NO_COLOR"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment.Remove("DOTNET_SYSTEM_IO_DISABLEFILELOCKING"); // the tool runs with .NET's defaults
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"cdc-checkpoint {string.Join(' ', args)} did not finish");
        }

        return new CliResult(process.ExitCode, await stdout, await stderr);
    }
}
