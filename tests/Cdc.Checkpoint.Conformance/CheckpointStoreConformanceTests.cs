using Cdc.Checkpoint.Offsets;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Conformance;

/// <summary>
/// The behaviour every <see cref="ICheckpointStore"/> must have. A store passes the suite by deriving a test class
/// from this one and creating stores in <see cref="CreateStoreAsync"/>.
/// </summary>
public abstract partial class CheckpointStoreConformanceTests : IAsyncLifetime
{
    private readonly List<object> _created = [];

    /// <summary>Creates a store on fresh, empty storage (a new directory, table row name, …) that the store's codecs can read <see cref="ConformanceOffset"/> from.</summary>
    protected abstract Task<ICheckpointStore> CreateStoreAsync();

    /// <summary>Opens a second store on the same storage as <paramref name="store"/>, as a restarted process would (after disposing the first where the store requires that).</summary>
    protected abstract Task<ICheckpointStore> ReopenAsync(ICheckpointStore store);

    /// <summary>Whether the store survives a restart (false only for the in-memory store).</summary>
    protected virtual bool IsDurable => true;

    /// <inheritdoc />
    public virtual ValueTask InitializeAsync() => ValueTask.CompletedTask;

    /// <inheritdoc />
    public virtual async ValueTask DisposeAsync()
    {
        foreach (var item in _created)
        {
            switch (item)
            {
                case IAsyncDisposable asyncDisposable:
                    await asyncDisposable.DisposeAsync();
                    break;
                case IDisposable disposable:
                    disposable.Dispose();
                    break;
            }
        }

        GC.SuppressFinalize(this);
    }

    private async Task<ICheckpointStore> NewStoreAsync()
    {
        var store = await CreateStoreAsync();
        _created.Add(store);
        return store;
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Load_NothingSaved_ReturnsNull()
    {
        var store = await NewStoreAsync();
        (await store.LoadAsync(ConformanceOffset.Source, Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task Save_ThenLoad_ReturnsTypedOffsetAndCount()
    {
        var store = await NewStoreAsync();
        await store.SaveAsync(new ConformanceOffset(42), 7, Ct);

        var record = (await store.LoadAsync(ConformanceOffset.Source, Ct)).ShouldNotBeNull();
        record.SourceType.ShouldBe(ConformanceOffset.Source);
        record.CommittedEventCount.ShouldBe(7UL);
        var offset = record.Offset.ShouldBeOfType<ConformanceOffset>();
        offset.Position.ShouldBe(42UL);
        offset.Stream.ShouldBe("main");
    }

    [Fact]
    public async Task Save_ThenReopen_SurvivesRestart()
    {
        var store = await NewStoreAsync();
        await store.SaveAsync(new ConformanceOffset(5), 1, Ct);
        await store.SaveAsync(new ConformanceOffset(9), 3, Ct);

        var reopened = await ReopenAsync(store);
        _created.Add(reopened);
        var record = await reopened.LoadAsync(ConformanceOffset.Source, Ct);
        if (IsDurable)
        {
            record.ShouldNotBeNull().CommittedEventCount.ShouldBe(3UL);
            record.Offset.ShouldBe(new ConformanceOffset(9));
        }
        else
        {
            record.ShouldBeNull();
        }
    }

    [Fact]
    public async Task Save_ManyAdvancingSaves_LastOneWinsAndSequenceGrows()
    {
        var store = await NewStoreAsync();
        ulong lastSequence = 0;
        for (ulong i = 1; i <= 20; i++)
        {
            await store.SaveAsync(new ConformanceOffset(i * 10), i, Ct);
            var record = (await store.LoadAsync(ConformanceOffset.Source, Ct)).ShouldNotBeNull();
            record.Sequence.ShouldBeGreaterThan(lastSequence);
            lastSequence = record.Sequence;
        }

        (await store.LoadAsync(ConformanceOffset.Source, Ct)).ShouldNotBeNull().Offset.ShouldBe(new ConformanceOffset(200));
    }

    [Fact]
    public async Task Save_LowerCount_RefusedAsRegressionAndStoredRecordKept()
    {
        var store = await NewStoreAsync();
        await store.SaveAsync(new ConformanceOffset(200), 10, Ct);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(new ConformanceOffset(150), 9, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        await ShouldStillBe(store, 200, 10);
    }

    [Fact]
    public async Task Save_EqualCountDifferentOffset_RefusedAsConflict()
    {
        var store = await NewStoreAsync();
        await store.SaveAsync(new ConformanceOffset(300), 21, Ct);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(new ConformanceOffset(301), 21, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.ConflictingOffset);
        await ShouldStillBe(store, 300, 21);
    }

    [Fact]
    public async Task Save_EqualCountSameOffset_IsAnIdempotentRepeat()
    {
        var store = await NewStoreAsync();
        await store.SaveAsync(new ConformanceOffset(300), 21, Ct);
        await store.SaveAsync(new ConformanceOffset(300), 21, Ct);
        await ShouldStillBe(store, 300, 21);
    }

    [Fact]
    public async Task Save_HigherCountButLowerOffset_RefusedAsTypedRegression()
    {
        var store = await NewStoreAsync();
        await store.SaveAsync(new ConformanceOffset(500), 10, Ct);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(new ConformanceOffset(499), 11, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        ex.Message.ShouldContain("behind");
        await ShouldStillBe(store, 500, 10);
    }

    [Fact]
    public async Task Save_DivergedOffset_RefusedEvenWhenCountGrows()
    {
        var store = await NewStoreAsync();
        await store.SaveAsync(new ConformanceOffset(500), 10, Ct);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(new ConformanceOffset(900, stream: "other"), 50, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetDiverged);
        await ShouldStillBe(store, 500, 10);
    }

    [Fact]
    public async Task Save_SameOffsetHigherCount_Accepted()
    {
        var store = await NewStoreAsync();
        await store.SaveAsync(new ConformanceOffset(500), 10, Ct);
        await store.SaveAsync(new ConformanceOffset(500), 12, Ct);
        await ShouldStillBe(store, 500, 12);
    }

    [Fact]
    public async Task Rewind_WithReason_MovesBackwards()
    {
        var store = await NewStoreAsync();
        await store.SaveAsync(new ConformanceOffset(500), 10, Ct);
        await store.RewindAsync(new ConformanceOffset(100), 2, "replay after a sink bug", Ct);
        await ShouldStillBe(store, 100, 2);

        // After a rewind, normal progress continues from the rewound position.
        await store.SaveAsync(new ConformanceOffset(150), 3, Ct);
        await ShouldStillBe(store, 150, 3);
    }

    [Fact]
    public async Task Rewind_WithoutReason_ThrowsArgumentExceptionAndChangesNothing()
    {
        var store = await NewStoreAsync();
        await store.SaveAsync(new ConformanceOffset(500), 10, Ct);
        await Should.ThrowAsync<ArgumentException>(async () => await store.RewindAsync(new ConformanceOffset(100), 2, " ", Ct));
        await ShouldStillBe(store, 500, 10);
    }

    [Fact]
    public async Task Save_CancelledToken_ThrowsOperationCanceledAndWritesNothing()
    {
        var store = await NewStoreAsync();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(async () => await store.SaveAsync(new ConformanceOffset(1), 1, cts.Token));
        (await store.LoadAsync(ConformanceOffset.Source, Ct)).ShouldBeNull();
    }

    [Fact]
    public async Task Save_SnapshotVariantOfSameFamily_StoredSeparately()
    {
        var store = await NewStoreAsync();
        await store.SaveAsync(new ConformanceOffset(3, sourceType: ConformanceOffset.Source + SourceTypeName.SnapshotSuffix), 3, Ct);
        await store.SaveAsync(new ConformanceOffset(9), 9, Ct);

        (await store.LoadAsync(ConformanceOffset.Source + SourceTypeName.SnapshotSuffix, Ct)).ShouldNotBeNull().CommittedEventCount.ShouldBe(3UL);
        (await store.LoadAsync(ConformanceOffset.Source, Ct)).ShouldNotBeNull().CommittedEventCount.ShouldBe(9UL);
    }

    private static async Task ShouldStillBe(ICheckpointStore store, ulong position, ulong count)
    {
        var record = (await store.LoadAsync(ConformanceOffset.Source, Ct)).ShouldNotBeNull();
        record.CommittedEventCount.ShouldBe(count);
        record.Offset.ShouldBe(new ConformanceOffset(position));
    }
}
