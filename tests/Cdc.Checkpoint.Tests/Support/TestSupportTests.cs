using Cdc.Checkpoint.Diagnostics;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Support;

/// <summary>The shared scaffolding keeps the promises the tests rely on.</summary>
public sealed class TestSupportTests
{
    [Fact]
    public void TempDirectory_New_IsUniquePrivateAndRemovedAtDispose()
    {
        string path;
        using (var first = new TempDirectory())
        using (var second = new TempDirectory())
        {
            path = first.Path;
            first.Path.ShouldNotBe(second.Path);
            File.GetUnixFileMode(first.Path).ShouldBe(TempDirectory.PrivateDirectory);
            File.GetUnixFileMode(first.Write("a.json", "{}")).ShouldBe(TempDirectory.Private);
            File.GetUnixFileMode(first.Sub("nested/deeper")).ShouldBe(TempDirectory.PrivateDirectory);
            first.Combine("x", "y").ShouldBe(Path.Combine(first.Path, "x", "y"));
        }

        Directory.Exists(path).ShouldBeFalse();
    }

    [Fact]
    public void ListLoggerFactory_AsFactoryOrProvider_CapturesEveryLevelWithEventIdAndCategory()
    {
        using var logs = new ListLoggerFactory();
        var error = new InvalidOperationException("boom");
        // ILogger.Log itself, as [LoggerMessage] methods call it.
        logs.CreateLogger("a").Log(LogLevel.Trace, new EventId(CdcEventId.SaveRefused), 1, null, (n, _) => $"t {n}");
        ((ILoggerProvider)logs).CreateLogger("b").Log(LogLevel.Error, new EventId(7), "e", error, (m, _) => m);

        logs.Entries.Count.ShouldBe(2);
        logs.Entries[0].ShouldBe(new LogEntry(LogLevel.Trace, new EventId(CdcEventId.SaveRefused), "t 1", "a", null));
        (logs.Entries[0].EventId == CdcEventId.SaveRefused).ShouldBeTrue();
        logs.Entries[1].Category.ShouldBe("b");
        logs.Entries[1].Exception.ShouldBeSameAs(error);
    }

    [Fact]
    public async Task RequireServerAsync_StartFails_FailsWithTheReasonAndNeverSkips()
    {
        var cause = new InvalidOperationException("initdb is missing; install postgresql-15");

        var ex = await Should.ThrowAsync<ServerUnavailableException>(() => TestEnvironment.RequireServerAsync<object>("PostgreSQL 15", () => throw cause));

        ex.InnerException.ShouldBeSameAs(cause);
        ex.Message.ShouldStartWith("PostgreSQL 15 is unavailable, so this test fails");
        ex.Message.ShouldContain("never skips");
        ex.Message.ShouldEndWith(cause.Message);
        (await TestEnvironment.RequireServerAsync("x", () => Task.FromResult(42))).ShouldBe(42);
        await Should.ThrowAsync<OperationCanceledException>(() => TestEnvironment.RequireServerAsync<int>("x", () => throw new OperationCanceledException()));
    }
}
