using Cdc.Checkpoint.Cli.Tests.Support;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Cli.Tests;

public sealed class UsageTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string[], string> UsageErrors => new()
    {
        { [], "Required command was not provided" },
        { ["frobnicate", "DIR"], "Unrecognized command or argument 'frobnicate'" },
        { ["inspect"], "Give a checkpoint directory DIR, or a table row" },
        { ["inspect", "DIR", "--frob"], "Unrecognized command or argument '--frob'" },
        { ["manifests", "DIR"], "Unrecognized command or argument" },
        { ["seed", "DIR", "--source", "postgres", "--lsn", "0/1", "--slot", "s"], "Option '--count' is required" },
        { ["seed", "DIR", "--lsn", "0/1", "--slot", "s", "--count", "1"], "Option '--source' is required" },
        { ["seed", "DIR", "--source", "oracle", "--count", "1"], "--source 'oracle' is not a source type this tool writes" },
        { ["seed", "DIR", "--source", "postgres", "--count", "1"], "--source postgres needs --lsn X/Y and --slot NAME" },
        { ["seed", "DIR", "--source", "postgres", "--lsn", "16B3748", "--slot", "s", "--count", "1"], "--lsn: '16B3748' is not a PostgreSQL LSN" },
        { ["seed", "DIR", "--source", "postgres", "--lsn", "0/1", "--slot", "Bad-Slot", "--count", "1"], "--slot: Invalid replication slot name 'Bad-Slot'" },
        { ["seed", "DIR", "--source", "postgres", "--lsn", "0/1", "--slot", "s", "--timeline", "0", "--count", "1"], "--timeline 0 is not a PostgreSQL timeline" },
        { ["seed", "DIR", "--source", "postgres", "--lsn", "0/1", "--slot", "s", "--count", "-4"], "--count '-4' is not a whole number" },
        { ["seed", "DIR", "--source", "mysql", "--lsn", "0/1", "--count", "1"], "--lsn does not apply to --source mysql" },
        { ["seed", "DIR", "--source", "mysql", "--count", "1"], "--source mysql needs --gtid-set SET" },
        { ["seed", "DIR", "--source", "mysql", "--gtid-set", "not-a-gtid", "--count", "1"], "--gtid-set: Invalid MySQL GTID set 'not-a-gtid'" },
        { ["seed", "DIR", "--source", "mysql", "--binlog-file", "mysql-bin.000001", "--count", "1"], "--binlog-file and --binlog-pos go together" },
        { ["seed", "DIR", "--source", "mysql", "--gtid-set", "", "--server-uuid", "nope", "--count", "1"], "--server-uuid 'nope' is not a server UUID" },
        { ["seed", "DIR", "--source", "mariadb", "--gtid-position", "0-1", "--count", "1"], "--gtid-position: Invalid MariaDB GTID position '0-1'" },
        { ["seed", "DIR", "--source", "mariadb", "--gtid-position", "0-1-5", "--server-uuid", Fixtures.ServerUuid, "--count", "1"], "--server-uuid does not apply to --source mariadb" },
        { ["rewind", "DIR", "--source", "postgres", "--lsn", "0/1", "--slot", "s", "--count", "1"], "Option '--reason' is required" },
        { ["manifests", "validate", "DIR", "--id", "x"], "--id 'x' is not a whole number" },
    };

    [Theory]
    [MemberData(nameof(UsageErrors))]
    public async Task UsageError_ExitsTwoWithAShortMessageAndChangesNothing(string[] args, string expected)
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/100"), 10);
        var before = DirectorySnapshot.Take(_dir.Path);

        var result = await Tool.RunAsync([.. args.Select(a => a == "DIR" ? _dir.Path : a)]);

        result.ShouldExit(2).ShouldReportBriefly(2, expected);
        result.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1].ShouldMatch(@"^Run 'cdc-checkpoint( [a-z]+)* --help' for usage\.$");
        result.StdOut.ShouldBeEmpty();
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Help_ListsEveryVerbAndTheExitCodes()
    {
        var result = (await Tool.RunAsync("--help")).ShouldExit(0);

        result.StdOut.ShouldContain("cdc-checkpoint [command] [options]");
        foreach (var verb in new[] { "inspect", "verify", "seed", "rewind", "migrate", "lease", "manifests" })
        {
            result.StdOut.ShouldContain($"  {verb}");
        }

        result.StdOut.ShouldContain("0 success, 1 refused or invalid data, 2 usage error");
    }

    [Fact]
    public async Task SeedHelp_ListsTheOffsetOptions()
    {
        var result = (await Tool.RunAsync("seed", "--help")).ShouldExit(0);

        foreach (var option in new[] { "--source", "--lsn", "--slot", "--system-id", "--timeline", "--gtid-set", "--binlog-file", "--binlog-pos", "--count", "--create-directory" })
        {
            result.StdOut.ShouldContain(option);
        }
    }

    [Fact]
    public async Task Version_PrintsTheVersion()
    {
        (await Tool.RunAsync("--version")).ShouldExit(0).StdOut.ShouldStartWith("0.1.0");
    }
}
