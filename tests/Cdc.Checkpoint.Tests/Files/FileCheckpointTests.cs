using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.Offsets;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Files;

public sealed class FileCheckpointTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static FileCheckpointOptions Options => new() { Codecs = OffsetCodecRegistry.Empty.With(ConformanceOffset.OffsetCodec) };

    private FileCheckpoint Open(FakeTimeProvider? time = null) => new(_dir.Path, Options, timeProvider: time);

    public void Dispose() => _dir.Dispose();

    private static string V1Record(string sourceType, ulong count, string offsetJson, int version = 1) =>
        $$"""{"checkpoint_format_version":{{version}},"source_type":"{{sourceType}}","committed_event_count":{{count}},"offset":{{offsetJson}}}""";

    [Fact]
    public async Task Save_RoundTrip_WritesRecordFileWithCurrentVersionAndPrivateMode()
    {
        var time = new FakeTimeProvider();
        using var checkpoint = Open(time);
        await checkpoint.SaveAsync(new ConformanceOffset(99), 11, Ct);

        var path = _dir.File("checkpoint_conformance.json");
        File.GetUnixFileMode(path).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        using var json = JsonDocument.Parse(File.ReadAllText(path));
        json.RootElement.GetProperty("checkpoint_format_version").GetInt32().ShouldBe(FileCheckpoint.CurrentFormatVersion);
        json.RootElement.GetProperty("source_type").GetString().ShouldBe("conformance");
        json.RootElement.GetProperty("committed_event_count").GetUInt64().ShouldBe(11UL);
        json.RootElement.GetProperty("sequence").GetUInt64().ShouldBe(1UL);
        json.RootElement.GetProperty("saved_at").GetDateTimeOffset().ShouldBe(time.GetUtcNow());
        json.RootElement.GetProperty("offset").GetProperty("position").GetUInt64().ShouldBe(99UL);

        (await checkpoint.GetCommittedCountAsync(Ct)).ShouldBe(11UL);
        (await checkpoint.LoadOffsetAsync<ConformanceOffset>(cancellationToken: Ct)).ShouldBe(new ConformanceOffset(99));
        Directory.GetFiles(_dir.Path, "*.tmp").ShouldBeEmpty();
    }

    [Fact]
    public async Task Load_EmptyDirectory_ReturnsNullAndZeroCount()
    {
        using var checkpoint = Open();
        (await checkpoint.LoadLatestAsync(Ct)).ShouldBeNull();
        (await checkpoint.GetCommittedCountAsync(Ct)).ShouldBe(0UL);
    }

    [Fact]
    public async Task Save_MissingDirectory_FailsWithDirectoryNotFoundNamingIt()
    {
        var missing = Path.Combine(_dir.Path, "missing");
        using var checkpoint = new FileCheckpoint(missing);
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(new ConformanceOffset(1), 1, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.DirectoryNotFound);
        ex.Message.ShouldContain(missing);
        Directory.Exists(missing).ShouldBeFalse();
    }

    [Fact]
    public async Task Save_PathIsAFile_FailsWithDirectoryNotFound()
    {
        _dir.Write("plain", "x");
        using var checkpoint = new FileCheckpoint(_dir.File("plain"));
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(new ConformanceOffset(1), 1, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.DirectoryNotFound);
        ex.Message.ShouldContain("not a directory");
    }

    [Fact]
    public async Task Save_CreateDirectoryOption_CreatesPrivateDirectory()
    {
        var created = Path.Combine(_dir.Path, "new");
        using var checkpoint = new FileCheckpoint(created, new FileCheckpointOptions { CreateDirectory = true });
        await checkpoint.SaveAsync(new ConformanceOffset(1), 1, Ct);
        File.GetUnixFileMode(created).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    [Fact]
    public async Task Load_CorruptJson_ReportsCorruptNeverNoCheckpoint()
    {
        _dir.Write("checkpoint_postgres.json", "{not-json");
        using var checkpoint = Open();
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.LoadLatestAsync(Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain("checkpoint_postgres.json");
        (await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.GetCommittedCountAsync(Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
    }

    [Fact]
    public async Task Load_TruncatedRecord_ReportsCorrupt()
    {
        var full = V1Record("postgres", 7, """{"lsn":42,"slot_name":"s"}""", version: 1);
        _dir.Write("checkpoint_postgres.json", full[..(full.Length / 2)]);
        using var checkpoint = Open();
        (await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.LoadLatestAsync(Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
    }

    [Fact]
    public async Task Save_OverCorruptRecord_RefusedAndCorruptFileKept()
    {
        _dir.Write("checkpoint_conformance.json", "{garbage");
        using var checkpoint = Open();
        (await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(new ConformanceOffset(1), 1, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        File.ReadAllText(_dir.File("checkpoint_conformance.json")).ShouldBe("{garbage");
    }

    [Fact]
    public async Task Save_SecondSourceFamily_RefusedAsMixedFamilies()
    {
        using var checkpoint = Open();
        await checkpoint.SaveAsync(new ConformanceOffset(1), 1, Ct);
        var mysql = GenericOffset.Parse("mysql", """{"gtid_set":"x"}""");
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(mysql, 2, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.MixedSourceFamilies);
        File.Exists(_dir.File("checkpoint_mysql.json")).ShouldBeFalse();
    }

    [Fact]
    public async Task Load_DirectoryWithMixedFamilies_FailsForLoadAndCount()
    {
        _dir.Write("checkpoint_postgres.json", V1Record("postgres", 1, """{"lsn":1,"slot_name":"slot_a"}"""));
        _dir.Write("checkpoint_mysql.json", V1Record("mysql", 2, """{"gtid":"","binlog_file":"mysql-bin.000001","binlog_pos":4}"""));
        using var checkpoint = Open();
        (await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.LoadLatestAsync(Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.MixedSourceFamilies);
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.GetCommittedCountAsync(Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.MixedSourceFamilies);
        ex.Message.ShouldContain("mysql, postgres");
    }

    [Fact]
    public async Task Load_SnapshotAndStreamV1Records_LatestIsTheStreamRecord()
    {
        _dir.Write("checkpoint_postgres.json", V1Record("postgres", 9, """{"lsn":99,"slot_name":"slot_a"}"""));
        _dir.Write("checkpoint_postgres_snapshot.json", V1Record("postgres_snapshot", 3, """{"snapshot_id":"snap-1"}"""));
        File.SetLastWriteTimeUtc(_dir.File("checkpoint_postgres_snapshot.json"), DateTime.UtcNow.AddHours(1)); // mtime must not matter
        using var checkpoint = Open();
        var latest = (await checkpoint.LoadLatestAsync(Ct)).ShouldNotBeNull();
        latest.SourceType.ShouldBe("postgres");
        latest.FormatVersion.ShouldBe(1);
        (await checkpoint.GetCommittedCountAsync(Ct)).ShouldBe(9UL);
    }

    [Fact]
    public async Task LoadLatest_ChoosesHighestSequenceNotModificationTime()
    {
        using (var checkpoint = Open())
        {
            await checkpoint.SaveAsync(new ConformanceOffset(10), 10, Ct);
            await checkpoint.SaveAsync(new ConformanceOffset(2, sourceType: "conformance_snapshot"), 2, Ct);
        }

        File.SetLastWriteTimeUtc(_dir.File("checkpoint_conformance.json"), DateTime.UtcNow.AddDays(1));
        File.SetLastWriteTimeUtc(_dir.File("checkpoint_conformance_snapshot.json"), DateTime.UtcNow.AddDays(-1));
        using var reopened = Open();
        (await reopened.LoadLatestAsync(Ct)).ShouldNotBeNull().SourceType.ShouldBe("conformance_snapshot");
    }

    [Fact]
    public async Task Load_RecordWithoutVersion_RejectedNamingSupportedVersions()
    {
        _dir.Write("checkpoint_postgres.json", """{"source_type":"postgres","committed_event_count":7,"offset":{"lsn":42,"slot_name":"slot"}}""");
        using var checkpoint = Open();
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.LoadLatestAsync(Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.UnsupportedFormatVersion);
        ex.Message.ShouldContain("1, 2");
    }

    [Fact]
    public async Task Load_UnknownVersion_RejectedNamingSupportedVersions()
    {
        _dir.Write("checkpoint_postgres.json", V1Record("postgres", 1, """{"lsn":1,"slot_name":"slot"}""", version: 99));
        using var checkpoint = Open();
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.LoadLatestAsync(Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.UnsupportedFormatVersion);
        ex.Message.ShouldContain("99");
        ex.Message.ShouldContain("1, 2");
    }

    [Fact]
    public async Task Load_SourceTypeNotMatchingFileName_ReportsCorrupt()
    {
        _dir.Write("checkpoint_conformance.json", V1Record("other", 1, """{"position":1,"stream":"main"}""", version: 2).Replace("\"offset\"", "\"sequence\":1,\"offset\"", StringComparison.Ordinal));
        using var checkpoint = Open();
        (await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.LoadLatestAsync(Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
    }

    [Fact]
    public async Task Load_UnknownSourceType_RoundTripsAsGenericOffset()
    {
        _dir.Write("checkpoint_kafka.json", V1Record("kafka", 5, """{"topic":"t","partition":3,"offset":17}"""));
        using var checkpoint = Open();
        var record = (await checkpoint.LoadLatestAsync(Ct)).ShouldNotBeNull();
        var generic = record.Offset.ShouldBeOfType<GenericOffset>();
        generic.Value.GetProperty("offset").GetInt32().ShouldBe(17);

        // Generic offsets are guarded by count only: a higher count with any JSON is accepted.
        await checkpoint.SaveAsync(GenericOffset.Parse("kafka", """{"topic":"t","partition":3,"offset":18}"""), 6, Ct);
        (await checkpoint.LoadAsync("kafka", Ct)).ShouldNotBeNull().Offset.ToJsonString().ShouldBe("""{"topic":"t","partition":3,"offset":18}""");
    }

    [Fact]
    public async Task Load_GroupReadableRecord_RefusedWithModeAndChmodHint()
    {
        using (var checkpoint = Open())
        {
            await checkpoint.SaveAsync(new ConformanceOffset(1), 1, Ct);
        }

        var path = _dir.File("checkpoint_conformance.json");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        using var reopened = Open();
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await reopened.LoadLatestAsync(Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.InsecurePermissions);
        ex.Message.ShouldContain(path);
        ex.Message.ShouldContain("0644");
        ex.Message.ShouldContain("chmod 600");
    }

    [Fact]
    public async Task Load_OtherWritableRecord_Refused()
    {
        _dir.Write("checkpoint_conformance.json", "{}", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherWrite);
        using var checkpoint = Open();
        (await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.LoadLatestAsync(Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.InsecurePermissions);
    }

    [Fact]
    public async Task Load_SymlinkedRecord_Refused()
    {
        using var elsewhere = new TempDirectory();
        elsewhere.Write("real.json", V1Record("conformance", 1, """{"position":1,"stream":"main"}"""));
        File.CreateSymbolicLink(_dir.File("checkpoint_conformance.json"), elsewhere.File("real.json"));
        using var checkpoint = Open();
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.LoadLatestAsync(Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.SymbolicLinkRefused);
        ex.Message.ShouldContain("symbolic link");
    }

    [Fact]
    public async Task Acquire_SymlinkedLeaseFile_Refused()
    {
        using var elsewhere = new TempDirectory();
        elsewhere.Write("lease", "");
        File.CreateSymbolicLink(_dir.File(FileCheckpoint.LeaseFileName), elsewhere.File("lease"));
        using var checkpoint = Open();
        (await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.AcquireLeaseAsync(Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.SymbolicLinkRefused);
    }

    [Fact]
    public async Task Save_RecordSwappedForASymbolicLinkWhileOwned_RefusedAndNeitherFileWritten()
    {
        // The check before a save looks the record up through the lease's directory descriptor (no path walk): it must
        // still see the link itself, never its target.
        using var checkpoint = Open();
        await checkpoint.SaveAsync(new ConformanceOffset(1), 1, Ct);
        using var elsewhere = new TempDirectory();
        var record = _dir.File("checkpoint_conformance.json");
        File.Copy(record, elsewhere.File("real.json"));
        var target = File.ReadAllBytes(elsewhere.File("real.json"));
        File.Delete(record);
        File.CreateSymbolicLink(record, elsewhere.File("real.json"));

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(new ConformanceOffset(2), 2, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.ModifiedExternally);
        new FileInfo(record).LinkTarget.ShouldBe(elsewhere.File("real.json"));
        File.ReadAllBytes(elsewhere.File("real.json")).ShouldBe(target);
    }

    [Fact]
    public async Task Save_LeaseFileSwappedForASymbolicLinkToItself_LeaseLostNothingWritten()
    {
        // The lease file is looked up through the held directory descriptor once the directory at the path is proved to
        // be the held one; a link in its place (even to the locked file itself) is not the file this process locked.
        using var checkpoint = Open();
        await checkpoint.SaveAsync(new ConformanceOffset(1), 1, Ct);
        var record = File.ReadAllBytes(_dir.File("checkpoint_conformance.json"));
        var lease = _dir.File(FileCheckpoint.LeaseFileName);
        File.Move(lease, _dir.File("lease.real"));
        File.CreateSymbolicLink(lease, _dir.File("lease.real"));

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(new ConformanceOffset(2), 2, Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.LeaseLost);
        ex.Message.ShouldContain("no longer the file this process locked");
        File.ReadAllBytes(_dir.File("checkpoint_conformance.json")).ShouldBe(record);
    }

    [Fact]
    public async Task Load_OversizedRecord_RefusedBySizeCap()
    {
        _dir.Write("checkpoint_conformance.json", new string(' ', 2048) + "{}");
        using var checkpoint = new FileCheckpoint(_dir.Path, new FileCheckpointOptions { MaxRecordBytes = 1024 });
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.LoadLatestAsync(Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.RecordTooLarge);
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("a/b")]
    [InlineData("Postgres")]
    [InlineData("")]
    [InlineData("x.json")]
    [InlineData("/etc/passwd")]
    public void SourceType_NamesThatCouldLeaveTheDirectory_Rejected(string name)
    {
        Should.Throw<ArgumentException>(() => new ConformanceOffset(1, sourceType: name));
        Should.Throw<ArgumentException>(() => GenericOffset.Parse(name, "{}"));
    }

    [Fact]
    public async Task LoadAsync_InvalidSourceTypeName_ThrowsArgumentException()
    {
        using var checkpoint = Open();
        await Should.ThrowAsync<ArgumentException>(async () => await checkpoint.LoadAsync("../../etc", Ct));
    }

    [Fact]
    public async Task Save_LowerCount_RefusedAndMetricsTagTheRefusal()
    {
        var refusals = new List<(long Value, string? Error)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Cdc.Checkpoint" && instrument.Name is "cdc.checkpoint.saves" or "cdc.checkpoint.save.duration" or "cdc.checkpoint.refusals")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        var durations = 0;
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (instrument.Name != "cdc.checkpoint.saves")
            {
                return;
            }

            string? error = null;
            string? dir = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "error.type")
                {
                    error = tag.Value as string;
                }

                if (tag.Key == "cdc.source_type")
                {
                    dir = tag.Value as string;
                }
            }

            if (dir == "conformance")
            {
                lock (refusals)
                {
                    refusals.Add((value, error));
                }
            }
        });
        listener.SetMeasurementEventCallback<double>((instrument, value, _, _) =>
        {
            if (instrument.Name == "cdc.checkpoint.save.duration" && value >= 0)
            {
                Interlocked.Increment(ref durations);
            }
        });
        listener.Start();

        using var checkpoint = Open();
        await checkpoint.SaveAsync(new ConformanceOffset(200), 10, Ct);
        await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(new ConformanceOffset(150), 9, Ct));
        listener.Dispose();

        lock (refusals)
        {
            refusals.ShouldContain((1L, (string?)null));
            refusals.ShouldContain((1L, (string?)nameof(CheckpointErrorCode.OffsetRegression)));
        }

        durations.ShouldBeGreaterThanOrEqualTo(2);
    }

    [Fact]
    public async Task Lease_LiveOwnerInAnotherProcess_FailsWithLeaseHeldNamingOwner()
    {
        // A real second process holds the kernel lock on the lease file (flock(1) uses flock(2), as we do).
        var leasePath = _dir.File(FileCheckpoint.LeaseFileName);
        _dir.Write(FileCheckpoint.LeaseFileName, """{"lease_format_version":1,"host":"other-host","pid":4242,"process_start_time":1,"acquired_at":"2026-11-21T10:00:00+00:00","epoch":3}""");
        using var holder = Process.Start(new ProcessStartInfo("flock", ["--exclusive", "--no-fork", leasePath, "sleep", "60"]) { UseShellExecute = false })!;
        try
        {
            await WaitUntilAsync(() => FileCheckpoint.GetLeaseStatus(_dir.Path).State == LeaseState.Held);

            using var checkpoint = Open();
            var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(new ConformanceOffset(1), 1, Ct));
            ex.ErrorCode.ShouldBe(CheckpointErrorCode.LeaseHeld);
            ex.IsTransient.ShouldBeTrue();
            ex.Message.ShouldContain("other-host pid 4242");
            ex.Message.ShouldContain("epoch 3");
            File.Exists(_dir.File("checkpoint_conformance.json")).ShouldBeFalse();
        }
        finally
        {
            holder.Kill();
            await holder.WaitForExitAsync(Ct);
        }

        // The owner is gone: the lease is free and the next owner takes it without help.
        FileCheckpoint.GetLeaseStatus(_dir.Path).State.ShouldBe(LeaseState.Free);
        using var next = Open();
        await next.SaveAsync(new ConformanceOffset(1), 1, Ct);
        next.Lease.ShouldNotBeNull().Epoch.ShouldBe(4);
    }

    [Fact]
    public async Task Lease_StaleRecordOfDeadProcess_TakenOverWithGrowingEpoch()
    {
        _dir.Write(FileCheckpoint.LeaseFileName, $$"""{"lease_format_version":1,"host":"{{Environment.MachineName}}","pid":2147483000,"process_start_time":5,"acquired_at":"2026-11-20T10:00:00+00:00","epoch":7}""");
        using var checkpoint = Open();
        (await checkpoint.GetCommittedCountAsync(Ct)).ShouldBe(0UL);

        var lease = checkpoint.Lease.ShouldNotBeNull();
        lease.Epoch.ShouldBe(8);
        lease.ProcessId.ShouldBe(Environment.ProcessId);
        lease.Host.ShouldBe(Environment.MachineName);
        lease.ProcessStartTime.ShouldBeGreaterThan(0UL);
        var onDisk = LeaseInfo.TryParse(DurableFile.ReadPrivate(_dir.File(FileCheckpoint.LeaseFileName), 4096)) /* .NET File APIs take flock(LOCK_SH) and would block on the held lease */.ShouldNotBeNull();
        onDisk.ShouldBe(lease);
        File.GetUnixFileMode(_dir.File(FileCheckpoint.LeaseFileName)).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    [Fact]
    public async Task Lease_TwoInstancesInOneProcess_ShareTheLeaseUntilTheLastIsDisposed()
    {
        var writer = Open();
        var reader = Open();
        await writer.SaveAsync(new ConformanceOffset(77), 5, Ct);
        (await reader.LoadOffsetAsync<ConformanceOffset>(cancellationToken: Ct)).ShouldBe(new ConformanceOffset(77));
        (await reader.GetCommittedCountAsync(Ct)).ShouldBe(5UL);
        reader.Lease.ShouldBe(writer.Lease);

        writer.Dispose();
        FileCheckpoint.GetLeaseStatus(_dir.Path).State.ShouldBe(LeaseState.Held);
        reader.Dispose();
        var status = FileCheckpoint.GetLeaseStatus(_dir.Path);
        status.State.ShouldBe(LeaseState.Free);
        status.Owner.ShouldNotBeNull().ProcessId.ShouldBe(Environment.ProcessId);
        await Should.ThrowAsync<ObjectDisposedException>(async () => await reader.LoadLatestAsync(Ct));
    }

    [Fact]
    public async Task Lease_LiveRustcdcOwnerOnThisHost_Respected()
    {
        // PID 1 is always alive and is not us.
        _dir.Write(".rustcdc_checkpoint.owner", $"{Environment.MachineName}:1");
        using var checkpoint = Open();
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.LoadLatestAsync(Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.LeaseHeld);
        ex.Message.ShouldContain("rustcdc");
    }

    [Fact]
    public async Task Lease_DeadRustcdcOwner_Ignored()
    {
        _dir.Write(".rustcdc_checkpoint.owner", $"{Environment.MachineName}:2147483000");
        using var checkpoint = Open();
        (await checkpoint.GetCommittedCountAsync(Ct)).ShouldBe(0UL);
    }

    [Fact]
    public async Task Lease_Acquired_RemovesLeftoverTempFilesOfInterruptedWrites()
    {
        _dir.Write("checkpoint_conformance.json.abc123.tmp", "half a rec");
        using var checkpoint = Open();
        await checkpoint.AcquireLeaseAsync(Ct);
        File.Exists(_dir.File("checkpoint_conformance.json.abc123.tmp")).ShouldBeFalse();
    }

    [Fact]
    public async Task Rewind_AppendsAuditLineAndMovesBack()
    {
        using var checkpoint = Open();
        await checkpoint.SaveAsync(new ConformanceOffset(500), 10, Ct);
        await checkpoint.RewindAsync(new ConformanceOffset(100), 2, "replay orders after sink bug", Ct);

        (await checkpoint.LoadAsync("conformance", Ct)).ShouldNotBeNull().Offset.ShouldBe(new ConformanceOffset(100));
        var audit = _dir.File(FileCheckpoint.AuditLogFileName);
        File.GetUnixFileMode(audit).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var line = File.ReadAllLines(audit).ShouldHaveSingleItem();
        line.ShouldContain("rewind");
        line.ShouldContain("old=main@500 (count 10)");
        line.ShouldContain("new=main@100 (count 2)");
        line.ShouldContain("reason=replay orders after sink bug");
        line.ShouldContain($"user={Environment.UserName}");
    }

    [Fact]
    public async Task Reset_RemovesRecordWithAudit()
    {
        using var checkpoint = Open();
        await checkpoint.SaveAsync(new ConformanceOffset(5), 5, Ct);
        (await checkpoint.ResetAsync("conformance", "start over after slot rebuild", Ct)).ShouldBeTrue();
        (await checkpoint.LoadAsync("conformance", Ct)).ShouldBeNull();
        File.ReadAllText(_dir.File(FileCheckpoint.AuditLogFileName)).ShouldContain("reset");
        (await checkpoint.ResetAsync("conformance", "again", Ct)).ShouldBeFalse();
    }

    [Fact]
    public async Task Upgrade_V1Records_RewrittenAsCurrentWithBackupsAndSameProgress()
    {
        var original = V1Record("conformance", 9, """{"position":99,"stream":"main"}""");
        _dir.Write("checkpoint_conformance.json", original);
        _dir.Write("checkpoint_conformance_snapshot.json", V1Record("conformance_snapshot", 3, """{"position":3,"stream":"main"}"""));
        using var checkpoint = Open();

        var dry = await checkpoint.UpgradeAsync(dryRun: true, Ct);
        dry.Count.ShouldBe(2);
        File.ReadAllText(_dir.File("checkpoint_conformance.json")).ShouldBe(original);

        var done = await checkpoint.UpgradeAsync(cancellationToken: Ct);
        done.Select(u => Path.GetFileName(u.Path)).ShouldBe(["checkpoint_conformance_snapshot.json", "checkpoint_conformance.json"]);
        File.ReadAllText(_dir.File("checkpoint_conformance.json.v1.bak")).ShouldBe(original);
        var records = await checkpoint.ListAsync(Ct);
        records.ShouldAllBe(r => r.FormatVersion == FileCheckpoint.CurrentFormatVersion);
        (await checkpoint.LoadLatestAsync(Ct)).ShouldNotBeNull().SourceType.ShouldBe("conformance"); // the stream record stays the latest
        (await checkpoint.LoadAsync("conformance", Ct)).ShouldNotBeNull().CommittedEventCount.ShouldBe(9UL);
        (await checkpoint.UpgradeAsync(cancellationToken: Ct)).ShouldBeEmpty();
    }

    [Fact]
    public async Task SaveOverV1Record_GuardsAgainstTheV1Offset()
    {
        _dir.Write("checkpoint_conformance.json", V1Record("conformance", 9, """{"position":99,"stream":"main"}"""));
        using var checkpoint = Open();
        (await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(new ConformanceOffset(98), 10, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);
        await checkpoint.SaveAsync(new ConformanceOffset(100), 10, Ct);
        (await checkpoint.LoadAsync("conformance", Ct)).ShouldNotBeNull().FormatVersion.ShouldBe(FileCheckpoint.CurrentFormatVersion);
    }

    [Fact]
    public async Task Seed_TypedAndRaw_WriteRecordsWithGuards()
    {
        await FileCheckpoint.SeedAsync(_dir.Path, new ConformanceOffset(1000), 50, Options, cancellationToken: Ct);
        var ex = await Should.ThrowAsync<CheckpointException>(async () =>
            await FileCheckpoint.SeedRawAsync(_dir.Path, "conformance", """{"position":10,"stream":"main"}""", 60, Options, cancellationToken: Ct));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.OffsetRegression);

        await FileCheckpoint.SeedRawAsync(_dir.Path, "conformance", """{"position":2000,"stream":"main"}""", 60, Options, cancellationToken: Ct);
        using var checkpoint = Open();
        (await checkpoint.LoadOffsetAsync<ConformanceOffset>(cancellationToken: Ct)).ShouldBe(new ConformanceOffset(2000));
        FileCheckpoint.GetLeaseStatus(_dir.Path).State.ShouldBe(LeaseState.Held); // held by `checkpoint` now, seeds released theirs
    }

    [Fact]
    public async Task SeedRaw_InvalidJson_ThrowsFormatExceptionQuotingIt()
    {
        var ex = await Should.ThrowAsync<FormatException>(async () => await FileCheckpoint.SeedRawAsync(_dir.Path, "conformance", "{nope", 1, Options, cancellationToken: Ct));
        ex.Message.ShouldContain("{nope");
    }

    [Fact]
    public async Task SeedRaw_JsonTextWithLoneSurrogate_ThrowsFormatExceptionNotArgumentException()
    {
        // The parser refuses a lone surrogate character with ArgumentException (it cannot be encoded as UTF-8).
        var json = "{\"position\":1,\"stream\":\"" + '\ud800' + "\"}";

        var ex = await Should.ThrowAsync<FormatException>(async () => await FileCheckpoint.SeedRawAsync(_dir.Path, "conformance", json, 1, Options, cancellationToken: Ct));

        ex.Message.ShouldContain(json);
        ex.Message.ShouldContain("lone surrogate");
        File.Exists(_dir.File("checkpoint_conformance.json")).ShouldBeFalse();
    }

    [Fact]
    public async Task Save_FailureBeforeRename_LeavesPreviousRecordAndNoTempFile()
    {
        using var checkpoint = Open();
        await checkpoint.SaveAsync(new ConformanceOffset(1), 1, Ct);
        var before = File.ReadAllBytes(_dir.File("checkpoint_conformance.json"));
        DurableFile.BeforeRenameHook = path =>
        {
            if (path.StartsWith(_dir.Path, StringComparison.Ordinal))
            {
                throw new CheckpointException(CheckpointErrorCode.WriteFailed, "injected before rename");
            }
        };
        try
        {
            (await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(new ConformanceOffset(2), 2, Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.WriteFailed);
        }
        finally
        {
            DurableFile.BeforeRenameHook = null;
        }

        File.ReadAllBytes(_dir.File("checkpoint_conformance.json")).ShouldBe(before);
        Directory.GetFiles(_dir.Path, "*.tmp").ShouldBeEmpty();
        await checkpoint.SaveAsync(new ConformanceOffset(2), 2, Ct);
        (await checkpoint.LoadAsync("conformance", Ct)).ShouldNotBeNull().CommittedEventCount.ShouldBe(2UL);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("condition not reached in 10 s");
            }

            await Task.Delay(20, Ct);
        }
    }
}

public sealed class SpecialFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Load_FifoUnderARecordName_RefusedWithoutHanging()
    {
        using (var mkfifo = Process.Start("mkfifo", [_dir.File("checkpoint_conformance.json")]))
        {
            await mkfifo.WaitForExitAsync(TestContext.Current.CancellationToken);
            mkfifo.ExitCode.ShouldBe(0);
        }

        File.SetUnixFileMode(_dir.File("checkpoint_conformance.json"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        using var checkpoint = new FileCheckpoint(_dir.Path);
        var load = Task.Run(async () => await checkpoint.LoadLatestAsync(TestContext.Current.CancellationToken));
        (await Task.WhenAny(load, Task.Delay(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken))).ShouldBe(load, "loading must not block on a FIFO");
        var ex = await Should.ThrowAsync<CheckpointException>(load);
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.UnsafeFile);
        ex.Message.ShouldContain("not a regular file");
    }

    [Fact]
    public async Task Upgrade_BackupWithDifferentBytesExists_RefusedAndOriginalKept()
    {
        var v1 = """{"checkpoint_format_version":1,"source_type":"conformance","committed_event_count":9,"offset":{"position":99,"stream":"main"}}""";
        _dir.Write("checkpoint_conformance.json", v1);
        _dir.Write("checkpoint_conformance.json.v1.bak", "an older original");
        using var checkpoint = new FileCheckpoint(_dir.Path, new FileCheckpointOptions { Codecs = OffsetCodecRegistry.Empty.With(ConformanceOffset.OffsetCodec) });
        var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.UpgradeAsync(cancellationToken: TestContext.Current.CancellationToken));
        ex.Message.ShouldContain("backup");
        File.ReadAllText(_dir.File("checkpoint_conformance.json.v1.bak")).ShouldBe("an older original");
        File.ReadAllText(_dir.File("checkpoint_conformance.json")).ShouldBe(v1);
    }
}
