using System.Diagnostics;
using Cdc.Checkpoint.Cli.Tests.Support;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Torture;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Cli.Tests;

/// <summary>
/// Issue 17 proof through the CLI: the lease file or the record replaced by a FIFO, socket, directory, links to a file,
/// to a directory, dangling or looping, a hard link or a file of another user. Every verb (run as a real process)
/// exits 1 with a typed message and no stack trace, and no byte of the directory or of a linked file changes. Before
/// the fix a FIFO lease made every verb die with exit 134 and a stack trace, and a directory or a link to one at the
/// record's name was "no checkpoint" (inspect exit 0).
/// </summary>
public sealed class HostileFileCliTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly TempDirectory _outside = new();
    private readonly HostileFiles _planter = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        _planter.Dispose();
        _dir.Dispose();
        _outside.Dispose();
    }

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var kind in new[] { "lease", "record" })
        {
            foreach (var variant in HostileFiles.Variants)
            {
                data.Add(kind, variant);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task EveryVerb_HostileFileAtLeaseOrRecordName_Exit1TypedMessageNoStackTraceNothingChanged(string kind, string variant)
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/1500000"), 1800);
        var target = kind == "lease" ? Fixtures.LeasePath(_dir.Path) : _dir.File("checkpoint_postgres.json");
        var victim = _outside.File("victim");
        await _planter.PlantAsync(target, victim, variant, Ct);
        var before = await DescribeAsync(_dir.Path, _outside.Path);

        string[][] verbs =
        [
            ["inspect", _dir.Path],
            ["inspect", _dir.Path, "--json"],
            ["verify", _dir.Path],
            ["seed", _dir.Path, "--source", "postgres", "--lsn", "0/1600000", "--slot", "orders_slot", "--count", "1900"],
            ["rewind", _dir.Path, "--source", "postgres", "--lsn", "0/1000000", "--slot", "orders_slot", "--count", "1", "--reason", "campaign"],
            ["migrate", _dir.Path],
            .. kind == "lease" ? new[] { new[] { "lease", _dir.Path } } : [],
        ];
        foreach (var verb in verbs)
        {
            var result = await Tool.RunAsync(verb);
            var all = result.StdOut + result.StdErr;
            result.ExitCode.ShouldBe(1, $"{string.Join(' ', verb)}\nstdout:\n{result.StdOut}\nstderr:\n{result.StdErr}");
            all.ShouldNotContain("   at ", Case.Sensitive, string.Join(' ', verb));
            all.ShouldNotContain("Exception", Case.Sensitive, string.Join(' ', verb));
            all.ShouldContain(Path.GetFileName(target), Case.Sensitive, $"{string.Join(' ', verb)} must name the file\n{all}");
            (await DescribeAsync(_dir.Path, _outside.Path)).ShouldBe(before, $"{string.Join(' ', verb)} changed a file");
        }
    }

    /// <summary>
    /// Every entry (type, mode, owner, links, size, mtime, link target) and the SHA-256 of every regular file, read with
    /// find(1) and sha256sum(1): neither opens a FIFO or follows a link.
    /// </summary>
    private static async Task<string> DescribeAsync(params string[] roots)
    {
        var text = new List<string>();
        foreach (var root in roots)
        {
            text.Add(await OutputAsync("find", root, "-printf", "%P %y %m %U %n %s %T@ %l\n"));
            text.Add(await OutputAsync("find", root, "-type", "f", "-exec", "sha256sum", "{}", "+"));
        }

        return string.Join('\n', text);
    }

    private static async Task<string> OutputAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        return string.Join('\n', output.Split('\n').Order(StringComparer.Ordinal));
    }
}
