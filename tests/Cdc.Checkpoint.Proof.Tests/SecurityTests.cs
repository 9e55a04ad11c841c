using Cdc.Checkpoint.Cursors;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Proof.Tests.Support;
using Cdc.Checkpoint.Torture;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Proof.Tests;

/// <summary>
/// Modes of everything the library creates, refusal of planted links, and names that cannot leave their directory.
/// (The basic cases — record 0600, created directory 0700, symlinked record on load, symlinked lease file, source
/// type names — are in Cdc.Checkpoint.Tests; these add the temp file, the umask, the write paths and the other stores.)
/// </summary>
public sealed class SecurityTests : IDisposable
{
    private const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerAll = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        DurableFile.BeforeRenameHook = null;
        DurableFile.TempNameForTests = null;
        _dir.Dispose();
    }

    [Fact]
    public async Task Save_TempFileObservedBeforeRename_IsOwnerOnly0600AndHoldsTheCompleteRecord()
    {
        var observed = new List<(string Path, UnixFileMode Mode, byte[] Contents)>();
        DurableFile.BeforeRenameHook = path =>
        {
            if (path.StartsWith(_dir.Path, StringComparison.Ordinal))
            {
                observed.Add((path, File.GetUnixFileMode(path), File.ReadAllBytes(path)));
            }
        };

        using (var checkpoint = new FileCheckpoint(_dir.Path, TortureOffsets.Options()))
        {
            await checkpoint.SaveAsync(TortureOffsets.At(1), 1, Ct);
            await checkpoint.SaveAsync(TortureOffsets.At(2), 2, Ct);
        }

        observed.Count.ShouldBe(2);
        for (var i = 0; i < observed.Count; i++)
        {
            var (path, mode, contents) = observed[i];
            Path.GetFileName(path).ShouldStartWith(TortureOffsets.RecordFileName + ".");
            path.ShouldEndWith(DurableFile.TempSuffix);
            mode.ShouldBe(OwnerReadWrite);
            var record = CheckpointRecordFile.Parse(contents, _dir.File(TortureOffsets.RecordFileName), TortureOffsets.Options().Codecs);
            record.CommittedEventCount.ShouldBe((ulong)(i + 1));
        }
    }

    [Fact]
    public async Task AllStores_CreatedUnderUmask000_FilesAre0600AndDirectories0700IncludingTempFiles()
    {
        // A real child process with umask 000: modes must come from the library, not from a friendly umask.
        await using var child = HarnessChild.Start(
            ["perms", _dir.Path],
            ["sh", "-c", "umask 000 && exec \"$0\" \"$@\""],
            new Dictionary<string, string> { [HarnessHooks.PauseBeforeRenameVariable] = "1" });

        var temps = 0;
        while (await child.ReadLineAsync(TimeSpan.FromSeconds(60)) is { } line && line != "done")
        {
            line.ShouldStartWith("temp ", customMessage: child.StandardError);
            var temp = line["temp ".Length..];
            File.GetUnixFileMode(temp).ShouldBe(OwnerReadWrite, temp);
            File.GetUnixFileMode(Path.GetDirectoryName(temp)!).ShouldBe(OwnerAll, temp);
            temps++;
            child.Send("go");
        }

        child.CloseInput();
        await child.WaitForExitAsync(Ct);
        child.ExitCode.ShouldBe(0, child.StandardError);

        // Three record writes, one cursor, the manifest (and whatever pointer files the manifest store keeps).
        temps.ShouldBeGreaterThanOrEqualTo(5);
        var created = Directory.EnumerateFileSystemEntries(_dir.Path, "*", SearchOption.AllDirectories).ToList();
        created.ShouldContain(_dir.File("checkpoint/" + TortureOffsets.RecordFileName));
        created.ShouldContain(_dir.File("checkpoint/" + FileCheckpoint.LeaseFileName));
        created.ShouldContain(_dir.File("checkpoint/" + FileCheckpoint.AuditLogFileName));
        created.ShouldContain(_dir.File("data/cursors"));
        created.ShouldContain(p => p.StartsWith(_dir.File("manifests/"), StringComparison.Ordinal) && p.EndsWith(".json", StringComparison.Ordinal));
        foreach (var path in created)
        {
            var mode = File.GetUnixFileMode(path);
            if (Directory.Exists(path))
            {
                mode.ShouldBe(OwnerAll, path);
            }
            else
            {
                mode.ShouldBe(OwnerReadWrite, path);
            }
        }
    }

    [Fact]
    public async Task Save_RecordReplacedBySymlink_RefusedAndLinkTargetUntouched()
    {
        using var elsewhere = new TempDirectory();
        var target = elsewhere.File("victim");
        await File.WriteAllTextAsync(target, "not a checkpoint", Ct);
        File.CreateSymbolicLink(_dir.File(TortureOffsets.RecordFileName), target);

        using var checkpoint = new FileCheckpoint(_dir.Path, TortureOffsets.Options());
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(TortureOffsets.At(1), 1, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.SymbolicLinkRefused);

        (await File.ReadAllTextAsync(target, Ct)).ShouldBe("not a checkpoint");
        new FileInfo(_dir.File(TortureOffsets.RecordFileName)).LinkTarget.ShouldBe(target);
    }

    [Fact]
    public async Task Save_TempNamePlantedAsSymlinkWhileOwned_RefusedByExclusiveCreateAndLinkTargetUntouched()
    {
        using var elsewhere = new TempDirectory();
        var target = elsewhere.File("victim");
        await File.WriteAllTextAsync(target, "precious", Ct);
        const string Planted = "checkpoint_postgres.json.planted.tmp";
        DurableFile.TempNameForTests = (directory, _) => directory == _dir.Path ? Planted : null;

        // Taking the lease removes leftover temp files: a link planted before that is deleted (the link, not its target).
        File.CreateSymbolicLink(_dir.File(Planted), target);
        using var checkpoint = new FileCheckpoint(_dir.Path, TortureOffsets.Options());
        await checkpoint.AcquireLeaseAsync(Ct);
        Path.Exists(_dir.File(Planted)).ShouldBeFalse();
        (await File.ReadAllTextAsync(target, Ct)).ShouldBe("precious");

        // Planted while we own the directory: O_CREAT|O_EXCL refuses to open through it.
        File.CreateSymbolicLink(_dir.File(Planted), target);
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(TortureOffsets.At(1), 1, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.WriteFailed);
        ex.Message.ShouldContain("Could not create the temp file");

        (await File.ReadAllTextAsync(target, Ct)).ShouldBe("precious");
        File.Exists(_dir.File(TortureOffsets.RecordFileName)).ShouldBeFalse();
    }

    [Fact]
    public async Task Rewind_AuditLogReplacedBySymlink_RefusedBeforeTheRecordChanges()
    {
        using var checkpoint = new FileCheckpoint(_dir.Path, TortureOffsets.Options());
        await checkpoint.SaveAsync(TortureOffsets.At(10), 10, Ct);
        using var elsewhere = new TempDirectory();
        var target = elsewhere.File("victim");
        await File.WriteAllTextAsync(target, "precious", Ct);
        File.CreateSymbolicLink(_dir.File(FileCheckpoint.AuditLogFileName), target);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.RewindAsync(TortureOffsets.At(5), 5, "test", Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.SymbolicLinkRefused);

        (await File.ReadAllTextAsync(target, Ct)).ShouldBe("precious");
        (await checkpoint.LoadAsync(TortureOffsets.SourceType, Ct)).ShouldNotBeNull().CommittedEventCount.ShouldBe(10UL);
    }

    [Fact]
    public async Task Acquire_GroupReadableLeaseFile_RefusedAsInsecureWithChmodHint()
    {
        var lease = _dir.File(FileCheckpoint.LeaseFileName);
        await File.WriteAllTextAsync(lease, "", Ct);
        File.SetUnixFileMode(lease, OwnerReadWrite | UnixFileMode.GroupRead);

        using var checkpoint = new FileCheckpoint(_dir.Path, TortureOffsets.Options());
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.AcquireLeaseAsync(Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.InsecurePermissions);
        ex.Message.ShouldContain("chmod 600");
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("..")]
    [InlineData(".hidden")]
    [InlineData("a/b")]
    [InlineData("/etc/passwd")]
    [InlineData("a\0b")]
    [InlineData("")]
    public async Task CursorStore_IdsThatCouldLeaveTheDirectory_RejectedAndNothingWritten(string cursorId)
    {
        var store = new CursorCheckpointStore(_dir.Path);
        Should.Throw<ArgumentException>(() => store.GetPath(cursorId));
        await Should.ThrowAsync<ArgumentException>(async () => await store.SaveAsync(cursorId, CursorCheckpoint.At(1, "consumer"), Ct));
        Directory.EnumerateFileSystemEntries(_dir.Path, "*", SearchOption.AllDirectories).ShouldBeEmpty();
    }

    [Fact]
    public async Task CursorStore_CursorFileReplacedBySymlink_RefusedOnLoad()
    {
        var store = new CursorCheckpointStore(_dir.Path);
        await store.SaveAsync("orders", CursorCheckpoint.At(3, "consumer"), Ct);
        using var elsewhere = new TempDirectory();
        var target = elsewhere.File("victim");
        await File.WriteAllBytesAsync(target, await File.ReadAllBytesAsync(store.GetPath("orders"), Ct), Ct);
        File.Delete(store.GetPath("orders"));
        File.CreateSymbolicLink(store.GetPath("orders"), target);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.LoadAsync("orders", "consumer", Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.SymbolicLinkRefused);
    }

    [Fact]
    public async Task ManifestStore_NamesThatLookLikePaths_StayJsonKeysAndCreateNothingOutsideTheStore()
    {
        var root = _dir.File("manifests");
        var store = new FileManifestStore(root);
        var hostile = "../../../../tmp/cdc-escape-" + Guid.NewGuid().ToString("N");
        await store.SaveAsync(
            new CheckpointManifest
            {
                CheckpointId = 1,
                Epoch = 1,
                CreatedAt = DateTimeOffset.UnixEpoch,
                SourceOffsets = System.Collections.Immutable.ImmutableSortedDictionary.CreateRange(
                    StringComparer.Ordinal,
                    [new KeyValuePair<string, SourcePosition>(hostile, new SourcePosition(TortureOffsets.At(1), 1))]),
                SinkEpochs = System.Collections.Immutable.ImmutableSortedDictionary.CreateRange(
                    StringComparer.Ordinal,
                    [new KeyValuePair<string, ulong>("/etc/passwd", 1)]),
            },
            cancellationToken: Ct);

        var loaded = (await store.LoadAsync(1, Ct)).ShouldNotBeNull();
        loaded.SourceOffsets.Keys.ShouldBe([hostile]);
        Directory.EnumerateFileSystemEntries(_dir.Path, "*", SearchOption.AllDirectories).ShouldAllBe(p => p.StartsWith(root + "/", StringComparison.Ordinal) || p == root);
        Path.Exists(Path.GetFullPath(Path.Combine(root, hostile))).ShouldBeFalse();
    }
}
