using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.Manifests;
using Shouldly;
using Xunit;
using static Cdc.Checkpoint.Tests.Manifests.Manifests;

namespace Cdc.Checkpoint.Tests.Manifests;

/// <summary>
/// One writer per manifest store (the owner lease of FileCheckpoint), and no acknowledged checkpoint invalidated even by
/// a writer that bypasses it. The race between real processes is in Proof.Tests (ManifestWriterRaceTests).
/// </summary>
public sealed class ManifestStoreWritersTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static CheckpointManifest WithSidecarState(ulong id, int length) => new()
    {
        CheckpointId = id,
        Epoch = id,
        CreatedAt = T0.AddSeconds(id),
        OperatorStates = System.Collections.Immutable.ImmutableSortedDictionary.CreateRange(
            StringComparer.Ordinal, [KeyValuePair.Create("join", OperatorState.InSidecar(0, length))]),
    };

    private FileManifestStore Unleased() => new(_dir.Path, new FileManifestStoreOptions { Codecs = Codecs, WithoutOwnerLeaseForTests = true });

    [Fact]
    public async Task SaveAsync_TakesTheOwnerLeaseOfTheRootUntilDisposed_ReadsNeverTakeIt()
    {
        await using (var writer = Store(_dir))
        {
            await writer.SaveAsync(Make(1, 1), "state"u8.ToArray(), Ct);
            var status = FileCheckpoint.GetLeaseStatus(_dir.Path);
            status.State.ShouldBe(LeaseState.Held);
            status.Owner.ShouldNotBeNull().ProcessId.ShouldBe(Environment.ProcessId);
            File.Exists(Path.Combine(_dir.Path, FileCheckpoint.LeaseFileName)).ShouldBeTrue();
        }

        FileCheckpoint.GetLeaseStatus(_dir.Path).State.ShouldBe(LeaseState.Free);
        var epoch = FileCheckpoint.GetLeaseStatus(_dir.Path).Owner!.Epoch;

        await using (var reader = Store(_dir))
        {
            (await reader.LoadLatestAsync(Ct)).ShouldNotBeNull();
            (await reader.ListAsync(Ct)).Count.ShouldBe(1);
            (await reader.ValidateAsync(1, Ct)).IsValid.ShouldBeTrue();
            (await reader.RecoverLatestValidAsync(Ct)).ShouldNotBeNull();
            (await reader.LoadSidecarAsync(1, Ct)).ShouldBe("state"u8.ToArray());
            FileCheckpoint.GetLeaseStatus(_dir.Path).State.ShouldBe(LeaseState.Free);
        }

        await using (var next = Store(_dir))
        {
            await next.SaveAsync(Make(2, 2), cancellationToken: Ct);
            FileCheckpoint.GetLeaseStatus(_dir.Path).Owner!.Epoch.ShouldBe(epoch + 1, "the same lease file and epoch as FileCheckpoint");
        }
    }

    [Fact]
    public async Task SaveAsync_WithoutLeaseAnotherWritersSidecarInPlace_ConflictAndTheSidecarIsNeverReplaced()
    {
        // Another writer (bypassing the lease) has created checkpoint 1's sidecar and is about to write its manifest.
        var directory = _dir.Combine("checkpoints", FileManifestStore.DirectoryNameOf(1));
        Directory.CreateDirectory(_dir.Combine("checkpoints"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var theirs = "their state"u8.ToArray();
        WritePrivate(Path.Combine(directory, StateSidecarInfo.FileName), theirs);
        var store = Unleased();

        var withSidecar = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(WithSidecarState(1, 8), "my state"u8.ToArray(), Ct));
        var withoutSidecar = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Make(1, 1), cancellationToken: Ct));

        withSidecar.ErrorCode.ShouldBe(CheckpointErrorCode.ConflictingOffset);
        withSidecar.Message.ShouldContain("being saved by another writer");
        withoutSidecar.ErrorCode.ShouldBe(CheckpointErrorCode.ConflictingOffset);
        File.ReadAllBytes(Path.Combine(directory, StateSidecarInfo.FileName)).ShouldBe(theirs);
        File.Exists(Path.Combine(directory, "manifest.json")).ShouldBeFalse();
    }

    [Fact]
    public async Task SaveAsync_UnderTheLeaseALeftoverSidecarOfAnInterruptedSave_IsReplacedAndTheSaveIsValid()
    {
        var directory = _dir.Combine("checkpoints", FileManifestStore.DirectoryNameOf(1));
        Directory.CreateDirectory(_dir.Combine("checkpoints"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        WritePrivate(Path.Combine(directory, StateSidecarInfo.FileName), "left by a crash"u8.ToArray());
        await using var store = Store(_dir);

        await store.SaveAsync(WithSidecarState(1, 8), "my state"u8.ToArray(), Ct);

        (await store.ValidateAsync(1, Ct)).IsValid.ShouldBeTrue();
        (await store.LoadSidecarAsync(1, Ct)).ShouldBe("my state"u8.ToArray());
    }

    [Fact]
    public async Task SaveAsync_WithoutLeaseSameIdTwice_SecondIsATypedConflictAndTheFirstStaysValid()
    {
        var first = Unleased();
        var second = Unleased();
        await first.SaveAsync(WithSidecarState(1, 5), "first"u8.ToArray(), Ct);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await second.SaveAsync(WithSidecarState(1, 6), "second"u8.ToArray(), Ct));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.ConflictingOffset);
        (await first.ValidateAsync(1, Ct)).IsValid.ShouldBeTrue();
        (await first.LoadSidecarAsync(1, Ct)).ShouldBe("first"u8.ToArray());
    }
}
