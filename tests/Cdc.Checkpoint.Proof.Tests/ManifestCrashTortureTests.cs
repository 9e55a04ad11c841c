using System.Globalization;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Proof.Tests.Support;
using Cdc.Checkpoint.Torture;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Proof.Tests;

/// <summary>
/// Crash torture of the manifest store (docs/RELIABILITY.md): a real writer process committing four sources
/// concurrently through a <see cref="CheckpointCoordinator"/> over a <see cref="FileManifestStore"/> is SIGKILLed at
/// random moments, again and again, and the store is checked after every kill. CI runs 30 kills
/// (<c>CDC_MANIFEST_TORTURE_KILLS</c>); the published run uses the harness's <c>manifest-crash</c> mode.
/// </summary>
public sealed class ManifestCrashTortureTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static int Kills
    {
        get
        {
            var text = Environment.GetEnvironmentVariable("CDC_MANIFEST_TORTURE_KILLS");
            if (string.IsNullOrWhiteSpace(text))
            {
                return 30;
            }

            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0
                ? value
                : throw new InvalidOperationException($"CDC_MANIFEST_TORTURE_KILLS must be a positive integer, not '{text}'.");
        }
    }

    [Fact]
    public async Task ManifestWriter_KilledAtRandomMoments_RecoveryNeverBehindAckNorAheadOfAttemptAndNextWriterCleansUp()
    {
        var kills = Kills;
        var directory = Path.Combine(_dir.Path, "manifests");
        output.WriteLine($"manifest crash torture: {kills} kills, seed {ProofSettings.Seed}");

        var report = await ManifestCrashTorture.RunAsync(directory, kills, ProofSettings.Seed, new OutputWriter(output), TestContext.Current.CancellationToken);
        output.WriteLine(report.ToString());

        report.Violations.ShouldBeEmpty();
        report.Kills.ShouldBe(kills);
        report.Acks.ShouldBeGreaterThan(0);
        report.KillsInsideCommit.ShouldBeGreaterThan(0, "the kills must land inside commits, not only during start-up");

        // Independently of the campaign's own checks: this process recovers exactly the final checkpoint, and the final
        // owner left no temp file behind.
        var store = new FileManifestStore(directory, ManifestTorture.StoreOptions());
        var recovery = (await store.RecoverLatestValidAsync(TestContext.Current.CancellationToken)).ShouldNotBeNull();
        recovery.Skipped.ShouldBeEmpty();
        recovery.Manifest.CheckpointId.ShouldBe(report.FinalCheckpointId);
        foreach (var source in ManifestTorture.Sources)
        {
            var position = recovery.Manifest.SourceOffsets.GetValueOrDefault(source);
            var count = position?.CommittedEventCount ?? 0;
            count.ShouldBe(report.FinalCounts[source]);
            if (position is not null)
            {
                position.Offset.ShouldBe(ManifestTorture.OffsetFor(source, count));
            }
        }

        Directory.GetFiles(directory, "*" + DurableFile.TempSuffix, SearchOption.AllDirectories).ShouldBeEmpty();
    }
}
