using System.Text;
using Cdc.Checkpoint.Cursors;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Tests.Streaming;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Cursors;

public sealed class CursorCheckpointStoreTests : IDisposable
{
    private const string Identity = "region:orders/eu-west";
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private static readonly DateTimeOffset Start = new(2024, 1, 28, 0, 0, 0, TimeSpan.Zero);

    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _time = new(Start);
    private readonly ListLoggerFactory _logs = new();
    private readonly CursorCheckpointStore _store;

    public CursorCheckpointStoreTests()
    {
        _store = new CursorCheckpointStore(_dir.Path, timeProvider: _time, loggerFactory: _logs);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    private void WriteRaw(string cursorId, string json)
    {
        Directory.CreateDirectory(_store.CursorDirectory);
        var path = _store.GetPath(cursorId);
        File.WriteAllText(path, json);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, Private);
        }
    }

    [Fact]
    public async Task LoadAsync_NoFile_ReturnsNull()
    {
        (await _store.LoadAsync("orders", Identity, Ct)).ShouldBeNull();
        Directory.Exists(_store.CursorDirectory).ShouldBeFalse();
    }

    [Fact]
    public async Task SaveAsync_ThenLoad_RoundTripsPositionStartedAndIdentity()
    {
        var saved = await _store.SaveAsync("orders", CursorCheckpoint.At(42, Identity), Ct);
        saved.SavedAt.ShouldBe(Start);
        var loaded = await _store.LoadAsync("orders", Identity, Ct);
        loaded.ShouldNotBeNull();
        loaded.Position.ShouldBe(42ul);
        loaded.Started.ShouldBeTrue();
        loaded.ConsumerIdentity.ShouldBe(Identity);
        loaded.SavedAt.ShouldBe(Start);
        loaded.FormatVersion.ShouldBe(CursorCheckpoint.CurrentFormatVersion);
        loaded.ShouldBe(saved);
    }

    [Fact]
    public async Task SaveAsync_StartedAtZeroAndNotStarted_RoundTripAsDistinctPositions()
    {
        await _store.SaveAsync("fresh", CursorCheckpoint.NotStarted(Identity), Ct);
        await _store.SaveAsync("zero", CursorCheckpoint.At(0, Identity), Ct);
        var fresh = await _store.LoadAsync("fresh", Identity, Ct);
        var zero = await _store.LoadAsync("zero", Identity, Ct);
        fresh!.Started.ShouldBeFalse();
        fresh.NextPosition.ShouldBe(0ul);
        zero!.Started.ShouldBeTrue();
        zero.NextPosition.ShouldBe(1ul);
    }

    [Fact]
    public async Task SaveAsync_FromNotStartedToZero_IsProgress()
    {
        await _store.SaveAsync("c", CursorCheckpoint.NotStarted(Identity), Ct);
        await _store.SaveAsync("c", CursorCheckpoint.At(0, Identity), Ct);
        (await _store.LoadAsync("c", Identity, Ct))!.Started.ShouldBeTrue();
    }

    [Fact]
    public async Task SaveAsync_CreatesPrivateDirectoryAndFile()
    {
        await _store.SaveAsync("orders", CursorCheckpoint.At(1, Identity), Ct);
        var path = Path.Combine(_dir.Path, "cursors", "orders.cursor.json");
        _store.GetPath("orders").ShouldBe(path);
        File.Exists(path).ShouldBeTrue();
        if (!OperatingSystem.IsWindows())
        {
            File.GetUnixFileMode(path).ShouldBe(Private);
            File.GetUnixFileMode(_store.CursorDirectory).ShouldBe(Private | UnixFileMode.UserExecute);
        }

        Directory.GetFiles(_store.CursorDirectory).ShouldBe([path]);
        _logs.Entries.ShouldContain(e => e.EventId == CdcEventId.CursorSaved);
    }

    [Fact]
    public async Task LoadAsync_OtherIdentity_FailsClosedNamingBoth()
    {
        await _store.SaveAsync("orders", CursorCheckpoint.At(42, Identity), Ct);
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await _store.LoadAsync("orders", "region:orders/us-east", Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.IdentityMismatch);
        ex.Message.ShouldContain($"'{Identity}'");
        ex.Message.ShouldContain("'region:orders/us-east'");
        ex.Path.ShouldBe(_store.GetPath("orders"));
    }

    [Fact]
    public async Task LoadAsync_Failure_IsReportedThroughTheTaskNotThrownFromTheCall()
    {
        WriteRaw("orders", "garbage");
        var task = _store.LoadAsync("orders", Identity, Ct);
        task.IsFaulted.ShouldBeTrue();
        (await Should.ThrowAsync<CheckpointException>(async () => await task)).ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
    }

    [Fact]
    public async Task LoadAsync_FileWithoutIdentity_FailsClosed()
    {
        WriteRaw("orders", """{"format_version":1,"cursor_id":"orders","started":true,"position":5}""");
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await _store.LoadAsync("orders", Identity, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.IdentityMismatch);
        ex.Message.ShouldContain("'(none)'");
        ex.Message.ShouldContain(Identity);
    }

    [Fact]
    public async Task LoadAsync_FileOfAnotherCursorId_FailsClosed()
    {
        await _store.SaveAsync("orders", CursorCheckpoint.At(3, Identity), Ct);
        Directory.CreateDirectory(_store.CursorDirectory);
        File.Copy(_store.GetPath("orders"), _store.GetPath("payments"));
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await _store.LoadAsync("payments", Identity, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.IdentityMismatch);
        ex.Message.ShouldContain("belongs to cursor 'orders'");
    }

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("null")]
    [InlineData("[1,2]")]
    [InlineData("\u0000\u0001garbage")]
    [InlineData("""{"format_version":1,"cursor_id":"orders","consumer_identity":"region:orders/eu-west","position":5}""")]
    [InlineData("""{"format_version":1,"cursor_id":"orders","consumer_identity":"region:orders/eu-west","started":false,"position":5}""")]
    [InlineData("""{"format_version":1,"cursor_id":"orders","consumer_identity":"region:orders/eu-west","started":true,"position":-1}""")]
    [InlineData("""{"format_version":1,"cursor_id":"orders","consumer_identity":"region:orders/eu-west","started":true,"position":"5"}""")]
    [InlineData("""{"format_version":1,"cursor_id":"orders","consumer_identity":"region:orders/eu-west","started":true,"position":5,"extra":1}""")]
    [InlineData("""{"format_version":1,"cursor_id":"orders","consumer_identity":"region:orders/eu-west","started":true,"position":5,"position":9}""")]
    public async Task LoadAsync_CorruptFile_FailsClosedInsteadOfRewinding(string contents)
    {
        WriteRaw("orders", contents);
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await _store.LoadAsync("orders", Identity, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain(_store.GetPath("orders"));
        ex.Message.ShouldContain("RewindAsync");
    }

    [Theory]
    [InlineData("""{"cursor_id":"orders","consumer_identity":"region:orders/eu-west","started":true,"position":5}""", "declares no format_version")]
    [InlineData("""{"format_version":2,"cursor_id":"orders","consumer_identity":"region:orders/eu-west","started":true,"position":5}""", "format_version 2")]
    public async Task LoadAsync_UnknownFormatVersion_IsUnsupported(string contents, string expected)
    {
        WriteRaw("orders", contents);
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await _store.LoadAsync("orders", Identity, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.UnsupportedFormatVersion);
        ex.Message.ShouldContain(expected);
    }

    [Fact]
    public async Task LoadAsync_GoldenFile_Decodes()
    {
        var golden = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Golden", "cursor-v1.cursor.json"), Ct);
        WriteRaw("orders-projector", golden);
        var loaded = await _store.LoadAsync("orders-projector", Identity, Ct);
        loaded.ShouldBe(CursorCheckpoint.At(0, Identity) with { SavedAt = Start });
    }

    [Fact]
    public async Task SaveAsync_Output_HasTheGoldenShape()
    {
        await _store.SaveAsync("orders-projector", CursorCheckpoint.At(0, Identity), Ct);
        var written = await File.ReadAllTextAsync(_store.GetPath("orders-projector"), Ct);
        var golden = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Golden", "cursor-v1.cursor.json"), Ct);
        written.ReplaceLineEndings().TrimEnd().ShouldBe(golden.ReplaceLineEndings().TrimEnd());
    }

    [Fact]
    public async Task LoadAsync_InsecurePermissions_FailsClosed()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        await _store.SaveAsync("orders", CursorCheckpoint.At(1, Identity), Ct);
        File.SetUnixFileMode(_store.GetPath("orders"), Private | UnixFileMode.OtherRead);
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await _store.LoadAsync("orders", Identity, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.InsecurePermissions);
    }

    [Fact]
    public async Task LoadAsync_SymbolicLink_IsRefused()
    {
        await _store.SaveAsync("orders", CursorCheckpoint.At(1, Identity), Ct);
        File.CreateSymbolicLink(_store.GetPath("linked"), _store.GetPath("orders"));
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await _store.LoadAsync("linked", Identity, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.SymbolicLinkRefused);
    }

    [Fact]
    public async Task LoadAsync_PathIsADirectory_FailsClosedInsideTheTask()
    {
        Directory.CreateDirectory(_store.GetPath("orders"));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(_store.GetPath("orders"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var task = _store.LoadAsync("orders", Identity, Ct);
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await task);
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.UnsafeFile, ex.Message);
        ex.Message.ShouldContain(_store.GetPath("orders"));
    }

    [Fact]
    public async Task LoadAsync_OversizedFile_IsRefused()
    {
        WriteRaw("orders", new string(' ', 70_000));
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await _store.LoadAsync("orders", Identity, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.RecordTooLarge);
    }

    [Fact]
    public async Task SaveAsync_Backwards_IsRefusedAndLeavesFileUnchanged()
    {
        await _store.SaveAsync("orders", CursorCheckpoint.At(10, Identity), Ct);
        var before = await File.ReadAllBytesAsync(_store.GetPath("orders"), Ct);
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await _store.SaveAsync("orders", CursorCheckpoint.At(5, Identity), Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        ex.Message.ShouldContain("position 10");
        ex.Message.ShouldContain("position 5");
        ex.Message.ShouldContain("RewindAsync");
        (await File.ReadAllBytesAsync(_store.GetPath("orders"), Ct)).ShouldBe(before);
        _logs.Entries.ShouldContain(e => e.EventId == CdcEventId.CursorSaveRefused);
    }

    [Fact]
    public async Task SaveAsync_StartedBackToNotStarted_IsRefused()
    {
        await _store.SaveAsync("orders", CursorCheckpoint.At(0, Identity), Ct);
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await _store.SaveAsync("orders", CursorCheckpoint.NotStarted(Identity), Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
    }

    [Fact]
    public async Task SaveAsync_SamePosition_IsANoOpKeepingTheFirstSaveTime()
    {
        await _store.SaveAsync("orders", CursorCheckpoint.At(10, Identity), Ct);
        _time.Advance(TimeSpan.FromMinutes(5));
        var again = await _store.SaveAsync("orders", CursorCheckpoint.At(10, Identity), Ct);
        again.SavedAt.ShouldBe(Start);
        (await _store.LoadAsync("orders", Identity, Ct))!.SavedAt.ShouldBe(Start);
    }

    [Fact]
    public async Task SaveAsync_OverAnotherConsumersCursor_IsRefused()
    {
        await _store.SaveAsync("orders", CursorCheckpoint.At(10, Identity), Ct);
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await _store.SaveAsync("orders", CursorCheckpoint.At(99, "intruder"), Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.IdentityMismatch);
        (await _store.LoadAsync("orders", Identity, Ct))!.Position.ShouldBe(10ul);
    }

    [Fact]
    public async Task SaveAsync_OverCorruptFile_IsRefused()
    {
        WriteRaw("orders", "{ not json");
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await _store.SaveAsync("orders", CursorCheckpoint.At(1, Identity), Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        (await File.ReadAllTextAsync(_store.GetPath("orders"), Ct)).ShouldBe("{ not json");
    }

    [Fact]
    public async Task RewindAsync_Backwards_MovesAndLogsReason()
    {
        await _store.SaveAsync("orders", CursorCheckpoint.At(10, Identity), Ct);
        var rewound = await _store.RewindAsync("orders", CursorCheckpoint.At(3, Identity), "replay after bug #12", Ct);
        rewound.Position.ShouldBe(3ul);
        (await _store.LoadAsync("orders", Identity, Ct))!.Position.ShouldBe(3ul);
        _logs.Entries.ShouldContain(e => e.EventId == CdcEventId.CursorRewound && e.Message.Contains("replay after bug #12") && e.Message.Contains("position 10"));
    }

    [Fact]
    public async Task RewindAsync_OverCorruptOrForeignFile_Replaces()
    {
        WriteRaw("orders", "garbage");
        await _store.RewindAsync("orders", CursorCheckpoint.NotStarted(Identity), "file lost in disk failure", Ct);
        (await _store.LoadAsync("orders", Identity, Ct))!.Started.ShouldBeFalse();
        await _store.RewindAsync("orders", CursorCheckpoint.At(7, "new-owner"), "ownership moved to new-owner", Ct);
        (await _store.LoadAsync("orders", "new-owner", Ct))!.Position.ShouldBe(7ul);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    public async Task RewindAsync_BlankReason_Throws(string reason) =>
        await Should.ThrowAsync<ArgumentException>(async () => await _store.RewindAsync("orders", CursorCheckpoint.At(1, Identity), reason, Ct));

    [Theory]
    [InlineData("")]
    [InlineData("../escape")]
    [InlineData("a/b")]
    [InlineData("a\\b")]
    [InlineData(".hidden")]
    [InlineData("..")]
    [InlineData("-dash")]
    [InlineData("with space")]
    [InlineData("ünicode")]
    public async Task Operations_UnsafeCursorId_ThrowArgumentException(string cursorId)
    {
        CursorCheckpointStore.IsValidCursorId(cursorId).ShouldBeFalse();
        var ex = await Should.ThrowAsync<ArgumentException>(async () => await _store.LoadAsync(cursorId, Identity, Ct));
        ex.Message.ShouldContain($"'{cursorId}'");
        await Should.ThrowAsync<ArgumentException>(async () => await _store.SaveAsync(cursorId, CursorCheckpoint.At(1, Identity), Ct));
    }

    [Theory]
    [InlineData("a")]
    [InlineData("orders-projector")]
    [InlineData("Orders_v2.eu-west")]
    public void IsValidCursorId_SafeNames_AreAccepted(string cursorId) =>
        CursorCheckpointStore.IsValidCursorId(cursorId).ShouldBeTrue();

    [Fact]
    public void IsValidCursorId_TooLong_IsRejected()
    {
        CursorCheckpointStore.IsValidCursorId(new string('a', 128)).ShouldBeTrue();
        CursorCheckpointStore.IsValidCursorId(new string('a', 129)).ShouldBeFalse();
    }

    [Fact]
    public async Task Operations_MissingDataDirectory_FailWithDirectoryNotFound()
    {
        var store = new CursorCheckpointStore(Path.Combine(_dir.Path, "missing"));
        (await Should.ThrowAsync<CheckpointException>(async () => await store.LoadAsync("orders", Identity, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.DirectoryNotFound);
        (await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync("orders", CursorCheckpoint.At(1, Identity), Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.DirectoryNotFound);
        Directory.Exists(Path.Combine(_dir.Path, "missing")).ShouldBeFalse();
    }

    [Fact]
    public async Task Operations_CancelledToken_ThrowOperationCanceledWithoutWriting()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(async () => await _store.SaveAsync("orders", CursorCheckpoint.At(1, Identity), cts.Token));
        await Should.ThrowAsync<OperationCanceledException>(async () => await _store.LoadAsync("orders", Identity, cts.Token));
        File.Exists(_store.GetPath("orders")).ShouldBeFalse();
    }

    [Fact]
    public async Task SaveAsync_ManyAdvancesFromParallelCallers_EndsAtHighestAndNeverRegresses()
    {
        var positions = Enumerable.Range(1, 40).Select(i => (ulong)i).ToArray();
        var outcomes = await Task.WhenAll(positions.Select(p => Task.Run(async () =>
        {
            try
            {
                await _store.SaveAsync("orders", CursorCheckpoint.At(p, Identity), Ct);
                return true;
            }
            catch (CheckpointException ex) when (ex.ErrorCode == CheckpointErrorCode.OffsetRegression)
            {
                return false;
            }
        }, Ct)));
        outcomes.ShouldContain(true);
        (await _store.LoadAsync("orders", Identity, Ct))!.Position.ShouldBe(40ul);
        Directory.GetFiles(_store.CursorDirectory).Length.ShouldBe(1);
        Encoding.UTF8.GetString(await File.ReadAllBytesAsync(_store.GetPath("orders"), Ct)).ShouldContain("\"position\": 40");
    }
}
