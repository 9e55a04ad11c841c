using System.Text.Json;
using Cdc.Checkpoint.Cli.Tests.Support;
using Cdc.Checkpoint.Files;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Cli.Tests;

public sealed class LeaseTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Lease_NeverLeased_SaysSoAndCreatesNothing()
    {
        var json = (await Tool.RunAsync("lease", _dir.Path, "--json")).ShouldExit(0).Json();
        var text = (await Tool.RunAsync("lease", _dir.Path)).ShouldExit(0).StdOut;

        json.GetProperty("state").GetString().ShouldBe("none");
        json.GetProperty("host").ValueKind.ShouldBe(JsonValueKind.Null);
        text.ShouldContain("never leased");
        Directory.EnumerateFileSystemEntries(_dir.Path).ShouldBeEmpty();
    }

    [Fact]
    public async Task Lease_OwnerExited_IsFreeWithTheStaleRecord()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/1"), 1);
        var before = DirectorySnapshot.Take(_dir.Path);

        var json = (await Tool.RunAsync("lease", _dir.Path, "--json")).ShouldExit(0).Json();

        json.GetProperty("state").GetString().ShouldBe("free");
        json.GetProperty("summary").GetString()!.ShouldStartWith("free (stale record: last owner");
        json.GetProperty("host").GetString().ShouldBe(Environment.MachineName);
        json.GetProperty("pid").GetInt32().ShouldBe(Environment.ProcessId);
        json.GetProperty("epoch").GetInt64().ShouldBe(1);
        json.GetProperty("acquired_at").ValueKind.ShouldBe(JsonValueKind.String);
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Lease_HeldByALiveProcess_ShowsHostPidSinceAndEpoch()
    {
        var checkpoint = new FileCheckpoint(_dir.Path, Fixtures.Options);
        await using (checkpoint)
        {
            var info = await checkpoint.AcquireLeaseAsync(TestContext.Current.CancellationToken);
            var before = DirectorySnapshot.Take(_dir.Path);

            var text = (await Tool.RunAsync("lease", _dir.Path)).ShouldExit(0).StdOut;
            var json = (await Tool.RunAsync("lease", _dir.Path, "--json")).ShouldExit(0).Json();

            text.ShouldContain($"held by {info}");
            text.ShouldContain($"pid                {Environment.ProcessId}");
            text.ShouldContain($"epoch              {info.Epoch}");
            json.GetProperty("state").GetString().ShouldBe("held");
            json.GetProperty("pid").GetInt32().ShouldBe(Environment.ProcessId);
            json.GetProperty("process_start_time").GetUInt64().ShouldBe(info.ProcessStartTime);
            DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
        }
    }

    [Fact]
    public async Task Lease_LockHeldByAProcessOtherThanTheRecordedOne_IsHeldWithANote()
    {
        // The last writer was a cdc-checkpoint process that has exited; a different process now holds the lock.
        (await Tool.RunAsync("seed", _dir.Path, "--source", "postgres", "--lsn", "0/1", "--slot", "s", "--count", "1")).ShouldExit(0);
        await using var holder = await FlockHolder.HoldAsync(_dir.Path);
        var before = DirectorySnapshot.Take(_dir.Path);

        var json = (await Tool.RunAsync("lease", _dir.Path, "--json")).ShouldExit(0).Json();

        json.GetProperty("state").GetString().ShouldBe("held");
        json.GetProperty("note").GetString()!.ShouldContain("is not running on this host");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Lease_LiveRustcdcOwner_IsShownAndBlocksWriters()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/1"), 1);
        _dir.Write(".rustcdc_checkpoint.owner", $"{Environment.MachineName}:{Environment.ProcessId}\n");
        var before = DirectorySnapshot.Take(_dir.Path);

        var text = (await Tool.RunAsync("lease", _dir.Path)).ShouldExit(0).StdOut;
        var seed = await Tool.RunAsync("seed", _dir.Path, "--source", "postgres", "--lsn", "0/2", "--slot", "orders_slot", "--count", "2");

        text.ShouldContain($"rustcdc owner file names '{Environment.MachineName}:{Environment.ProcessId}', a live process on this host");
        seed.ShouldExit(1).ShouldReportBriefly(1, "live rustcdc process", "Nothing was changed.");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Lease_LeaseFileIsASymlink_ExitsOne()
    {
        var target = _dir.Write("elsewhere", "{}");
        File.CreateSymbolicLink(Fixtures.LeasePath(_dir.Path), target);

        (await Tool.RunAsync("lease", _dir.Path)).ShouldExit(1).ShouldReportBriefly(1, Fixtures.LeasePath(_dir.Path), "symbolic link");
    }

    [Fact]
    public async Task Lease_MissingDirectory_ExitsOne()
    {
        (await Tool.RunAsync("lease", _dir.File("gone"))).ShouldExit(1).ShouldReportBriefly(1, _dir.File("gone"));
    }
}
