using System.Text.Json;
using Cdc.Checkpoint.Cursors;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Streaming;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Cursors;

public sealed class CursorOffsetTests : IDisposable
{
    private const string Identity = "orders-projector";
    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    private static CheckpointOffset Read(string json)
    {
        using var document = JsonDocument.Parse(json);
        return OffsetCodecRegistry.Empty.Read(CursorOffset.CursorSourceType, document.RootElement, 3);
    }

    [Fact]
    public void Json_RoundTripsThroughAnyRegistry()
    {
        var offset = new CursorOffset(CursorCheckpoint.At(42, Identity));
        offset.ToJsonString().ShouldBe("""{"consumer_identity":"orders-projector","started":true,"position":42}""");
        Read(offset.ToJsonString()).ShouldBe(offset);
        Read("""{"consumer_identity":"orders-projector","started":false,"position":0}""")
            .ShouldBeOfType<CursorOffset>().Checkpoint.ShouldBe(CursorCheckpoint.NotStarted(Identity));
        OffsetCodecRegistry.Empty.Resolve("cursor").ShouldBeSameAs(CursorOffset.OffsetCodec);
        OffsetCodecRegistry.Empty.Resolve("cursors").ShouldBeSameAs(GenericOffsetCodec.Instance);
    }

    [Theory]
    [InlineData("""[]""", "not a JSON object")]
    [InlineData("""{"consumer_identity":"orders-projector","started":true}""", "needs")]
    [InlineData("""{"consumer_identity":"orders-projector","started":false,"position":3}""", "not started but has position 3")]
    [InlineData("""{"consumer_identity":"orders-projector","started":true,"position":-1}""", "'position'")]
    [InlineData("""{"consumer_identity":"orders-projector","started":"yes","position":1}""", "'started'")]
    [InlineData("""{"consumer_identity":" ","started":true,"position":1}""", "not valid")]
    [InlineData("""{"consumer_identity":"orders-projector","started":true,"position":1,"extra":1}""", "'extra'")]
    [InlineData("""{"consumer_identity":"orders-projector","started":true,"position":1,"position":2}""", "repeated")]
    [InlineData("""{"consumer_identity":"\ud800","started":true,"position":1}""", "not valid Unicode")]
    public void Read_InvalidJson_IsAFormatExceptionQuotingTheProblem(string json, string expected)
    {
        var ex = Should.Throw<FormatException>(() => Read(json));
        ex.Message.ShouldContain(expected);
    }

    [Fact]
    public void CompareTo_OrdersByProgressAndDivergesAcrossIdentities()
    {
        var notStarted = new CursorOffset(CursorCheckpoint.NotStarted(Identity));
        var atZero = new CursorOffset(CursorCheckpoint.At(0, Identity));
        var atFive = new CursorOffset(CursorCheckpoint.At(5, Identity));
        notStarted.CompareTo(atZero).ShouldBe(OffsetOrder.Before);
        atFive.CompareTo(atZero).ShouldBe(OffsetOrder.After);
        atFive.CompareTo(new CursorOffset(CursorCheckpoint.At(5, Identity))).ShouldBe(OffsetOrder.Same);
        atFive.CompareTo(new CursorOffset(CursorCheckpoint.At(5, "billing"))).ShouldBe(OffsetOrder.Diverged);
        atFive.CompareTo(GenericOffset.Parse("cursor", "{}")).ShouldBe(OffsetOrder.Diverged);
        notStarted.CommittedCount.ShouldBe(0UL);
        atZero.CommittedCount.ShouldBe(1UL);
        new CursorOffset(CursorCheckpoint.At(ulong.MaxValue, Identity)).CommittedCount.ShouldBe(ulong.MaxValue);
    }

    [Fact]
    public async Task LoadCursor_CountNotMatchingThePosition_RefusedAsCorrupt()
    {
        using var store = new FileCheckpoint(_dir.Path);
        await store.SaveAsync(new CursorOffset(CursorCheckpoint.At(10, Identity)), 5, Ct);
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.LoadCursorAsync(Identity, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain(_dir.Path);
    }

    [Fact]
    public async Task LegacyCursorFile_StaysReadable_AndMovesToTheStoreContractWithoutLosingItsPosition()
    {
        // A file written by CursorCheckpointStore (format v1, tests/Golden/cursor-v1.cursor.json) still loads, and its
        // position can be carried over to any ICheckpointStore.
        var legacy = new CursorCheckpointStore(_dir.Path);
        Directory.CreateDirectory(legacy.CursorDirectory);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Golden", "cursor-v1.cursor.json"), legacy.GetPath("orders-projector"));
        File.SetUnixFileMode(legacy.GetPath("orders-projector"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var old = (await legacy.LoadAsync("orders-projector", "region:orders/eu-west", Ct)).ShouldNotBeNull();

        using var store = new FileCheckpoint(Path.Combine(_dir.Path, "cursor-store"), new FileCheckpointOptions { CreateDirectory = true });
        await store.SaveCursorAsync(old, Ct);
        (await store.LoadCursorAsync("region:orders/eu-west", Ct)).ShouldNotBeNull().CompareProgress(old).ShouldBe(0);
    }

    [Fact]
    public async Task Resume_AfterRestart_RedeliversOnlyTheBatchesAfterTheLastSave()
    {
        // Process 1 delivers three batches of 3 and saves after the first two; it crashes while handling the third.
        var checkpointDir = Path.Combine(_dir.Path, "cursor");
        var handled = new List<ulong>();
        var source = new StreamChangelogBuffer(64, ChangelogOverflowPolicy.OverwriteOldest);
        for (ulong s = 0; s < 12; s++)
        {
            source.TryPush(new StreamChangelogEntry(0, StreamChangeOp.Insert, s, 0));
        }

        using (var store = new FileCheckpoint(checkpointDir, new FileCheckpointOptions { CreateDirectory = true }))
        {
            var cursor = new ChangelogCursor(source, await store.LoadCursorAsync(Identity, Ct) ?? CursorCheckpoint.NotStarted(Identity));
            for (var i = 0; i < 3; i++)
            {
                var batch = await cursor.PollBatchAsync(3, TimeSpan.Zero, Ct);
                handled.AddRange(batch.Records.Select(r => r.Position));
                if (i < 2)
                {
                    await store.SaveCursorAsync(cursor.Checkpoint, Ct);
                }
            }
        }

        handled.ShouldBe([0UL, 1UL, 2UL, 3UL, 4UL, 5UL, 6UL, 7UL, 8UL]);

        // Process 2: the writer replays its source from an older point (position 2) and numbers the entries as before.
        var replay = new StreamChangelogBuffer(64, ChangelogOverflowPolicy.OverwriteOldest, firstPosition: 2);
        for (ulong s = 2; s < 12; s++)
        {
            replay.TryPush(new StreamChangelogEntry(0, StreamChangeOp.Insert, s, 0), out var position);
            position.ShouldBe(s);
        }

        using (var store = new FileCheckpoint(checkpointDir))
        {
            var resumed = (await store.LoadCursorAsync(Identity, Ct)).ShouldNotBeNull();
            resumed.ShouldBe(CursorCheckpoint.At(5, Identity) with { SavedAt = resumed.SavedAt });
            var cursor = new ChangelogCursor(replay, resumed);
            var batch = await cursor.PollBatchAsync(100, TimeSpan.Zero, Ct);
            batch.Gaps.ShouldBeEmpty();
            var again = batch.Records.Select(r => r.Position).ToList();
            again.ShouldBe([6UL, 7UL, 8UL, 9UL, 10UL, 11UL]);
            again.Intersect(handled).ShouldBe([6UL, 7UL, 8UL], "exactly the batch after the last save is delivered twice");
            batch.Records.ShouldAllBe(r => r.Entry.Sequence == r.Position);
        }
    }
}
