using System.Diagnostics;
using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Files;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Files;

public sealed class InMemoryAndQuickstartTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task InMemoryCheckpoint_Saves_WarnsOnceThatItIsNotDurable()
    {
        using var logs = new ListLoggerFactory();
        var checkpoint = new InMemoryCheckpoint(logs);
        for (ulong i = 1; i <= 3; i++)
        {
            await checkpoint.SaveAsync(new ConformanceOffset(i), i, Ct);
        }

        var warning = logs.Entries.ShouldHaveSingleItem();
        warning.Level.ShouldBe(LogLevel.Warning);
        warning.EventId.Id.ShouldBe(CdcEventId.InMemoryNotDurable);
        warning.Message.ShouldContain("not durable");
        checkpoint.WriteCount.ShouldBe(3);
    }

    [Fact]
    public async Task FileCheckpoint_SaveAndLease_LogWithEventIdsInTheirRanges()
    {
        using var logs = new ListLoggerFactory();
        using var dir = new TempDirectory();
        using (var checkpoint = new FileCheckpoint(dir.Path, loggerFactory: logs))
        {
            await checkpoint.SaveAsync(new ConformanceOffset(1), 1, Ct);
            await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(new ConformanceOffset(0), 0, Ct));
        }

        var ids = logs.Entries.Select(e => e.EventId.Id).ToList();
        ids.ShouldContain(CdcEventId.LeaseAcquired);
        ids.ShouldContain(CdcEventId.CheckpointSaved);
        ids.ShouldContain(CdcEventId.SaveRefused);
        ids.ShouldContain(CdcEventId.LeaseReleased);
        logs.Entries.Single(e => e.EventId.Id == CdcEventId.SaveRefused).Message.ShouldContain("lower than the stored");
    }

    [Fact]
    public async Task Quickstart_NoArguments_CrashesResumesAndLosesNothing()
    {
        var dll = FindQuickstart();
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(dll);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        var output = await stdout;

        process.ExitCode.ShouldBe(0, $"stdout:\n{output}\nstderr:\n{await stderr}");
        output.ShouldContain("killed (exit code 137)");
        output.ShouldContain("run 2: resume from ");
        output.ShouldContain("lost: 0");
        output.ShouldContain("ok: no event lost");
    }

    private static string FindQuickstart()
    {
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Cdc.sln")))
        {
            dir = dir.Parent;
        }

        dir.ShouldNotBeNull("the repository root (Cdc.sln) above the test assembly");
        var dll = Path.Combine(dir.FullName, "examples", "Quickstart", "bin", configuration, "net10.0", "Quickstart.dll");
        File.Exists(dll).ShouldBeTrue($"{dll} must be built (eng/test.sh builds Cdc.sln first)");
        return dll;
    }
}
