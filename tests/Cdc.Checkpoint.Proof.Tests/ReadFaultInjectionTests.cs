using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Proof.Tests.Support;
using Cdc.Checkpoint.Torture;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Proof.Tests;

/// <summary>
/// Issue 17 items 3 and 11, by strace fault injection into a real child: every I/O error of a load (open, fstat, read,
/// directory listing) is a <see cref="CheckpointException"/> whose code fits the cause, and a rewind whose audit entry
/// cannot be written (full disk) leaves no audit log behind and the record unchanged.
/// </summary>
public sealed class ReadFaultInjectionTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _root = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Dir => Path.Combine(_root.Path, "checkpoint");

    private string RecordPath => Path.Combine(Dir, TortureOffsets.RecordFileName);

    private string TraceLog => Path.Combine(_root.Path, "strace.log");

    public void Dispose() => _root.Dispose();

    public static TheoryData<string, string, string, CheckpointErrorCode> Faults => new()
    {
        // Before: EACCES/EMFILE on opening a record were Corrupt ("restore from a backup"); EIO on read, fstat and the
        // directory listing escaped as raw IOException / UnauthorizedAccessException.
        { "record", "openat", "EACCES", CheckpointErrorCode.PermissionDenied },
        { "record", "openat", "EMFILE", CheckpointErrorCode.ResourceExhausted },
        { "record", "read", "EIO", CheckpointErrorCode.ReadFailed },
        { "record", "statx,fstat,newfstatat", "EIO", CheckpointErrorCode.ReadFailed },
        { "directory", "getdents64", "EIO", CheckpointErrorCode.ReadFailed },
        { "directory", "getdents64", "EACCES", CheckpointErrorCode.PermissionDenied },
        { "lease", "read", "EIO", CheckpointErrorCode.ReadFailed },
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task Load_SyscallFails_TypedErrorWithFittingCodeAndNothingChanged(string target, string syscalls, string errno, CheckpointErrorCode expected)
    {
        var first = await HarnessChild.RunAsync(["save-once", Dir, "100"]);
        first.Lines.ShouldBe(["ok 100"], first.StandardError);
        var record = await File.ReadAllBytesAsync(RecordPath, Ct);
        var path = target switch
        {
            "record" => RecordPath,
            "lease" => Path.Combine(Dir, FileCheckpoint.LeaseFileName),
            _ => Dir,
        };

        var run = await HarnessChild.RunAsync(
            ["show", Dir],
            ["strace", "-f", "-qq", "-y", "-o", TraceLog, "-P", path, "-e", $"inject={syscalls}:error={errno}:when=1+"],
            timeout: TimeSpan.FromMinutes(3));
        var trace = await File.ReadAllLinesAsync(TraceLog, Ct);
        output.WriteLine(string.Join('\n', trace));

        trace.ShouldContain(l => l.Contains($"= -1 {errno}", StringComparison.Ordinal) && l.EndsWith("(INJECTED)", StringComparison.Ordinal));
        run.ExitCode.ShouldBe(1, run.StandardError);
        run.Lines[^1].ShouldBe($"error {expected}", run.StandardError);
        run.StandardError.ShouldStartWith("Cdc.Checkpoint.CheckpointException: "); // the harness prints the exception; it must be ours
        (await File.ReadAllBytesAsync(RecordPath, Ct)).ShouldBe(record);
    }

    [Fact]
    public async Task Rewind_AuditLogWriteFailsWithEnospc_NoAuditLogLeftAndRecordUnchanged()
    {
        // Before: the failed rewind left an empty checkpoint-audit.log while the message said nothing was changed.
        var first = await HarnessChild.RunAsync(["save-once", Dir, "100"]);
        first.Lines.ShouldBe(["ok 100"], first.StandardError);
        var record = await File.ReadAllBytesAsync(RecordPath, Ct);
        var audit = Path.Combine(Dir, FileCheckpoint.AuditLogFileName);

        var run = await HarnessChild.RunAsync(
            ["rewind-once", Dir, "50"],
            ["strace", "-f", "-qq", "-y", "-o", TraceLog, "-P", audit, "-e", "inject=write,pwrite64:error=ENOSPC:when=1+"],
            timeout: TimeSpan.FromMinutes(3));
        output.WriteLine(await File.ReadAllTextAsync(TraceLog, Ct));

        run.ExitCode.ShouldBe(1, run.StandardError);
        run.Lines.ShouldBe([$"error {CheckpointErrorCode.WriteFailed}"], run.StandardError);
        run.StandardError.ShouldContain("No space left on device");
        run.StandardError.ShouldContain("nothing else was changed");
        File.Exists(audit).ShouldBeFalse("a failed audit append must leave no log behind");
        (await File.ReadAllBytesAsync(RecordPath, Ct)).ShouldBe(record);

        // An existing log is truncated back to its previous length, byte for byte.
        (await HarnessChild.RunAsync(["rewind-once", Dir, "90"])).Lines.ShouldBe(["ok 90"]);
        var logBefore = await File.ReadAllBytesAsync(audit, Ct);
        var again = await HarnessChild.RunAsync(
            ["rewind-once", Dir, "80"],
            ["strace", "-f", "-qq", "-o", TraceLog, "-P", audit, "-e", "inject=write,pwrite64:error=ENOSPC:when=1+"],
            timeout: TimeSpan.FromMinutes(3));
        again.Lines.ShouldBe([$"error {CheckpointErrorCode.WriteFailed}"], again.StandardError);
        (await File.ReadAllBytesAsync(audit, Ct)).ShouldBe(logBefore);
    }
}
