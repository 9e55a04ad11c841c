using System.Text.RegularExpressions;
using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.Manifests;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Files;

/// <summary>
/// The public read API an operator tool (ours, the cdc-checkpoint CLI, or a user's) builds on: each record file with its
/// verdict, checksum and mode; the lease and its holder without taking it; file and directory names; a manifest store's
/// latest pointer.
/// </summary>
public sealed partial class OperatorReadApiTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task ReadAsync_RecordFiles_GiveEachFileItsChecksumModeOrProblem()
    {
        await using (var owner = new FileCheckpoint(_dir.Path))
        {
            await owner.SaveAsync(new ConformanceOffset(10), 3, Ct);
        }

        _dir.Write("checkpoint_conformance_snapshot.json", "{ not json");
        var target = _dir.Write("elsewhere.json", "{}");
        File.CreateSymbolicLink(_dir.File("checkpoint_conformance_other.json"), target);

        var contents = await CheckpointDirectoryReader.ReadAsync(_dir.Path, cancellationToken: Ct);

        contents.RecordFiles.Select(f => f.FileName).ShouldBe(["checkpoint_conformance.json", "checkpoint_conformance_other.json", "checkpoint_conformance_snapshot.json"]);
        var good = contents.RecordFiles[0];
        good.IsUsable.ShouldBeTrue();
        good.SourceType.ShouldBe(ConformanceOffset.Source);
        good.Record.ShouldNotBeNull().CommittedEventCount.ShouldBe(3UL);
        good.Mode.ShouldBe(TempDirectory.Private);
        good.LinkTarget.ShouldBeNull();
        var checksum = good.Checksum.ShouldNotBeNull();
        ChecksumText().IsMatch(checksum).ShouldBeTrue(checksum);
        (await File.ReadAllTextAsync(good.Path, Ct)).ShouldContain($"\"{checksum}\"");

        var link = contents.RecordFiles[1];
        link.LinkTarget.ShouldBe(target);
        link.Mode.ShouldBeNull();
        link.Record.ShouldBeNull();
        link.Problem.ShouldNotBeNull().ErrorCode.ShouldBe(CheckpointErrorCode.SymbolicLinkRefused);

        var corrupt = contents.RecordFiles[2];
        corrupt.IsUsable.ShouldBeFalse();
        corrupt.Checksum.ShouldBeNull();
        corrupt.Mode.ShouldBe(TempDirectory.Private);
        corrupt.Problem.ShouldNotBeNull().ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);

        contents.Problems.ShouldBe([link.Problem, corrupt.Problem], ignoreOrder: true);
        contents.LeaseProblem.ShouldBeNull();
    }

    [Fact]
    public async Task ReadAsync_LeaseFileIsALink_ReportsTheLeaseProblemSeparately()
    {
        File.CreateSymbolicLink(_dir.File(FileCheckpoint.LeaseFileName), _dir.Write("other", string.Empty));

        var contents = await CheckpointDirectoryReader.ReadAsync(_dir.Path, cancellationToken: Ct);

        contents.Lease.ShouldBeNull();
        var problem = contents.LeaseProblem.ShouldNotBeNull();
        problem.ErrorCode.ShouldBe(CheckpointErrorCode.SymbolicLinkRefused);
        contents.Problems.ShouldBe([problem]);
        contents.RecordFiles.ShouldBeEmpty();
    }

    [Theory]
    [InlineData("checkpoint_postgres.json", "postgres")]
    [InlineData("checkpoint_mysql_snapshot.json", "mysql_snapshot")]
    [InlineData("checkpoint_Postgres.json", null)]
    [InlineData("checkpoint_postgres.json.tmp", null)]
    [InlineData("checkpoint_postgres.json.v2.bak", null)]
    [InlineData("checkpoint_.json", null)]
    [InlineData(".cdc-checkpoint.lease", null)]
    public void TryGetRecordSourceType_FileName_NamesTheSourceTypeOfRecordsOnly(string fileName, string? expected)
    {
        CheckpointFileNames.TryGetRecordSourceType(fileName, out var sourceType).ShouldBe(expected is not null);
        sourceType.ShouldBe(expected);
        if (expected is not null)
        {
            CheckpointFileNames.ForRecord(expected).ShouldBe(fileName);
        }
    }

    [Fact]
    public void ForRecord_InvalidSourceType_ThrowsArgumentException() =>
        Should.Throw<ArgumentException>(() => CheckpointFileNames.ForRecord("../etc")).ParamName.ShouldBe("sourceType");

    [Fact]
    public void HasLiveRustcdcOwner_OwnerFile_TrueOnlyForAnotherLiveProcessOnThisHost()
    {
        var host = Environment.MachineName;
        Owner($"{host}:1").HasLiveRustcdcOwner().ShouldBeTrue(); // pid 1 always runs
        Owner($"{host.ToUpperInvariant()}:1").HasLiveRustcdcOwner().ShouldBeTrue();
        Owner($"{host}:{Environment.ProcessId}").HasLiveRustcdcOwner().ShouldBeFalse(); // this process
        Owner($"{host}:{int.MaxValue}").HasLiveRustcdcOwner().ShouldBeFalse(); // no such process
        Owner("some-other-host:1").HasLiveRustcdcOwner().ShouldBeFalse();
        Owner("not an owner").HasLiveRustcdcOwner().ShouldBeFalse();
        Owner(null).HasLiveRustcdcOwner().ShouldBeFalse();

        static LeaseStatus Owner(string? owner) => new(LeaseState.None, null, owner);
    }

    [Fact]
    public async Task IsProcessRunningOnThisHost_HeldLease_TrueForTheHolderAndFalseForAnotherHost()
    {
        await using var owner = new FileCheckpoint(_dir.Path);
        await owner.SaveAsync(new ConformanceOffset(1), 1, Ct);

        var holder = FileCheckpoint.GetLeaseStatus(_dir.Path).Owner.ShouldNotBeNull();

        holder.IsOnThisHost.ShouldBeTrue();
        holder.IsProcessRunningOnThisHost().ShouldBeTrue();
        (holder with { Host = "some-other-host" }).IsProcessRunningOnThisHost().ShouldBeFalse();
        (holder with { ProcessId = int.MaxValue }).IsProcessRunningOnThisHost().ShouldBeFalse();
    }

    [Fact]
    public async Task ReadLatestPointerAsync_ValidThenDamagedPointer_ReportsTheIdThenTheProblem()
    {
        using var store = new FileManifestStore(_dir.Path);
        (await store.ReadLatestPointerAsync(Ct)).ShouldBe(new LatestPointerReading(null, null));
        await store.SaveAsync(new CheckpointManifest { CheckpointId = 1, Epoch = 1, CreatedAt = Start }, cancellationToken: Ct);
        await store.SaveAsync(new CheckpointManifest { CheckpointId = 2, Epoch = 1, CreatedAt = Start }, cancellationToken: Ct);

        (await store.ReadLatestPointerAsync(Ct)).ShouldBe(new LatestPointerReading(2, null));
        File.Exists(Path.Combine(store.GetCheckpointDirectory(2), FileManifestStore.ManifestFileName)).ShouldBeTrue();

        await File.WriteAllTextAsync(store.LatestPointerPath, "two\n", Ct);
        var damaged = await store.ReadLatestPointerAsync(Ct);
        damaged.CheckpointId.ShouldBeNull();
        damaged.Problem.ShouldNotBeNull().ShouldContain("not a checkpoint id");
    }

    [Theory]
    [InlineData("checkpoint_000042", 42UL)]
    [InlineData("checkpoint_1000000", 1000000UL)]
    [InlineData("checkpoint_42", null)]
    [InlineData("checkpoint_000042.tmp", null)]
    [InlineData("latest", null)]
    public void TryParseDirectoryName_Name_AcceptsCanonicalCheckpointNamesOnly(string name, ulong? expected)
    {
        FileManifestStore.TryParseDirectoryName(name, out var id).ShouldBe(expected is not null);
        if (expected is { } value)
        {
            id.ShouldBe(value);
            Path.GetFileName(new FileManifestStore(_dir.Path).GetCheckpointDirectory(value)).ShouldBe(name);
        }
    }

    [GeneratedRegex("^[0-9a-f]{8}$")]
    private static partial Regex ChecksumText();
}
