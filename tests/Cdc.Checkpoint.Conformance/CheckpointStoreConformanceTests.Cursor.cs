using System.Text.Json;
using Cdc.Checkpoint.Cursors;
using Cdc.Checkpoint.Offsets;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Conformance;

/// <summary>
/// A pull cursor's durable position (<see cref="CursorOffset"/>, saved through <see cref="CursorCheckpointStoreExtensions"/>)
/// in every store: typed round trip, progress guards, identity binding and fail-closed loads. No codec registration is
/// needed: every store reads the <c>cursor</c> source type as a <see cref="CursorOffset"/>.
/// </summary>
public abstract partial class CheckpointStoreConformanceTests
{
    private const string CursorIdentity = "orders-projector";

    [Fact]
    public async Task LoadCursor_NothingSaved_ReturnsNull()
    {
        var store = await NewStoreAsync();
        (await store.LoadCursorAsync(CursorIdentity, Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task SaveCursor_ThenLoadAndReopen_ReturnsPositionStartedAndIdentity()
    {
        var store = await NewStoreAsync();
        await store.SaveCursorAsync(CursorCheckpoint.NotStarted(CursorIdentity), Ct);
        var fresh = (await store.LoadCursorAsync(CursorIdentity, Ct)).ShouldNotBeNull();
        fresh.Started.ShouldBeFalse();

        // Position 0 is a real position: "at 0" is progress over "not started".
        await store.SaveCursorAsync(CursorCheckpoint.At(0, CursorIdentity), Ct);
        await store.SaveCursorAsync(CursorCheckpoint.At(41, CursorIdentity), Ct);
        var loaded = (await store.LoadCursorAsync(CursorIdentity, Ct)).ShouldNotBeNull();
        loaded.Started.ShouldBeTrue();
        loaded.Position.ShouldBe(41UL);
        loaded.ConsumerIdentity.ShouldBe(CursorIdentity);
        loaded.NextPosition.ShouldBe(42UL);

        var record = (await store.LoadAsync(CursorOffset.CursorSourceType, Ct)).ShouldNotBeNull();
        record.Offset.ShouldBeOfType<CursorOffset>().Checkpoint.Position.ShouldBe(41UL);
        record.CommittedEventCount.ShouldBe(42UL);

        var reopened = await ReopenAsync(store);
        _created.Add(reopened);
        var afterRestart = await reopened.LoadCursorAsync(CursorIdentity, Ct);
        if (IsDurable)
        {
            afterRestart.ShouldNotBeNull().Position.ShouldBe(41UL);
            afterRestart.Started.ShouldBeTrue();
        }
        else
        {
            afterRestart.ShouldBeNull();
        }
    }

    [Fact]
    public async Task SaveCursor_BackwardsOrRepeated_RefusedOrIdempotent()
    {
        var store = await NewStoreAsync();
        await store.SaveCursorAsync(CursorCheckpoint.At(10, CursorIdentity), Ct);
        await store.SaveCursorAsync(CursorCheckpoint.At(10, CursorIdentity), Ct);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveCursorAsync(CursorCheckpoint.At(9, CursorIdentity), Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        var notStarted = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveCursorAsync(CursorCheckpoint.NotStarted(CursorIdentity), Ct));
        notStarted.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        (await store.LoadCursorAsync(CursorIdentity, Ct)).ShouldNotBeNull().Position.ShouldBe(10UL);

        await store.RewindCursorAsync(CursorCheckpoint.At(3, CursorIdentity), "replay after a projector bug", Ct);
        (await store.LoadCursorAsync(CursorIdentity, Ct)).ShouldNotBeNull().Position.ShouldBe(3UL);
    }

    [Fact]
    public async Task LoadCursor_AnotherConsumersPosition_RefusedAsIdentityMismatch()
    {
        var store = await NewStoreAsync();
        await store.SaveCursorAsync(CursorCheckpoint.At(10, "billing-projector"), Ct);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.LoadCursorAsync(CursorIdentity, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.IdentityMismatch);
        ex.Message.ShouldContain("billing-projector");
        ex.Message.ShouldContain(CursorIdentity);
    }

    [Fact]
    public async Task SaveCursor_OverAnotherConsumersPosition_RefusedAndTheirsKept()
    {
        var store = await NewStoreAsync();
        await store.SaveCursorAsync(CursorCheckpoint.At(10, "billing-projector"), Ct);

        var ahead = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveCursorAsync(CursorCheckpoint.At(50, CursorIdentity), Ct));
        ahead.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetDiverged);
        var same = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveCursorAsync(CursorCheckpoint.At(10, CursorIdentity), Ct));
        same.ErrorCode.ShouldBe(CheckpointErrorCode.ConflictingOffset);
        (await store.LoadCursorAsync("billing-projector", Ct)).ShouldNotBeNull().Position.ShouldBe(10UL);
    }

    [Fact]
    public async Task LoadCursor_StoredValueIsNotACursorPosition_RefusedAsCorrupt()
    {
        var store = await NewStoreAsync();
        using (var json = JsonDocument.Parse("""{"consumer_identity":"orders-projector","position":"12"}"""))
        {
            await store.SaveAsync(new GenericOffset(CursorOffset.CursorSourceType, json.RootElement), 13, Ct);
        }

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.LoadCursorAsync(CursorIdentity, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        if (IsDurable)
        {
            // After a restart the store reads the stored JSON with the cursor codec: refused when reopening (a store that
            // validates everything it recovers) or when loading, never loaded as "no cursor yet".
            var afterRestart = await Should.ThrowAsync<CheckpointException>(async () =>
            {
                var reopened = await ReopenAsync(store);
                _created.Add(reopened);
                await reopened.LoadCursorAsync(CursorIdentity, Ct);
            });
            afterRestart.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        }
    }
}
