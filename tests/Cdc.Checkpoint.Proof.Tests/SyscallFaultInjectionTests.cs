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
/// Syscall fault injection into a real child process: strace makes one syscall of a save fail (persistently), and the
/// save must fail with the typed error while the previous record stays intact and loadable and the temp file goes
/// away. The harness names the temp file deterministically (CDC_TORTURE_TEMP_NAME) so strace can target it with -P.
/// </summary>
public sealed partial class SyscallFaultInjectionTests(ITestOutputHelper output) : IDisposable
{
    private const string TempName = "checkpoint_postgres.json.fault.tmp";
    private const string TracedSyscalls = "openat,write,pwrite64,fsync,fdatasync,rename,renameat,renameat2,unlink";

    private readonly TempDirectory _root = new();

    private string Dir => Path.Combine(_root.Path, "checkpoint");

    private string TempPath => Path.Combine(Dir, TempName);

    private string RecordPath => Path.Combine(Dir, TortureOffsets.RecordFileName);

    private string TraceLog => Path.Combine(_root.Path, "strace.log");

    private static Dictionary<string, string> HarnessEnvironment => new() { [HarnessHooks.TempNameVariable] = TempName };

    public void Dispose() => _root.Dispose();

    public static TheoryData<string, string, string> Faults => new()
    {
        { "fsync", "EIO", "fsync of" },
        { "write,pwrite64", "ENOSPC", "No space left on device" },
        { "rename,renameat,renameat2", "EACCES", "Could not rename" },
        { "rename,renameat,renameat2", "EROFS", "Read-only file system" },
        { "openat", "EACCES", "Could not create the temp file" },
        { "openat", "EROFS", "Read-only file system" },
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task Save_SyscallFailsPersistently_TypedErrorPreviousRecordIntactAndLoadableTempRemoved(string syscalls, string errno, string messagePart)
    {
        var before = await SaveFirstRecordAsync();

        var run = await HarnessChild.RunAsync(
            ["save-once", Dir, "200"],
            ["strace", "-f", "-qq", "-y", "-o", TraceLog, "-P", TempPath, "-e", $"trace={TracedSyscalls}", "-e", $"inject={syscalls}:error={errno}:when=1+"],
            HarnessEnvironment,
            TimeSpan.FromMinutes(3));
        var trace = await File.ReadAllLinesAsync(TraceLog, TestContext.Current.CancellationToken);
        output.WriteLine(string.Join('\n', trace));

        // The typed error, with the failing call's reason in the message.
        run.ExitCode.ShouldBe(1, run.StandardError);
        run.Lines.ShouldBe([$"error {CheckpointErrorCode.WriteFailed}"]);
        run.StandardError.ShouldContain(messagePart);
        run.StandardError.ShouldContain("unchanged");
        trace.ShouldContain(l => l.Contains($"= -1 {errno}", StringComparison.Ordinal) && l.EndsWith("(INJECTED)", StringComparison.Ordinal));

        // The previous record: byte for byte, and loadable by the next process; no temp file left.
        (await File.ReadAllBytesAsync(RecordPath, TestContext.Current.CancellationToken)).ShouldBe(before);
        File.Exists(TempPath).ShouldBeFalse();
        await ShouldLoadAsync(100);

        var calls = Calls(trace);
        calls.Count(c => c.Name == "rename" && c.Failed == false).ShouldBe(0, "nothing may be renamed over the record after a failure");
        switch (syscalls)
        {
            case "fsync":
                // Never fsync the same file again after an fsync error: the kernel may have dropped its dirty pages.
                calls.Where(c => c.Name == "fsync").ShouldHaveSingleItem().Failed.ShouldBeTrue();
                calls.ShouldNotContain(c => c.Name == "fdatasync");
                break;
            case "write,pwrite64":
                // One write, not retried (a buffered FileStream used to retry it when disposed).
                calls.Where(c => c.Name == "write" || c.Name == "pwrite64").ShouldHaveSingleItem().Failed.ShouldBeTrue();
                calls.ShouldNotContain(c => c.Name == "fsync");
                break;
            case "openat":
                calls.ShouldNotContain(c => c.Name == "write" || c.Name == "pwrite64" || c.Name == "fsync");
                break;
            default:
                calls.Where(c => c.Name == "fsync").ShouldHaveSingleItem().Failed.ShouldBeFalse();
                break;
        }

        // The temp file was removed by the failed save itself (the open failure never created one).
        if (syscalls != "openat")
        {
            calls.ShouldContain(c => c.Name == "unlink" && c.Failed == false);
        }

        // A later save, without the fault, succeeds.
        (await HarnessChild.RunAsync(["save-once", Dir, "200"], environment: HarnessEnvironment)).Lines.ShouldBe(["ok 200"]);
        await ShouldLoadAsync(200);
    }

    [Fact]
    public async Task Save_DirectoryFsyncFailsAfterRename_ReportedAsFailureNeverAsSuccess()
    {
        await SaveFirstRecordAsync();

        // The first fsync of the directory is the lease's; the second is the save's, after its rename.
        var run = await HarnessChild.RunAsync(
            ["save-once", Dir, "200"],
            ["strace", "-f", "-qq", "-y", "-o", TraceLog, "-P", Dir, "-e", "trace=fsync,openat", "-e", "inject=fsync:error=EIO:when=2"],
            HarnessEnvironment,
            TimeSpan.FromMinutes(3));
        output.WriteLine(await File.ReadAllTextAsync(TraceLog, TestContext.Current.CancellationToken));

        run.ExitCode.ShouldBe(1, run.StandardError);
        run.Lines.ShouldBe([$"error {CheckpointErrorCode.WriteFailed}"]);
        run.StandardError.ShouldContain("fsync of directory");
        run.StandardError.ShouldContain("may not survive a power loss");

        // The rename had happened: the new record is visible (and complete), but the caller was told it may not be durable.
        File.Exists(TempPath).ShouldBeFalse();
        await ShouldLoadAsync(200);
    }

    [Fact]
    public async Task Save_TracedWithStrace_SyscallOrderIsCreateExclWriteFsyncRenameFsyncDirectory()
    {
        await SaveFirstRecordAsync();
        var run = await HarnessChild.RunAsync(
            ["save-once", Dir, "200"],
            ["strace", "-f", "-qq", "-y", "-o", TraceLog, "-e", "trace=openat,write,pwrite64,fsync,fdatasync,rename,renameat,renameat2,close"],
            HarnessEnvironment,
            TimeSpan.FromMinutes(3));
        run.Lines.ShouldBe(["ok 200"], run.StandardError);

        var trace = await File.ReadAllLinesAsync(TraceLog, TestContext.Current.CancellationToken);
        var ours = trace.Where(l => l.Contains(Dir, StringComparison.Ordinal)).ToList();
        output.WriteLine(string.Join('\n', ours));

        var open = Index(ours, 0, l => l.Contains($"openat(AT_FDCWD", StringComparison.Ordinal) && l.Contains($"\"{TempPath}\", O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = ", StringComparison.Ordinal), "create the temp file exclusively with mode 0600");
        var tempFd = FdRegex().Match(ours[open]).Groups["fd"].Value;
        var recordBytes = new FileInfo(RecordPath).Length;
        var write = Index(ours, open + 1, l => (l.Contains($" write({tempFd}<{TempPath}>", StringComparison.Ordinal) || l.Contains($" pwrite64({tempFd}<{TempPath}>", StringComparison.Ordinal)) && l.EndsWith($"= {recordBytes}", StringComparison.Ordinal), "write the whole record to the temp file");
        var fsync = Index(ours, write + 1, l => l.Contains($"fsync({tempFd}<{TempPath}>) = 0", StringComparison.Ordinal), "fsync the temp file");
        var close = Index(ours, fsync + 1, l => l.Contains($"close({tempFd}<{TempPath}>) = 0", StringComparison.Ordinal), "close the temp file");
        var rename = Index(ours, close + 1, l => l.Contains($"rename(\"{TempPath}\", \"{RecordPath}\") = 0", StringComparison.Ordinal), "rename it over the record");
        // The directory is flushed through the descriptor the lease holds (opened before the first write, strace -y
        // names what it refers to): after the rename, a descriptor of the directory itself is fsynced.
        Index(ours, rename + 1, l => FsyncOfRegex().Match(l) is { Success: true } m && m.Groups["path"].Value == Dir && m.Groups["result"].Value == "0", "fsync the directory");

        // Nothing else is written: the record itself is never opened for writing, and no fdatasync stands in for fsync.
        ours.ShouldNotContain(l => l.Contains($"\"{RecordPath}\", O_WRONLY", StringComparison.Ordinal) || l.Contains($"\"{RecordPath}\", O_RDWR", StringComparison.Ordinal));
        ours.ShouldNotContain(l => l.Contains("fdatasync(", StringComparison.Ordinal));
        ours.Count(l => l.Contains($"fsync({tempFd}<{TempPath}>)", StringComparison.Ordinal)).ShouldBe(1);
    }

    [Fact]
    public async Task Save_TracedWithStrace_TempFileSeesOnlyTheSyscallsOfTheMinimalDurableReplace()
    {
        // Every syscall that names the temp file or one of its descriptors (strace -P, all syscalls): the five of
        // bench/limit/durable_replace.c and nothing else — no flock or lseek from a FileStream, no lstat before the rename.
        await SaveFirstRecordAsync();
        var run = await HarnessChild.RunAsync(
            ["save-once", Dir, "200"],
            ["strace", "-f", "-qq", "-y", "-o", TraceLog, "-P", TempPath],
            HarnessEnvironment,
            TimeSpan.FromMinutes(3));
        run.Lines.ShouldBe(["ok 200"], run.StandardError);

        var trace = await File.ReadAllLinesAsync(TraceLog, TestContext.Current.CancellationToken);
        output.WriteLine(string.Join('\n', trace));
        var calls = Calls(trace);
        calls.ShouldAllBe(c => !c.Failed);
        calls.Select(c => c.Name == "pwrite64" ? "write" : c.Name).ShouldBe(["openat", "write", "fsync", "close", "rename"]);
    }

    private async Task<byte[]> SaveFirstRecordAsync()
    {
        var first = await HarnessChild.RunAsync(["save-once", Dir, "100"], environment: HarnessEnvironment);
        first.Lines.ShouldBe(["ok 100"], first.StandardError);
        return await File.ReadAllBytesAsync(RecordPath, TestContext.Current.CancellationToken);
    }

    private async Task ShouldLoadAsync(ulong count)
    {
        var show = await HarnessChild.RunAsync(["show", Dir]);
        show.ExitCode.ShouldBe(0, show.StandardError);
        show.Lines[^1].ShouldBe(string.Create(CultureInfo.InvariantCulture, $"record {count} {PostgresOffset.FormatLsn(TortureOffsets.LsnFor(count))} v{FileCheckpoint.CurrentFormatVersion}"));
    }

    private static int Index(List<string> lines, int from, Func<string, bool> match, string step)
    {
        for (var i = from; i < lines.Count; i++)
        {
            if (match(lines[i]))
            {
                return i;
            }
        }

        throw new ShouldAssertException($"The trace has no '{step}' step after line {from}:\n{string.Join('\n', lines)}");
    }

    private static List<(string Name, bool Failed)> Calls(IEnumerable<string> trace) =>
        [.. trace.Select(l => CallRegex().Match(l)).Where(m => m.Success).Select(m => (m.Groups["name"].Value, m.Groups["result"].Value.StartsWith("-1", StringComparison.Ordinal)))];

    [GeneratedRegex(@"^\d+\s+(?<name>[a-z0-9_]+)\(.*\)\s+=\s+(?<result>-?\d+)")]
    private static partial Regex CallRegex();

    [GeneratedRegex(@"= (?<fd>\d+)<")]
    private static partial Regex FdRegex();

    [GeneratedRegex(@"\bfsync\(\d+<(?<path>[^>]*)>\)\s+=\s+(?<result>-?\d+)")]
    private static partial Regex FsyncOfRegex();
}
