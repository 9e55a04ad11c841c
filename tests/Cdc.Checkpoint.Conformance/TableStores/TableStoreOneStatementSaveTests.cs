using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Tables;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Conformance.TableStores;

/// <summary>
/// The one-statement save a <see cref="TableCheckpointStore"/> makes when it knows what its row holds: it must decide
/// exactly as the full save would, however the row or the fence changed behind its back. A provider's test project runs
/// it against its real server by deriving one class that names its <see cref="TableStoreHarness"/>.
/// </summary>
public abstract class TableStoreOneStatementSaveTests : TableStoreSuite
{
    [Fact]
    public async Task SaveAsync_RowChangedBehindTheStoresBack_IsJudgedAgainstTheStoredRowNotTheRememberedOne()
    {
        var store = await NewStoreAsync();
        var sourceType = Offset(1).SourceType;
        await store.SaveAsync(Offset(100), 10, Ct);

        // Someone moves the row forward directly (an operator, another tool): the store still remembers count 10.
        await Harness.SetRowColumnAsync(store, sourceType, "offset", Offset(200).ToJsonString());
        await Harness.SetRowColumnAsync(store, sourceType, "committed_event_count", 20UL);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Offset(150), 15, Ct));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        var stored = (await store.LoadAsync(sourceType, Ct)).ShouldNotBeNull();
        stored.CommittedEventCount.ShouldBe(20UL);
        stored.Offset.ShouldBe(Offset(200));

        // Once the store has read the row again (in the full path), saves go on from it.
        await store.SaveAsync(Offset(300), 30, Ct);
        (await store.LoadAsync(sourceType, Ct))!.CommittedEventCount.ShouldBe(30UL);
    }

    [Fact]
    public async Task SaveAsync_AcquisitionInFlightWhileSaving_WaitsForItAndFailsWithStaleEpochWithoutWriting()
    {
        var store = await NewStoreAsync();
        var sourceType = Offset(1).SourceType;
        await store.SaveAsync(Offset(100), 10, Ct);

        // A new owner's acquisition, held open: the fence row is updated but not committed yet; the checkpoint row is
        // untouched, so only the epoch condition can stop the one-statement save.
        var acquisition = await Harness.BeginFenceIncrementAsync(store);
        var intruder = acquisition.Connection.ShouldNotBeNull();
        await using (intruder)
        await using (acquisition)
        {
            var saving = Task.Run(async () => await store.SaveAsync(Offset(200), 20, Ct), Ct);
            await Harness.ProveWaitsAsync(acquisition, saving, "cdc_checkpoint");
            saving.IsCompleted.ShouldBeFalse("the save must wait for the acquisition that locks the fence row");
            await acquisition.CommitAsync(Ct);

            var ex = await Should.ThrowAsync<CheckpointException>(() => saving);
            ex.ErrorCode.ShouldBe(CheckpointErrorCode.StaleEpoch);
        }

        var stored = (await store.LoadAsync(sourceType, Ct)).ShouldNotBeNull();
        stored.CommittedEventCount.ShouldBe(10UL);
        stored.Offset.ShouldBe(Offset(100));
    }

    [Fact]
    public async Task SaveAsync_AnotherSourceTypeSavedInBetween_KeepsTheWriteSequenceGrowingAcrossSourceTypes()
    {
        var store = await NewStoreAsync();
        await store.SaveAsync(Offset(1), 1, Ct);
        await store.SaveAsync(new ConformanceOffset(1), 1, Ct);
        await store.SaveAsync(Offset(2), 2, Ct);

        var own = (await store.LoadAsync(Offset(1).SourceType, Ct)).ShouldNotBeNull();
        var other = (await store.LoadAsync(ConformanceOffset.Source, Ct)).ShouldNotBeNull();
        own.Sequence.ShouldBeGreaterThan(other.Sequence);
    }

    [Fact]
    public async Task SaveAsync_ManySavesInARow_EachIsStoredWithAGrowingSequence()
    {
        var store = await NewStoreAsync();
        var sourceType = Offset(1).SourceType;
        ulong previous = 0;
        for (ulong i = 1; i <= 20; i++)
        {
            await store.SaveAsync(Offset(100 * i), i, Ct);
            var stored = (await store.LoadAsync(sourceType, Ct)).ShouldNotBeNull();
            stored.CommittedEventCount.ShouldBe(i);
            stored.Offset.ShouldBe(Offset(100 * i));
            stored.Epoch.ShouldBe(store.Epoch);
            stored.Sequence.ShouldBeGreaterThan(previous);
            previous = stored.Sequence;
        }

        // A repeat writes nothing and still succeeds; a step back is refused.
        await store.SaveAsync(Offset(2000), 20, Ct);
        (await store.LoadAsync(sourceType, Ct))!.Sequence.ShouldBe(previous);
        (await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(Offset(1900), 19, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
    }
}
