using System.Diagnostics;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Proof.Tests.Support;
using Cdc.Checkpoint.Torture;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Proof.Tests;

/// <summary>
/// Issue 17 item 4, with real processes: an owner that lost its lease (lease file deleted while it was paused, directory
/// moved and copied back) writes nothing more, and a record written behind the owner's back is neither used nor
/// overwritten.
/// </summary>
public sealed class SecondOwnerTests : IDisposable
{
    private static readonly TimeSpan LineTimeout = TimeSpan.FromSeconds(60);

    private readonly TempDirectory _root = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Dir => Path.Combine(_root.Path, "checkpoint");

    private string RecordPath => Path.Combine(Dir, TortureOffsets.RecordFileName);

    public SecondOwnerTests() => Directory.CreateDirectory(Dir, DurableFile.PrivateDirectoryMode);

    public void Dispose() => _root.Dispose();

    private static async Task SignalAsync(int pid, string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync(Ct);
        kill.ExitCode.ShouldBe(0);
    }

    private static async Task<string?> AskAsync(HarnessChild owner, string command)
    {
        owner.Send(command);
        return await owner.ReadLineAsync(LineTimeout);
    }

    private ulong StoredCount(string? path = null) =>
        CheckpointRecordFile.Parse(File.ReadAllBytes(path ?? RecordPath), path ?? RecordPath, TortureOffsets.Options().Codecs).CommittedEventCount;

    [Fact]
    public async Task PausedOwner_LeaseDeletedAndTakenByAnother_ResumedOwnerRefusedLeaseLostRecordStaysAtNewOwners()
    {
        // Before the fix: A's save 11 succeeded after B's save 20, and the record went 20 -> 11 with B's sequence.
        await using var a = HarnessChild.Start(["owner", Dir]);
        (await a.ReadLineAsync(LineTimeout)).ShouldBe("lease 1", a.StandardError);
        (await AskAsync(a, "save 10")).ShouldBe("ok 10", a.StandardError);

        await SignalAsync(a.ProcessId, "STOP");
        File.Delete(Path.Combine(Dir, FileCheckpoint.LeaseFileName));
        var b = await HarnessChild.RunAsync(["save-once", Dir, "20"]);
        b.Lines.ShouldBe(["ok 20"], b.StandardError);
        var afterB = await File.ReadAllBytesAsync(RecordPath, Ct);
        await SignalAsync(a.ProcessId, "CONT");

        (await AskAsync(a, "save 11")).ShouldBe("error LeaseLost", a.StandardError);
        a.StandardError.ShouldContain("lease file");
        (await AskAsync(a, "save 12")).ShouldBe("error LeaseLost", "a lost lease stays lost: no later write either");
        (await File.ReadAllBytesAsync(RecordPath, Ct)).ShouldBe(afterB);
        StoredCount().ShouldBe(20UL);
    }

    [Fact]
    public async Task RunningOwner_DirectoryMovedAndCopiedBack_RefusedLeaseLostNeitherCopyWritten()
    {
        await using var a = HarnessChild.Start(["owner", Dir]);
        (await a.ReadLineAsync(LineTimeout)).ShouldBe("lease 1", a.StandardError);
        (await AskAsync(a, "save 10")).ShouldBe("ok 10", a.StandardError);

        var moved = Dir + ".moved";
        Directory.Move(Dir, moved);
        using (var copy = Process.Start("cp", ["-a", moved, Dir]))
        {
            await copy.WaitForExitAsync(Ct);
            copy.ExitCode.ShouldBe(0);
        }

        var copied = await File.ReadAllBytesAsync(RecordPath, Ct);
        (await AskAsync(a, "save 11")).ShouldBe("error LeaseLost", a.StandardError);
        a.StandardError.ShouldContain("no longer the one this process opened");
        (await File.ReadAllBytesAsync(RecordPath, Ct)).ShouldBe(copied);
        StoredCount().ShouldBe(10UL);
        StoredCount(Path.Combine(moved, TortureOffsets.RecordFileName)).ShouldBe(10UL);
    }

    [Fact]
    public async Task RunningOwner_RecordRewrittenByAnotherProcess_DetectedAtSaveAndLoadNeverOverwritten()
    {
        await using var a = HarnessChild.Start(["owner", Dir]);
        (await a.ReadLineAsync(LineTimeout)).ShouldBe("lease 1", a.StandardError);
        (await AskAsync(a, "save 10")).ShouldBe("ok 10", a.StandardError);

        // Another process (this test) writes a valid record with a higher count straight into the file, in place.
        var planted = (await File.ReadAllTextAsync(RecordPath, Ct)).Replace("\"committed_event_count\": 10", "\"committed_event_count\": 90", StringComparison.Ordinal);
        planted.ShouldContain("90");
        await File.WriteAllTextAsync(RecordPath, planted, Ct);

        (await AskAsync(a, "save 11")).ShouldBe("error ModifiedExternally", a.StandardError);
        (await AskAsync(a, "load")).ShouldBe("error ModifiedExternally", a.StandardError);
        (await File.ReadAllTextAsync(RecordPath, Ct)).ShouldBe(planted);
    }

    [Fact]
    public async Task RunningOwner_RecordReplacedByRename_DetectedAtSave()
    {
        await using var a = HarnessChild.Start(["owner", Dir]);
        (await a.ReadLineAsync(LineTimeout)).ShouldBe("lease 1", a.StandardError);
        (await AskAsync(a, "save 10")).ShouldBe("ok 10", a.StandardError);
        (await AskAsync(a, "load")).ShouldBe("record 10", a.StandardError);

        var other = Path.Combine(Dir, "other.json");
        File.Copy(RecordPath, other);
        File.Move(other, RecordPath, overwrite: true);
        var planted = await File.ReadAllBytesAsync(RecordPath, Ct);

        (await AskAsync(a, "save 11")).ShouldBe("error ModifiedExternally", a.StandardError);
        (await File.ReadAllBytesAsync(RecordPath, Ct)).ShouldBe(planted);
    }
}
