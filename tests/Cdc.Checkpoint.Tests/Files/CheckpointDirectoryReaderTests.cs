using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Leasing;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Files;

/// <summary>Reading a checkpoint directory next to a live owner, without taking its lease.</summary>
public sealed class CheckpointDirectoryReaderTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task ReadAsync_WhileTheOwnerRuns_ReturnsLatestAndHeldLeaseAndLeavesTheOwnerWriting()
    {
        await using var owner = new FileCheckpoint(_dir.Path);
        await owner.SaveAsync(new ConformanceOffset(10), 3, Ct);
        await owner.SaveAsync(new ConformanceOffset(20), 5, Ct);

        var contents = await CheckpointDirectoryReader.ReadAsync(_dir.Path, cancellationToken: Ct);

        contents.IsUsable.ShouldBeTrue();
        contents.Records.Count.ShouldBe(1);
        contents.Latest.ShouldNotBeNull().CommittedEventCount.ShouldBe(5UL);
        contents.Latest.SourceType.ShouldBe(ConformanceOffset.Source);
        contents.Lease.ShouldNotBeNull().State.ShouldBe(LeaseState.Held);
        contents.Lease.Owner.ShouldNotBeNull().ProcessId.ShouldBe(Environment.ProcessId);

        // The owner keeps its lease and goes on saving.
        await owner.SaveAsync(new ConformanceOffset(30), 7, Ct);
        (await CheckpointDirectoryReader.ReadAsync(_dir.Path, cancellationToken: Ct)).Latest!.CommittedEventCount.ShouldBe(7UL);
    }

    [Fact]
    public async Task ReadAsync_CorruptAndGroupReadableRecords_ReportsEachProblemAndKeepsTheGoodRecord()
    {
        await using (var owner = new FileCheckpoint(_dir.Path))
        {
            await owner.SaveAsync(new ConformanceOffset(10), 3, Ct);
        }

        _dir.Write("checkpoint_conformance_snapshot.json", "{ not json");
        _dir.Write("checkpoint_conformance_other.json", "{}", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

        var contents = await CheckpointDirectoryReader.ReadAsync(_dir.Path, cancellationToken: Ct);

        contents.IsUsable.ShouldBeFalse();
        contents.Records.Select(r => r.SourceType).ShouldBe([ConformanceOffset.Source]);
        contents.Problems.Select(p => p.ErrorCode).Order().ShouldBe([CheckpointErrorCode.Corrupt, CheckpointErrorCode.InsecurePermissions]);
        contents.Problems.ShouldAllBe(p => p.Path != null && p.Path.StartsWith(_dir.Path, StringComparison.Ordinal));
        contents.Lease.ShouldNotBeNull().State.ShouldBe(LeaseState.Free);
        Directory.GetFiles(_dir.Path).Select(Path.GetFileName).ShouldNotContain(f => f!.Contains(".tmp", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ReadAsync_MissingDirectory_ThrowsDirectoryNotFoundAndCreatesNothing()
    {
        var missing = Path.Combine(_dir.Path, "nope");

        var error = await Should.ThrowAsync<CheckpointException>(async () => await CheckpointDirectoryReader.ReadAsync(missing, cancellationToken: Ct));

        error.ErrorCode.ShouldBe(CheckpointErrorCode.DirectoryNotFound);
        Directory.Exists(missing).ShouldBeFalse();
    }
}
