using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.Cursors;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Tests.Manifests;
using Shouldly;
using Xunit;
using static Cdc.Checkpoint.Tests.Manifests.Manifests;

namespace Cdc.Checkpoint.Tests;

/// <summary>
/// The stores do their small file work synchronously, but an I/O or data error must still come out of the returned
/// task, never out of the call: a caller may start an operation, keep the task and await it later (or hand it to
/// Task.WhenAll), and must then see the <see cref="CheckpointException"/> where it awaits. Argument errors stay
/// synchronous, as in .NET's own APIs.
/// </summary>
public sealed class StoredTaskFailureTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly TempDirectory _manifestDir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static FileCheckpointOptions Options => new() { Codecs = OffsetCodecRegistry.Empty.With(ConformanceOffset.OffsetCodec) };

    public void Dispose()
    {
        _dir.Dispose();
        _manifestDir.Dispose();
    }

    [Fact]
    public async Task FileCheckpointLoads_CorruptRecord_CallReturnsATaskThatFaultsWithCheckpointException()
    {
        _dir.Write("checkpoint_conformance.json", "{ not json");
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);

        // Started and stored, not awaited: none of these calls may throw.
        var load = checkpoint.LoadAsync("conformance", Ct);
        var latest = checkpoint.LoadLatestAsync(Ct);
        var list = checkpoint.ListAsync(Ct);
        var count = checkpoint.GetCommittedCountAsync(Ct);
        var typed = checkpoint.LoadOffsetAsync<ConformanceOffset>(cancellationToken: Ct);

        load.IsFaulted.ShouldBeTrue();
        latest.IsFaulted.ShouldBeTrue();
        list.IsFaulted.ShouldBeTrue();
        foreach (var task in new Task[] { load.AsTask(), latest.AsTask(), list.AsTask(), count.AsTask(), typed.AsTask() })
        {
            var ex = await Should.ThrowAsync<CheckpointException>(task);
            ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
            ex.Path.ShouldBe(_dir.File("checkpoint_conformance.json"));
        }
    }

    [Fact]
    public async Task FileCheckpoint_MissingDirectory_LeaseAndLoadReturnTasksThatFaultWithDirectoryNotFound()
    {
        var missing = Path.Combine(_dir.Path, "missing");
        using var checkpoint = new FileCheckpoint(missing, Options);

        var lease = checkpoint.AcquireLeaseAsync(Ct);
        var load = checkpoint.LoadAsync("conformance", Ct);
        var save = checkpoint.SaveAsync(new ConformanceOffset(1), 1, Ct);

        (await Should.ThrowAsync<CheckpointException>(lease.AsTask())).ErrorCode.ShouldBe(CheckpointErrorCode.DirectoryNotFound);
        (await Should.ThrowAsync<CheckpointException>(load.AsTask())).ErrorCode.ShouldBe(CheckpointErrorCode.DirectoryNotFound);
        (await Should.ThrowAsync<CheckpointException>(save.AsTask())).ErrorCode.ShouldBe(CheckpointErrorCode.DirectoryNotFound);
        Directory.Exists(missing).ShouldBeFalse();
    }

    [Fact]
    public async Task FileCheckpointSave_Regression_CallReturnsATaskThatFaultsWithOffsetRegression()
    {
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);
        await checkpoint.SaveAsync(new ConformanceOffset(100), 10, Ct);

        var save = checkpoint.SaveAsync(new ConformanceOffset(50), 5, Ct);

        (await Should.ThrowAsync<CheckpointException>(save.AsTask())).ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        (await checkpoint.LoadAsync("conformance", Ct)).ShouldNotBeNull().CommittedEventCount.ShouldBe(10UL);
    }

    [Fact]
    public async Task InMemoryCheckpointSave_Regression_CallReturnsATaskThatFaultsWithOffsetRegression()
    {
        var checkpoint = new InMemoryCheckpoint();
        await checkpoint.SaveAsync(new ConformanceOffset(100), 10, Ct);

        var save = checkpoint.SaveAsync(new ConformanceOffset(50), 5, Ct);

        save.IsFaulted.ShouldBeTrue();
        (await Should.ThrowAsync<CheckpointException>(save.AsTask())).ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        checkpoint.WriteCount.ShouldBe(1);
    }

    [Fact]
    public async Task FileManifestStoreReads_CorruptManifest_CallsReturnTasksThatFaultWithCheckpointException()
    {
        var store = Store(_manifestDir);
        await store.SaveAsync(Make(1, 1), cancellationToken: Ct);
        WritePrivate(ManifestPath(_manifestDir, 1), "{ not json");

        var load = store.LoadAsync(1, Ct);
        var latest = store.LoadLatestAsync(Ct);
        var sidecar = store.LoadSidecarAsync(1, Ct);
        var recover = store.RecoverLatestValidAsync(Ct);

        foreach (var task in new Task[] { load.AsTask(), latest.AsTask(), sidecar.AsTask(), recover.AsTask() })
        {
            (await Should.ThrowAsync<CheckpointException>(task)).ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        }

        // A manifest that keeps state in a sidecar it does not declare cannot be restored: also through the task.
        var undeclared = new CheckpointManifest
        {
            CheckpointId = 1,
            Epoch = 1,
            CreatedAt = T0,
            OperatorStates = System.Collections.Immutable.ImmutableSortedDictionary<string, OperatorState>.Empty.Add("op", OperatorState.InSidecar(0, 1)),
        };
        var states = store.LoadOperatorStatesAsync(undeclared, Ct);
        (await Should.ThrowAsync<CheckpointException>(states.AsTask())).ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
    }

    [Fact]
    public async Task CursorStore_MissingDirectory_CallReturnsATaskThatFaultsWithDirectoryNotFound()
    {
        var store = new CursorCheckpointStore(Path.Combine(_dir.Path, "missing"));

        var save = store.SaveAsync("orders", CursorCheckpoint.At(1, "consumer-a"), Ct);

        (await Should.ThrowAsync<CheckpointException>(save.AsTask())).ErrorCode.ShouldBe(CheckpointErrorCode.DirectoryNotFound);
    }

    [Fact]
    public async Task Loads_CanceledToken_ReturnCanceledTasksInsteadOfThrowing()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);
        var store = Store(_manifestDir);

        var tasks = new Task[]
        {
            checkpoint.LoadAsync("conformance", cts.Token).AsTask(),
            checkpoint.LoadLatestAsync(cts.Token).AsTask(),
            checkpoint.ListAsync(cts.Token).AsTask(),
            checkpoint.AcquireLeaseAsync(cts.Token).AsTask(),
            new InMemoryCheckpoint().SaveAsync(new ConformanceOffset(1), 1, cts.Token).AsTask(),
            new InMemoryCheckpoint().LoadAsync("conformance", cts.Token).AsTask(),
            store.LoadLatestAsync(cts.Token).AsTask(),
            store.RecoverLatestValidAsync(cts.Token).AsTask(),
        };

        tasks.ShouldAllBe(t => t.IsCanceled);
        foreach (var task in tasks)
        {
            await Should.ThrowAsync<OperationCanceledException>(task);
        }

        checkpoint.Lease.ShouldBeNull("a canceled call must not take the lease");
    }

    [Fact]
    public void Loads_InvalidArguments_StillThrowAtTheCall()
    {
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);

        // Actions, not Func<Task>: a throw from the call passes, a faulted task alone does not.
        Should.Throw<ArgumentException>(() => { _ = checkpoint.LoadAsync("Not A Source Type", Ct).AsTask(); });
        Should.Throw<ArgumentOutOfRangeException>(() => { _ = Store(_manifestDir).LoadAsync(0, Ct).AsTask(); });
        Should.Throw<ArgumentException>(() => { _ = new InMemoryCheckpoint().RewindAsync(new ConformanceOffset(1), 1, " ", Ct).AsTask(); });
    }
}
