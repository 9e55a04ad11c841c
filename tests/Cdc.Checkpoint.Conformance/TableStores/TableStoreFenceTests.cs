using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Conformance.TableStores;

/// <summary>
/// Fencing, as every <see cref="Tables.TableCheckpointStore"/> does it against its real server: a newer owner's acquisition
/// fences every older owner's save and rewind (in its own transaction or the caller's), waits for an older owner's save
/// transaction in flight, and the first saves of a fresh instance acquire once. A provider's test project runs it by
/// deriving one class that names its <see cref="TableStoreHarness"/>.
/// </summary>
public abstract class TableStoreFenceTests : TableStoreSuite
{
    [Fact]
    public async Task SaveAsync_AfterAnotherOwnerAcquired_FailsWithStaleEpochAndKeepsTheNewOwnersRow()
    {
        var oldOwner = await NewStoreAsync(owner: "host-a");
        var first = await oldOwner.AcquireAsync(Ct);
        await oldOwner.SaveAsync(Offset(100), 1, Ct);

        var newOwner = await NewStoreAsync(oldOwner.Name, owner: "host-b");
        var second = await newOwner.AcquireAsync(Ct);
        second.ShouldBe(first + 1);
        await newOwner.SaveAsync(Offset(200), 2, Ct);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await oldOwner.SaveAsync(Offset(300), 3, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.StaleEpoch);
        ex.Message.ShouldContain($"epoch {first}");
        ex.Message.ShouldContain($"epoch {second}");
        ex.IsTransient.ShouldBeFalse();
        (await Should.ThrowAsync<CheckpointException>(async () => await oldOwner.RewindAsync(Offset(50), 1, "old owner", Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.StaleEpoch);

        var record = (await newOwner.LoadAsync(Offset(1).SourceType, Ct)).ShouldNotBeNull();
        record.Offset.ShouldBe(Offset(200));
        record.Epoch.ShouldBe(second);
        (await newOwner.ReadFenceAsync(Ct)).ShouldNotBeNull().Owner.ShouldBe("host-b");
    }

    [Fact]
    public async Task SaveAsync_InTheCallersTransactionWithAStaleEpoch_RefusedBeforeWriting()
    {
        var stale = await NewStoreAsync();
        await stale.AcquireAsync(Ct);
        await (await NewStoreAsync(stale.Name)).AcquireAsync(Ct);
        await using var connection = await Harness.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync(Ct);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await Harness.SaveAsync(stale, transaction, Offset(5), 5));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.StaleEpoch);
        await transaction.RollbackAsync(Ct);
        (await stale.LoadAsync(Offset(1).SourceType, Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task AcquireAsync_WhileOldOwnersSaveTransactionIsOpen_WaitsForItThenFencesIt()
    {
        var oldOwner = await NewStoreAsync();
        await oldOwner.AcquireAsync(Ct);
        var newOwner = await NewStoreAsync(oldOwner.Name);

        await using var connection = await Harness.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync(Ct);
        await Harness.SaveAsync(oldOwner, transaction, Offset(100), 1);

        var acquire = newOwner.AcquireAsync(Ct);
        await Harness.ProveWaitsAsync(transaction, acquire, "_fence");
        acquire.IsCompleted.ShouldBeFalse("the acquisition must wait for the fence row the save transaction holds");

        await transaction.CommitAsync(Ct);
        var epoch = await acquire.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        epoch.ShouldBe(oldOwner.Epoch + 1);
        (await oldOwner.LoadAsync(Offset(1).SourceType, Ct)).ShouldNotBeNull().Offset.ShouldBe(Offset(100));
        (await Should.ThrowAsync<CheckpointException>(async () => await oldOwner.SaveAsync(Offset(200), 2, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.StaleEpoch);
    }

    [Fact]
    public async Task SaveAsync_FirstSavesStartingConcurrently_AcquireOnceAndAllSucceed()
    {
        var store = await NewStoreAsync();

        await Task.WhenAll(Enumerable.Range(1, 5).Select(i => store.SaveAsync(new ConformanceOffset((ulong)i, sourceType: $"conformance_{i}"), (ulong)i, Ct).AsTask()));

        store.Epoch.ShouldBe(1);
        for (var i = 1; i <= 5; i++)
        {
            (await store.LoadAsync($"conformance_{i}", Ct)).ShouldNotBeNull().Epoch.ShouldBe(1);
        }
    }
}
