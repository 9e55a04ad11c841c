using System.Diagnostics;
using System.Text;
using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Offsets;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Files;

/// <summary>
/// Issue 17 items 1, 2, 6, 7 and 9: what someone else put where a checkpoint file belongs is refused with a typed error,
/// and counters never go back. (The campaign over every file kind and the CLI is in Cdc.Checkpoint.Proof.Tests.)
/// </summary>
public sealed class HostileFileTests : IDisposable
{
    private const string RecordName = "checkpoint_conformance.json";
    private const int Nobody = 65534;

    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static FileCheckpointOptions Options => new() { Codecs = OffsetCodecRegistry.Empty.With(ConformanceOffset.OffsetCodec) };

    public void Dispose() => _dir.Dispose();

    private static async Task RunAsync(string program, params string[] args)
    {
        using var process = Process.Start(program, args);
        await process.WaitForExitAsync(Ct);
        process.ExitCode.ShouldBe(0, $"{program} {string.Join(' ', args)}");
    }

    private async Task<CheckpointException> LoadShouldFailAsync(CheckpointErrorCode code)
    {
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.LoadLatestAsync(Ct));
        ex.ErrorCode.ShouldBe(code, ex.Message);
        return ex;
    }

    [Fact]
    public async Task Load_FifoAsLeaseFile_UnsafeFileNotARawNotSupportedException()
    {
        // Before: NotSupportedException from RandomAccess.GetLength in OwnerLease.ReadAll (the CLI died with exit 134).
        await RunAsync("mkfifo", "-m", "600", _dir.File(FileCheckpoint.LeaseFileName));
        var ex = await LoadShouldFailAsync(CheckpointErrorCode.UnsafeFile);
        ex.Message.ShouldContain("a FIFO");
        Should.Throw<CheckpointException>(() => FileCheckpoint.GetLeaseStatus(_dir.Path)).ErrorCode.ShouldBe(CheckpointErrorCode.UnsafeFile);
    }

    [Fact]
    public async Task Load_DirectoryAtRecordName_RefusedNeverNoCheckpoint()
    {
        Directory.CreateDirectory(_dir.File(RecordName), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var ex = await LoadShouldFailAsync(CheckpointErrorCode.UnsafeFile);
        ex.Message.ShouldContain("a directory");
    }

    [Fact]
    public async Task LoadAndSave_SymlinkToDirectoryAtRecordName_RefusedAndLinkKept()
    {
        File.CreateSymbolicLink(_dir.File(RecordName), Path.GetTempPath());
        await LoadShouldFailAsync(CheckpointErrorCode.SymbolicLinkRefused);

        using var checkpoint = new FileCheckpoint(_dir.Path, Options);
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(new ConformanceOffset(1), 1, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.SymbolicLinkRefused);
        new FileInfo(_dir.File(RecordName)).LinkTarget.ShouldBe(Path.GetTempPath());
    }

    [Fact]
    public async Task Load_RecordOwnedByAnotherUser_PermissionDeniedWithChown()
    {
        _dir.Write(RecordName, """{"checkpoint_format_version":2,"source_type":"conformance","committed_event_count":999999,"sequence":1,"offset":{"position":999999,"stream":"a"}}""");
        File.SetUnixFileMode(_dir.File(RecordName), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await RunAsync("chown", Nobody.ToString(System.Globalization.CultureInfo.InvariantCulture), _dir.File(RecordName));

        var ex = await LoadShouldFailAsync(CheckpointErrorCode.PermissionDenied);
        ex.Message.ShouldContain("chown");
        ex.Message.ShouldContain("65534");
    }

    [Fact]
    public async Task Acquire_DirectoryWritableByOthers_InsecurePermissionsAndNoLeaseFileCreated()
    {
        File.SetUnixFileMode(_dir.Path, (UnixFileMode)0x1FF); // 0777
        var ex = await LoadShouldFailAsync(CheckpointErrorCode.InsecurePermissions);
        ex.Message.ShouldContain("chmod 700");
        File.Exists(_dir.File(FileCheckpoint.LeaseFileName)).ShouldBeFalse();
    }

    [Fact]
    public async Task Acquire_DirectoryReadableByOthers0755_Accepted()
    {
        File.SetUnixFileMode(_dir.Path, (UnixFileMode)0x1ED); // 0755
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);
        await checkpoint.SaveAsync(new ConformanceOffset(1), 1, Ct);
        (await checkpoint.LoadLatestAsync(Ct)).ShouldNotBeNull().CommittedEventCount.ShouldBe(1UL);
    }

    [Fact]
    public async Task Load_LeaseHardLinkedToAnotherFile_RefusedAndOtherFileUntouched()
    {
        // Before: the lease was rewritten in place, so the other name of the inode got lease JSON.
        var victim = Path.Combine(_dir.Path, "victim.txt");
        await File.WriteAllTextAsync(victim, "precious", Ct);
        File.SetUnixFileMode(victim, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await RunAsync("ln", victim, _dir.File(FileCheckpoint.LeaseFileName));

        var ex = await LoadShouldFailAsync(CheckpointErrorCode.UnsafeFile);
        ex.Message.ShouldContain("2 hard links");
        (await File.ReadAllTextAsync(victim, Ct)).ShouldBe("precious");
    }

    [Fact]
    public async Task Load_RecordWithTwoHardLinks_Refused()
    {
        using (var checkpoint = new FileCheckpoint(_dir.Path, Options))
        {
            await checkpoint.SaveAsync(new ConformanceOffset(5), 5, Ct);
        }

        await RunAsync("ln", _dir.File(RecordName), _dir.File("elsewhere"));
        await LoadShouldFailAsync(CheckpointErrorCode.UnsafeFile);
    }

    [Fact]
    public async Task Acquire_LeaseFileOver64KiB_RefusedEpochNeverRestarts()
    {
        // Before: a lease file over 64 KiB was read as empty and the epoch restarted at 1.
        var path = _dir.File(FileCheckpoint.LeaseFileName);
        var json = $$"""{"host":"h","pid":1,"epoch":41,"padding":"{{new string('x', 70 * 1024)}}"}""";
        await File.WriteAllTextAsync(path, json, Ct);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        await LoadShouldFailAsync(CheckpointErrorCode.RecordTooLarge);
        (await File.ReadAllTextAsync(path, Ct)).ShouldBe(json);
    }

    [Fact]
    public async Task Acquire_EpochAtMaximum_LimitReachedNeverWrapsNegative()
    {
        var path = _dir.File(FileCheckpoint.LeaseFileName);
        var json = $$"""{"host":"h","pid":1,"process_start_time":0,"acquired_at":"2026-01-01T00:00:00Z","epoch":{{long.MaxValue}}}""";
        await File.WriteAllTextAsync(path, json, Ct);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var ex = await LoadShouldFailAsync(CheckpointErrorCode.LimitReached);
        ex.Message.ShouldContain(long.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture));
        (await File.ReadAllTextAsync(path, Ct)).ShouldBe(json);
    }

    [Fact]
    public async Task Save_SequenceAtMaximum_LimitReachedNeverWrapsToZero()
    {
        // Before: sequence ulong.MaxValue + 1 wrapped to 0, so the older record became "latest".
        var old = $$$"""{"checkpoint_format_version":2,"source_type":"conformance_snapshot","committed_event_count":3,"sequence":{{{ulong.MaxValue}}},"offset":{"position":3,"stream":"a"}}""";
        _dir.Write("checkpoint_conformance_snapshot.json", old);
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(new ConformanceOffset(10), 10, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.LimitReached, ex.Message);
        File.Exists(_dir.File(RecordName)).ShouldBeFalse();
        Encoding.UTF8.GetString(await File.ReadAllBytesAsync(_dir.File("checkpoint_conformance_snapshot.json"), Ct)).ShouldBe(old);
    }

    [Fact]
    public async Task StreamRestore_DirectoryAtASnapshotName_FailsClosedNeverAFreshStart()
    {
        // Before: the directory listing skipped directories, so the manager restored nothing and started afresh.
        Directory.CreateDirectory(_dir.File("stream-checkpoint-00000000000000000007.snap"));
        var ex = await Should.ThrowAsync<CheckpointException>(async () =>
        {
            await using var manager = await Cdc.Checkpoint.Streaming.StreamCheckpointManager.OpenAsync(new Cdc.Checkpoint.Streaming.StreamCheckpointOptions { DataDirectory = _dir.Path }, cancellationToken: TestContext.Current.CancellationToken);
            _ = manager.TryRestore();
        });
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt, ex.Message);
        ex.Message.ShouldContain("UnsafeFile");
    }
}
