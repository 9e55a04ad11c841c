using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Postgres;
using Cdc.Checkpoint.Proof.Tests.Support;
using Cdc.Checkpoint.Torture;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Proof.Tests;

/// <summary>
/// Crash torture (docs/RELIABILITY.md): a real writer process is SIGKILLed at random moments, again and again, and the
/// directory is checked after every kill. CI runs <see cref="ProofSettings.TortureKills"/> kills (40); the published
/// run sets CDC_TORTURE_KILLS=1000 or uses the harness's <c>crash</c> mode.
/// </summary>
public sealed class CrashTortureTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Writer_KilledAtRandomMoments_RecordNeverBehindAckNorAheadOfAttemptAndNextWriterResumes()
    {
        var kills = ProofSettings.TortureKills;
        var directory = Path.Combine(_dir.Path, "checkpoint");
        output.WriteLine($"crash torture: {kills} kills, seed {ProofSettings.Seed}");

        var report = await CrashTorture.RunAsync(directory, kills, ProofSettings.Seed, new OutputWriter(output), cancellationToken: TestContext.Current.CancellationToken);
        output.WriteLine(report.ToString());

        report.Violations.ShouldBeEmpty();
        report.Kills.ShouldBe(kills);
        report.Acks.ShouldBeGreaterThan(0);
        report.KillsInsideSave.ShouldBeGreaterThan(0, "the kills must land inside saves, not only during start-up");
        report.MaxTempFiles.ShouldBeLessThanOrEqualTo(1);

        // Independently of the campaign's own checks: this process (the next owner) loads exactly the final record.
        using var checkpoint = new FileCheckpoint(directory, TortureOffsets.Options());
        var record = (await checkpoint.LoadAsync(PostgresOffset.StreamingSourceType, TestContext.Current.CancellationToken)).ShouldNotBeNull();
        record.CommittedEventCount.ShouldBe(report.FinalCount);
        record.FormatVersion.ShouldBe(FileCheckpoint.CurrentFormatVersion);
        record.Offset.ShouldBe(TortureOffsets.At(report.FinalCount));
        checkpoint.Lease.ShouldNotBeNull().Epoch.ShouldBe(report.FinalEpoch + 1);
        Directory.GetFiles(directory, "*" + DurableFile.TempSuffix).ShouldBeEmpty();
    }

    [Fact]
    public async Task LogWriter_KilledAtRandomMoments_NewestFrameNeverBehindAckNorAheadOfAttemptAndNextWriterResumes()
    {
        var kills = ProofSettings.TortureKills;
        var directory = Path.Combine(_dir.Path, "log");
        output.WriteLine($"checkpoint log crash torture: {kills} kills, seed {ProofSettings.Seed}");

        var report = await CrashTorture.RunAsync(directory, kills, ProofSettings.Seed, new OutputWriter(output), checkpointLog: true, cancellationToken: TestContext.Current.CancellationToken);
        output.WriteLine(report.ToString());

        report.Violations.ShouldBeEmpty();
        report.Kills.ShouldBe(kills);
        report.Acks.ShouldBeGreaterThan(0);
        report.KillsInsideSave.ShouldBeGreaterThan(0, "the kills must land inside saves, not only during start-up");
        report.MaxTempFiles.ShouldBeLessThanOrEqualTo(1);

        using var log = new CheckpointLog(directory, TortureOffsets.LogOptions());
        var record = (await log.LoadAsync(PostgresOffset.StreamingSourceType, TestContext.Current.CancellationToken)).ShouldNotBeNull();
        record.CommittedEventCount.ShouldBe(report.FinalCount);
        record.Offset.ShouldBe(TortureOffsets.At(report.FinalCount));
        log.Lease.ShouldNotBeNull().Epoch.ShouldBe(report.FinalEpoch + 1);
        Directory.GetFiles(directory, "*" + DurableFile.TempSuffix).ShouldBeEmpty();
        Directory.GetFiles(directory, "checkpoint_*.json").ShouldBeEmpty();
    }
}
