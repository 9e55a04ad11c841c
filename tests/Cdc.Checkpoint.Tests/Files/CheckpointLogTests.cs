using System.Buffers.Binary;
using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using Cdc.Checkpoint.Tests.Support;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Files;

public sealed class CheckpointLogConformanceTests : CheckpointStoreConformanceTests
{
    private readonly List<TempDirectory> _dirs = [];

    private static CheckpointLogOptions Options => new() { Codecs = OffsetCodecRegistry.Empty.With(ConformanceOffset.OffsetCodec) };

    protected override Task<ICheckpointStore> CreateStoreAsync()
    {
        var dir = new TempDirectory();
        _dirs.Add(dir);
        return Task.FromResult<ICheckpointStore>(new CheckpointLog(dir.Path, Options));
    }

    protected override Task<ICheckpointStore> ReopenAsync(ICheckpointStore store)
    {
        var log = (CheckpointLog)store;
        log.Dispose();
        return Task.FromResult<ICheckpointStore>(new CheckpointLog(log.DirectoryPath, Options));
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (var dir in _dirs)
        {
            dir.Dispose();
        }
    }
}

public sealed class CheckpointLogTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static CheckpointLogOptions Options(int segmentBytes = 1024 * 1024) => new()
    {
        Codecs = OffsetCodecRegistry.Empty.WithPostgres(),
        SegmentBytes = segmentBytes,
        MaxRecordBytes = Math.Min(64 * 1024, segmentBytes / 4),
    };

    private static PostgresOffset At(ulong count) => new(new NpgsqlTypes.NpgsqlLogSequenceNumber(0x1_0000_0000UL + (count * 0x80)), "orders_slot", 7311234567890123456, timeline: 1);

    private string Segment => _dir.File(CheckpointLog.SegmentFileName);

    public void Dispose() => _dir.Dispose();

    private async Task SaveRangeAsync(ulong from, ulong to, CheckpointLogOptions? options = null)
    {
        using var log = new CheckpointLog(_dir.Path, options ?? Options());
        for (var count = from; count <= to; count++)
        {
            await log.SaveAsync(At(count), count, Ct);
        }
    }

    private async Task<CheckpointRecord?> LoadAsync(ListLoggerFactory? loggers = null)
    {
        using var log = new CheckpointLog(_dir.Path, Options(), loggers);
        return await log.LoadAsync(PostgresOffset.StreamingSourceType, Ct);
    }

    [Fact]
    public async Task Save_AfterTheFirst_AppendsInPlaceWithoutRenameOrResize()
    {
        using var log = new CheckpointLog(_dir.Path, Options());
        await log.SaveAsync(At(1), 1, Ct);
        LibC.Lstat(Segment, out var first).ShouldBe(0);
        first.Size.ShouldBe(1024 * 1024);
        first.Permissions.ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);

        for (ulong count = 2; count <= 50; count++)
        {
            await log.SaveAsync(At(count), count, Ct);
        }

        LibC.Lstat(Segment, out var after).ShouldBe(0);
        after.SameFileAs(first).ShouldBeTrue("saves append into the same segment; no rename");
        after.Size.ShouldBe(first.Size);
        Directory.EnumerateFiles(_dir.Path).Select(Path.GetFileName).Order().ShouldBe([".cdc-checkpoint.lease", CheckpointLog.SegmentFileName]);

        var contents = LogSegment.Read(File.ReadAllBytes(Segment), Segment, OffsetCodecRegistry.Empty.WithPostgres(), 64 * 1024);
        contents.Frames.Count.ShouldBe(50);
        contents.TornTail.ShouldBeNull();
        contents.Latest[PostgresOffset.StreamingSourceType].CommittedEventCount.ShouldBe(50UL);
    }

    [Fact]
    public async Task Reopen_FirstSaveOfANewOwner_WritesAFreshSegmentWithTheLiveRecords()
    {
        await SaveRangeAsync(1, 10);
        LibC.Lstat(Segment, out var before).ShouldBe(0);

        using (var log = new CheckpointLog(_dir.Path, Options()))
        {
            (await log.LoadLatestAsync(Ct)).ShouldNotBeNull().CommittedEventCount.ShouldBe(10UL);
            LibC.Lstat(Segment, out var loaded).ShouldBe(0);
            loaded.SameFileAs(before).ShouldBeTrue("a load writes nothing");
            await log.SaveAsync(At(11), 11, Ct);
        }

        LibC.Lstat(Segment, out var after).ShouldBe(0);
        after.SameFileAs(before).ShouldBeFalse();
        var contents = LogSegment.Read(File.ReadAllBytes(Segment), Segment, OffsetCodecRegistry.Empty.WithPostgres(), 64 * 1024);
        contents.SegmentId.ShouldBe(2UL); // the first owner wrote segment 1
        contents.Frames.Select(f => f.Record.CommittedEventCount).ShouldBe([11UL], "a fresh segment holds the live records: the newest of each source type");
    }

    [Fact]
    public async Task Save_SegmentFull_CompactsIntoAFreshSegmentOfTheSameSize()
    {
        var options = Options(segmentBytes: 64 * 1024);
        await SaveRangeAsync(1, 600, options);

        LibC.Lstat(Segment, out var status).ShouldBe(0);
        status.Size.ShouldBe(64 * 1024);
        var contents = LogSegment.Read(File.ReadAllBytes(Segment), Segment, OffsetCodecRegistry.Empty.WithPostgres(), 16 * 1024);
        contents.SegmentId.ShouldBeGreaterThan(2UL, "600 frames of ~400 bytes do not fit in one 64 KiB segment");
        contents.Latest[PostgresOffset.StreamingSourceType].CommittedEventCount.ShouldBe(600UL);
        contents.Latest[PostgresOffset.StreamingSourceType].Sequence.ShouldBe(600UL);
        (await LoadAsync()).ShouldNotBeNull().Offset.ShouldBe(At(600));
    }

    [Fact]
    public async Task Load_TornLastFrame_IgnoredAndLoggedAndTheNextSaveStartsAFreshSegment()
    {
        await SaveRangeAsync(1, 5);
        var bytes = File.ReadAllBytes(Segment);
        var contents = LogSegment.Read(bytes, Segment, OffsetCodecRegistry.Empty.WithPostgres(), 64 * 1024);

        // A save of count 6 that reached the disk only in part: the first 100 bytes of its frame.
        var frame = new byte[512];
        var record = contents.Latest[PostgresOffset.StreamingSourceType] with { CommittedEventCount = 6, Offset = At(6), Sequence = 6 };
        var length = LogSegment.WriteFrame(frame, 6, CheckpointRecordFile.Serialize(record));
        length.ShouldBeGreaterThan(100);
        using (var stream = new FileStream(Segment, FileMode.Open, FileAccess.Write))
        {
            stream.Position = contents.Tail;
            stream.Write(frame, 0, 100);
        }

        var loggers = new ListLoggerFactory();
        (await LoadAsync(loggers)).ShouldNotBeNull().CommittedEventCount.ShouldBe(5UL);
        loggers.Entries.ShouldContain(e => e.EventId.Id == CdcEventId.LogTornTailIgnored);

        await SaveRangeAsync(6, 8);
        var after = LogSegment.Read(File.ReadAllBytes(Segment), Segment, OffsetCodecRegistry.Empty.WithPostgres(), 64 * 1024);
        after.TornTail.ShouldBeNull();
        after.Latest[PostgresOffset.StreamingSourceType].CommittedEventCount.ShouldBe(8UL);
    }

    [Fact]
    public async Task Load_DamagedFrameBeforeAValidOne_IsCorruptNotSkipped()
    {
        await SaveRangeAsync(1, 5);
        var bytes = File.ReadAllBytes(Segment);
        var contents = LogSegment.Read(bytes, Segment, OffsetCodecRegistry.Empty.WithPostgres(), 64 * 1024);
        bytes[contents.Frames[2].Position + 40] ^= 0x01; // one bit of the third of five frames
        File.WriteAllBytes(Segment, bytes);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await LoadAsync());
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain("a valid frame follows");
        ex.Path.ShouldBe(Segment);
    }

    [Fact]
    public async Task Load_DamagedHeader_IsCorrupt_AndAnotherVersionIsUnsupported()
    {
        await SaveRangeAsync(1, 2);
        var bytes = File.ReadAllBytes(Segment);

        var flipped = (byte[])bytes.Clone();
        flipped[16] ^= 0x04; // the segment id, under the header's CRC
        File.WriteAllBytes(Segment, flipped);
        (await Should.ThrowAsync<CheckpointException>(async () => await LoadAsync())).ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);

        var version2 = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(version2.AsSpan(8), 2);
        BinaryPrimitives.WriteUInt32LittleEndian(version2.AsSpan(28), Crc32COf(version2.AsSpan(0, 28)));
        File.WriteAllBytes(Segment, version2);
        (await Should.ThrowAsync<CheckpointException>(async () => await LoadAsync())).ErrorCode.ShouldBe(CheckpointErrorCode.UnsupportedFormatVersion);

        File.WriteAllBytes(Segment, bytes[..20]);
        (await Should.ThrowAsync<CheckpointException>(async () => await LoadAsync())).ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
    }

    [Fact]
    public async Task Save_DirectoryOfAFileCheckpoint_RefusedAsMisconfigured()
    {
        using (var file = new FileCheckpoint(_dir.Path, new FileCheckpointOptions { Codecs = OffsetCodecRegistry.Empty.WithPostgres() }))
        {
            await file.SaveAsync(At(1), 1, Ct);
        }

        using var log = new CheckpointLog(_dir.Path, Options());
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await log.SaveAsync(At(2), 2, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
        ex.Message.ShouldContain("checkpoint_postgres.json");
        File.Exists(Segment).ShouldBeFalse();
    }

    [Fact]
    public async Task FileCheckpoint_OnALogDirectory_RefusedAsMisconfiguredNeverAnEmptyStart()
    {
        await SaveRangeAsync(1, 3);
        using var file = new FileCheckpoint(_dir.Path, new FileCheckpointOptions { Codecs = OffsetCodecRegistry.Empty.WithPostgres() });
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await file.LoadLatestAsync(Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
        ex.Message.ShouldContain(CheckpointLog.SegmentFileName);
        (await LoadAsync()).ShouldNotBeNull().CommittedEventCount.ShouldBe(3UL);
    }

    [Fact]
    public async Task FileCheckpoint_OnADirectoryThisProcessLeasedForALog_RefusedAndTheLogKeepsWorking()
    {
        // The log holds the lease but has written no segment yet: only the lease's claim tells the two stores apart.
        using var log = new CheckpointLog(_dir.Path, Options());
        await log.AcquireLeaseAsync(Ct);
        using (var file = new FileCheckpoint(_dir.Path, new FileCheckpointOptions { Codecs = OffsetCodecRegistry.Empty.WithPostgres() }))
        {
            var ex = await Should.ThrowAsync<CheckpointException>(async () => await file.SaveAsync(At(1), 1, Ct));
            ex.ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
            ex.Message.ShouldContain("CheckpointLog");
        }

        await log.SaveAsync(At(2), 2, Ct);
        (await log.LoadLatestAsync(Ct)).ShouldNotBeNull().CommittedEventCount.ShouldBe(2UL);
        Directory.GetFiles(_dir.Path, "checkpoint_*.json").ShouldBeEmpty();
    }

    [Fact]
    public async Task Save_AnotherFamily_RefusedAsMixedFamilies()
    {
        await SaveRangeAsync(1, 1);
        using var log = new CheckpointLog(_dir.Path, Options());
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await log.SaveAsync(new GenericOffset("mysql", System.Text.Json.JsonDocument.Parse("1").RootElement), 2, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.MixedSourceFamilies);
    }

    [Fact]
    public async Task Load_SegmentIsASymbolicLink_Refused()
    {
        using var target = new TempDirectory();
        await SaveRangeAsync(1, 1);
        File.Move(Segment, target.File("elsewhere.seg"));
        File.CreateSymbolicLink(Segment, target.File("elsewhere.seg"));
        (await Should.ThrowAsync<CheckpointException>(async () => await LoadAsync())).ErrorCode.ShouldBe(CheckpointErrorCode.SymbolicLinkRefused);
    }

    [Fact]
    public async Task Save_SegmentRewrittenByAnotherWriter_RefusedAsModifiedExternally()
    {
        using var log = new CheckpointLog(_dir.Path, Options());
        await log.SaveAsync(At(1), 1, Ct);
        await log.SaveAsync(At(2), 2, Ct);
        var bytes = File.ReadAllBytes(Segment);
        await Task.Delay(20, Ct); // a coarse file clock: let the modification time move
        File.Delete(Segment);
        File.WriteAllBytes(Segment, bytes);
        File.SetUnixFileMode(Segment, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        (await Should.ThrowAsync<CheckpointException>(async () => await log.SaveAsync(At(3), 3, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.ModifiedExternally);
    }

    [Fact]
    public async Task Save_SegmentReplacedByAnIdenticalCopyWithItsTimes_RefusedAsModifiedExternally()
    {
        // After an append the owner remembers the segment through its descriptor: a copy renamed over it, byte for byte
        // and with the same modification time, is still another file.
        using var log = new CheckpointLog(_dir.Path, Options());
        await log.SaveAsync(At(1), 1, Ct);
        await log.SaveAsync(At(2), 2, Ct);
        var copy = _dir.File("copy.seg");
        File.Copy(Segment, copy);
        File.SetLastWriteTimeUtc(copy, File.GetLastWriteTimeUtc(Segment));
        File.Move(copy, Segment, overwrite: true);
        var planted = File.ReadAllBytes(Segment);

        (await Should.ThrowAsync<CheckpointException>(async () => await log.SaveAsync(At(3), 3, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.ModifiedExternally);
        File.ReadAllBytes(Segment).ShouldBe(planted);
    }

    [Fact]
    public async Task Save_AnOlderCopyWrittenOverTheSegmentInPlace_RefusedAndLeftAsFound()
    {
        // `cp backup.seg checkpoint_log.seg` writes into the same inode, at once after the owner's last save: no rename
        // for the inode check to see, and no tick of a coarse file clock for a time check. The frames are read back.
        using var log = new CheckpointLog(_dir.Path, Options());
        await log.SaveAsync(At(1), 1, Ct);
        await log.SaveAsync(At(2), 2, Ct);
        var older = File.ReadAllBytes(Segment);
        await log.SaveAsync(At(3), 3, Ct);
        using (var stream = new FileStream(Segment, FileMode.Open, FileAccess.Write))
        {
            stream.Write(older);
        }

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await log.SaveAsync(At(4), 4, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.ModifiedExternally);
        ex.Message.ShouldContain("the frame this owner last wrote");
        File.ReadAllBytes(Segment).ShouldBe(older);
        (await Should.ThrowAsync<CheckpointException>(async () => await log.LoadAsync(At(1).SourceType, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.ModifiedExternally);
    }

    [Fact]
    public async Task Save_AFrameOfAnotherWriterAfterTheLastFrame_RefusedAndLeftAsFound()
    {
        // A second writer that ignores the lease appends where this owner's frames end: recovery would read that frame.
        using var log = new CheckpointLog(_dir.Path, Options());
        await log.SaveAsync(At(1), 1, Ct);
        await log.SaveAsync(At(2), 2, Ct);
        var tail = (await CheckpointLog.ReadAsync(_dir.Path, cancellationToken: Ct))!.Tail;
        using (var stream = new FileStream(Segment, FileMode.Open, FileAccess.Write))
        {
            stream.Position = tail;
            stream.Write([1, 2, 3, 4, 5, 6, 7, 8]);
        }

        var planted = File.ReadAllBytes(Segment);
        (await Should.ThrowAsync<CheckpointException>(async () => await log.LoadAsync(At(1).SourceType, Ct))).Message.ShouldContain("after the last frame this owner wrote");
        (await Should.ThrowAsync<CheckpointException>(async () => await log.SaveAsync(At(3), 3, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.ModifiedExternally);
        File.ReadAllBytes(Segment).ShouldBe(planted);
    }

    [Fact]
    public async Task Save_SegmentMadeGroupReadableWhileOwned_Refused()
    {
        // Between appends the segment's times are not asked for; a chmod, which only moves the ctime, is still seen.
        using var log = new CheckpointLog(_dir.Path, Options());
        await log.SaveAsync(At(1), 1, Ct);
        await log.SaveAsync(At(2), 2, Ct);
        File.SetUnixFileMode(Segment, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

        (await Should.ThrowAsync<CheckpointException>(async () => await log.SaveAsync(At(3), 3, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.ModifiedExternally);
        (await Should.ThrowAsync<CheckpointException>(async () => await log.LoadAsync(At(1).SourceType, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.ModifiedExternally);
    }

    [Fact]
    public async Task Save_SegmentHardLinkedWhileOwned_Refused()
    {
        using var log = new CheckpointLog(_dir.Path, Options());
        await log.SaveAsync(At(1), 1, Ct);
        await log.SaveAsync(At(2), 2, Ct);
        using (var ln = System.Diagnostics.Process.Start("ln", [Segment, _dir.File("second-name.seg")]))
        {
            await ln.WaitForExitAsync(Ct);
            ln.ExitCode.ShouldBe(0);
        }

        (await Should.ThrowAsync<CheckpointException>(async () => await log.SaveAsync(At(3), 3, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.ModifiedExternally);
    }

    [Fact]
    public async Task Save_SegmentTruncatedInPlace_RefusedAsModifiedExternally()
    {
        using var log = new CheckpointLog(_dir.Path, Options());
        await log.SaveAsync(At(1), 1, Ct);
        await log.SaveAsync(At(2), 2, Ct);
        using (var stream = new FileStream(Segment, FileMode.Open, FileAccess.Write))
        {
            stream.SetLength(100);
        }

        (await Should.ThrowAsync<CheckpointException>(async () => await log.SaveAsync(At(3), 3, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.ModifiedExternally);
        new FileInfo(Segment).Length.ShouldBe(100);
    }

    [Fact]
    public async Task Saves_ManyAppendsAndACompaction_EachReadsBackTheFrameBeforeIt()
    {
        // The frame the read-back expects changes with every append and is rebuilt by every compaction: a long run of
        // saves through a small segment must never refuse itself.
        var log = new CheckpointLog(_dir.Path, Options(CheckpointLogOptions.MinSegmentBytes));
        for (ulong i = 1; i <= 400; i++)
        {
            await log.SaveAsync(At(i), i, Ct);
            if (i % 50 == 0)
            {
                (await log.LoadAsync(At(i).SourceType, Ct))!.CommittedEventCount.ShouldBe(i);
            }
        }

        var segmentId = (await CheckpointLog.ReadAsync(_dir.Path, cancellationToken: Ct))!.SegmentId;
        log.Dispose();
        segmentId.ShouldBeGreaterThan(2UL);
        using var reopened = new CheckpointLog(_dir.Path, Options(CheckpointLogOptions.MinSegmentBytes));
        (await reopened.GetCommittedCountAsync(Ct)).ShouldBe(400UL);
    }

    [Fact]
    public async Task Rewind_WritesTheAuditLineFirst_ThenAFrameThatWinsOnRecovery()
    {
        await SaveRangeAsync(1, 10);
        using (var log = new CheckpointLog(_dir.Path, Options()))
        {
            await log.RewindAsync(At(4), 4, "replay after a sink bug", Ct);
            await log.SaveAsync(At(5), 5, Ct);
        }

        File.ReadAllText(_dir.File(FileCheckpoint.AuditLogFileName)).ShouldContain("\trewind\t");
        (await LoadAsync()).ShouldNotBeNull().CommittedEventCount.ShouldBe(5UL);
    }

    [Fact]
    public void Options_RecordLargerThanAQuarterOfTheSegment_Refused()
    {
        var options = new CheckpointLogOptions { SegmentBytes = 64 * 1024, MaxRecordBytes = 32 * 1024 };
        Should.Throw<ArgumentOutOfRangeException>(() => new CheckpointLog(_dir.Path, options));
        Should.Throw<ArgumentOutOfRangeException>(() => new CheckpointLogOptions { SegmentBytes = 100_000 });
    }

    [Fact]
    public async Task Golden_CheckedInSegment_ReadsAndTheWriterProducesTheSameBytes()
    {
        var golden = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Golden", "CheckpointLog", CheckpointLog.SegmentFileName));
        var contents = LogSegment.Read(golden, "golden", OffsetCodecRegistry.Empty.WithPostgres(), 64 * 1024);
        contents.SegmentId.ShouldBe(7UL);
        contents.TornTail.ShouldBeNull();
        contents.Frames.Select(f => f.Record.Sequence).ShouldBe([1UL, 2UL]);
        var latest = contents.Latest[PostgresOffset.StreamingSourceType];
        latest.CommittedEventCount.ShouldBe(1900UL);
        latest.Offset.ShouldBe(new PostgresOffset(new NpgsqlTypes.NpgsqlLogSequenceNumber(0x16B4000), "orders_slot", 7311234567890123456, timeline: 1));

        var (built, tail) = LogSegment.Build(7, contents.Frames.Select(f => f.Record), 64 * 1024, reuse: null, out _);
        tail.ShouldBe(golden.Length - 16);
        built.AsSpan(0, golden.Length).SequenceEqual(golden).ShouldBeTrue("the writer's bytes differ from the specification's");
        built.AsSpan(golden.Length).IndexOfAnyExcept((byte)0).ShouldBe(-1);

        File.WriteAllBytes(Segment, golden);
        File.SetUnixFileMode(Segment, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        (await LoadAsync()).ShouldNotBeNull().CommittedEventCount.ShouldBe(1900UL);
    }

    private static uint Crc32COf(ReadOnlySpan<byte> data) => Cdc.Checkpoint.Streaming.Crc32C.Compute(data);
}
