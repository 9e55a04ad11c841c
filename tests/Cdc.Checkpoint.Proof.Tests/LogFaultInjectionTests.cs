using System.Globalization;
using System.Text.RegularExpressions;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Postgres;
using Cdc.Checkpoint.Proof.Tests.Support;
using Cdc.Checkpoint.Torture;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Proof.Tests;

/// <summary>
/// Syscall faults in a real child process saving to a <see cref="CheckpointLog"/> (docs/checkpoint-log-format.md):
/// strace makes the append's <c>fdatasync</c> fail with EIO or its <c>pwrite</c> fail with ENOSPC, or the zero fill
/// of a fresh segment (the preallocation) fail with ENOSPC. The save must fail with <see cref="CheckpointErrorCode.WriteFailed"/>,
/// the flush must never be retried, the store must refuse every later save, and the next process must recover a
/// record no older than the last acknowledged save and no newer than the last attempted one, then save again.
/// </summary>
public sealed partial class LogFaultInjectionTests(ITestOutputHelper output) : IDisposable
{
    private const string TempName = CheckpointLog.SegmentFileName + ".fault.tmp";

    private readonly TempDirectory _root = new();

    private string Dir => Path.Combine(_root.Path, "log");

    private string SegmentPath => Path.Combine(Dir, CheckpointLog.SegmentFileName);

    private string TraceLog => Path.Combine(_root.Path, "strace.log");

    private static Dictionary<string, string> HarnessEnvironment => new() { [HarnessHooks.TempNameVariable] = TempName };

    public void Dispose() => _root.Dispose();

    public static TheoryData<string, string, string> AppendFaults => new()
    {
        { "fdatasync", "EIO", "fdatasync after the frame" },
        { "pwrite64", "ENOSPC", "No space left on device" },
    };

    [Theory]
    [MemberData(nameof(AppendFaults))]
    public async Task Append_SyscallFails_WriteFailedNeverRetriedStoreFailedAndNextOwnerRecovers(string syscall, string errno, string messagePart)
    {
        await SaveAsync(100, 100);

        // Save 101 is the process's first: a fresh segment through the durable replace (fsync, not fdatasync).
        // Save 102 appends: its syscall fails. Save 103 must be refused without touching the segment.
        var run = await HarnessChild.RunAsync(
            ["log-saves", Dir, "101", "103"],
            ["strace", "-f", "-qq", "-y", "-o", TraceLog, "-P", SegmentPath, "-e", "trace=openat,pwrite64,write,fsync,fdatasync,rename", "-e", $"inject={syscall}:error={errno}:when=1+"],
            timeout: TimeSpan.FromMinutes(3));
        var trace = await File.ReadAllLinesAsync(TraceLog, TestContext.Current.CancellationToken);
        output.WriteLine(string.Join('\n', trace));
        output.WriteLine(run.StandardError);

        run.ExitCode.ShouldBe(1, run.StandardError);
        run.Lines.ShouldBe(["ok 101", $"error {CheckpointErrorCode.WriteFailed} 102", $"error {CheckpointErrorCode.WriteFailed} 103"]);
        run.StandardError.ShouldContain(messagePart);
        run.StandardError.ShouldContain("failed earlier and writes nothing more");
        trace.ShouldContain(l => l.Contains($"= -1 {errno}", StringComparison.Ordinal) && l.EndsWith("(INJECTED)", StringComparison.Ordinal));

        var calls = Calls(trace);
        calls.Where(c => c.Name == syscall).ShouldHaveSingleItem().Failed.ShouldBeTrue("one failure, never retried");
        calls.Count(c => c.Name == "pwrite64").ShouldBe(1, "save 103 of a failed store writes nothing");
        if (syscall == "pwrite64")
        {
            calls.ShouldNotContain(c => c.Name == "fdatasync");
        }

        // The next owner: the record is 101 (acknowledged) or 102 (the failed append, if its bytes reached the file).
        var count = await LoadAsync();
        count.ShouldBeInRange(101UL, 102UL);
        output.WriteLine($"recovered count {count}");
        await SaveAsync(103, 104);
        (await LoadAsync()).ShouldBe(104UL);
    }

    [Fact]
    public async Task FreshSegment_ZeroFillFailsWithEnospc_WriteFailedPreviousSegmentIntactAndNextSaveSucceeds()
    {
        await SaveAsync(100, 100);
        var before = await File.ReadAllBytesAsync(SegmentPath, TestContext.Current.CancellationToken);
        var tempPath = Path.Combine(Dir, TempName);

        var run = await HarnessChild.RunAsync(
            ["log-saves", Dir, "101", "101"],
            ["strace", "-f", "-qq", "-y", "-o", TraceLog, "-P", tempPath, "-e", "trace=openat,write,pwrite64,fsync,unlink", "-e", "inject=write,pwrite64:error=ENOSPC:when=1+"],
            HarnessEnvironment,
            TimeSpan.FromMinutes(3));
        var trace = await File.ReadAllLinesAsync(TraceLog, TestContext.Current.CancellationToken);
        output.WriteLine(string.Join('\n', trace));

        run.ExitCode.ShouldBe(1, run.StandardError);
        run.Lines.ShouldBe([$"error {CheckpointErrorCode.WriteFailed} 101"]);
        run.StandardError.ShouldContain("No space left on device");
        run.StandardError.ShouldContain("unchanged");
        var calls = Calls(trace);
        calls.Where(c => c.Name is "write" or "pwrite64").ShouldHaveSingleItem().Failed.ShouldBeTrue();
        calls.ShouldNotContain(c => c.Name == "fsync");

        (await File.ReadAllBytesAsync(SegmentPath, TestContext.Current.CancellationToken)).ShouldBe(before);
        File.Exists(tempPath).ShouldBeFalse();
        (await LoadAsync()).ShouldBe(100UL);
        await SaveAsync(101, 102);
        (await LoadAsync()).ShouldBe(102UL);
    }

    [Fact]
    public async Task Append_TracedWithStrace_IsOnePwriteAndOneFdatasyncOfTheSegmentAndNothingElse()
    {
        await SaveAsync(100, 100);
        var run = await HarnessChild.RunAsync(
            ["log-saves", Dir, "101", "110"],
            ["strace", "-f", "-qq", "-y", "-o", TraceLog, "-e", "trace=openat,write,pwrite64,fsync,fdatasync,rename,renameat,renameat2,ftruncate,fallocate"],
            timeout: TimeSpan.FromMinutes(3));
        run.ExitCode.ShouldBe(0, run.StandardError);

        var trace = await File.ReadAllLinesAsync(TraceLog, TestContext.Current.CancellationToken);
        var ours = Calls(trace.Where(l => l.Contains(Dir, StringComparison.Ordinal)));
        output.WriteLine(string.Join('\n', trace.Where(l => l.Contains(Dir, StringComparison.Ordinal))));

        // Save 101 writes the fresh segment (one rename); saves 102-110 are appends: nine pwrites, nine fdatasyncs.
        ours.Count(c => c.Name.StartsWith("rename", StringComparison.Ordinal)).ShouldBe(1);
        // (The lease file, rewritten in place at acquisition, has its own pwrite and ftruncate: not counted.)
        var segment = Calls(trace.Where(l => l.Contains(SegmentPath + ">", StringComparison.Ordinal)));
        segment.Count(c => c.Name == "pwrite64").ShouldBe(9);
        segment.Count(c => c.Name == "fdatasync").ShouldBe(9);
        trace.Where(l => l.Contains("fdatasync(", StringComparison.Ordinal)).ShouldAllBe(l => l.Contains(CheckpointLog.SegmentFileName, StringComparison.Ordinal));
        segment.ShouldNotContain(c => c.Name == "ftruncate" || c.Name == "fallocate" || c.Name == "fsync" || c.Name == "write");
        (await LoadAsync()).ShouldBe(110UL);
    }

    [Fact]
    public async Task Appends_TracedWithStrace_AskForNoTimesOfTheSegmentAndReadItsTailBackOncePerAppend()
    {
        await SaveAsync(100, 100);
        var run = await HarnessChild.RunAsync(
            ["log-saves", Dir, "101", "110"],
            ["strace", "-f", "-qq", "-y", "-o", TraceLog, "-e", "trace=statx,pread64,pwrite64,fdatasync"],
            timeout: TimeSpan.FromMinutes(3));
        run.ExitCode.ShouldBe(0, run.StandardError);

        var trace = (await File.ReadAllLinesAsync(TraceLog, TestContext.Current.CancellationToken))
            .Where(l => l.Contains(CheckpointLog.SegmentFileName, StringComparison.Ordinal))
            .ToList();
        output.WriteLine(string.Join('\n', trace));

        // Saves 102-110 append. Between the first append and the last, the segment is still checked by path before
        // every append, but without its times: since Linux 6.13 (multigrain timestamps) a question for them makes the
        // next write log an inode update, which cost every fdatasync about 40 µs on ext4 (docs/BENCHMARKS.md).
        var first = trace.FindIndex(l => l.Contains("pwrite64(", StringComparison.Ordinal));
        var last = trace.FindLastIndex(l => l.Contains("pwrite64(", StringComparison.Ordinal));
        first.ShouldBeGreaterThanOrEqualTo(0);
        var stats = trace[first..last].Where(l => l.Contains("statx(", StringComparison.Ordinal)).ToList();
        stats.Count.ShouldBe(8);
        stats.ShouldAllBe(l => l.Contains("STATX_INO", StringComparison.Ordinal) && !l.Contains("STATX_BASIC_STATS", StringComparison.Ordinal) && !l.Contains("STATX_MTIME", StringComparison.Ordinal) && !l.Contains("STATX_CTIME", StringComparison.Ordinal));

        // What the segment holds is proven instead by reading its tail back: one pread before every append.
        trace.Count(l => l.Contains("pread64(", StringComparison.Ordinal)).ShouldBe(9);
        trace.Count(l => l.Contains("pwrite64(", StringComparison.Ordinal)).ShouldBe(9);
        (await LoadAsync()).ShouldBe(110UL);
    }

    private async Task SaveAsync(ulong from, ulong to)
    {
        var run = await HarnessChild.RunAsync(["log-saves", Dir, from.ToString(CultureInfo.InvariantCulture), to.ToString(CultureInfo.InvariantCulture)]);
        run.ExitCode.ShouldBe(0, run.StandardError);
    }

    private async Task<ulong> LoadAsync()
    {
        var show = await HarnessChild.RunAsync(["log-show", Dir]);
        show.ExitCode.ShouldBe(0, show.StandardError);
        var parts = show.Lines[^1].Split(' ');
        parts[0].ShouldBe("record");
        var count = ulong.Parse(parts[1], CultureInfo.InvariantCulture);
        parts[2].ShouldBe(PostgresOffset.FormatLsn(TortureOffsets.LsnFor(count)));
        return count;
    }

    private static List<(string Name, bool Failed)> Calls(IEnumerable<string> trace) =>
        [.. trace.Select(l => CallRegex().Match(l)).Where(m => m.Success).Select(m => (m.Groups["name"].Value, m.Groups["result"].Value.StartsWith("-1", StringComparison.Ordinal)))];

    [GeneratedRegex(@"^\d+\s+(?<name>[a-z0-9_]+)\(.*\)\s+=\s+(?<result>-?\d+)")]
    private static partial Regex CallRegex();
}
