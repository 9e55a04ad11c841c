using Cdc.Checkpoint.Cli.Tests.Support;
using Cdc.Checkpoint.Files;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Cli.Tests;

public sealed class RewindTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Rewind_Backwards_WritesTheRecordAndAppendsOneAuditLine()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/16B3F20"), 1842);

        var result = (await Tool.RunAsync("rewind", _dir.Path, "--source", "postgres", "--lsn", "0/1600000", "--slot", "orders_slot",
            "--count", "1500", "--reason", "replay orders after sink bug")).ShouldExit(0);

        result.StdOut.ShouldContain("the new offset is behind the old one");
        var record = (await Fixtures.LoadAsync(_dir.Path, "postgres")).ShouldNotBeNull();
        record.CommittedEventCount.ShouldBe(1500UL);
        record.Offset.ShouldBe(Fixtures.Pg("0/1600000"));
        var audit = File.ReadAllLines(_dir.File(FileCheckpoint.AuditLogFileName));
        audit.Length.ShouldBe(1);
        var fields = audit[0].Split('\t');
        fields[1].ShouldBe("rewind");
        fields.ShouldContain($"user={Environment.UserName}");
        fields.ShouldContain($"host={Environment.MachineName}");
        fields.ShouldContain("source=postgres");
        fields.ShouldContain("old=slot=orders_slot lsn=0/16B3F20 (count 1842)");
        fields.ShouldContain("new=slot=orders_slot lsn=0/1600000 (count 1500)");
        fields.ShouldContain("reason=replay orders after sink bug");
        DateTimeOffset.Parse(fields[0], System.Globalization.CultureInfo.InvariantCulture).ShouldBeInRange(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(1));
        File.GetUnixFileMode(_dir.File(FileCheckpoint.AuditLogFileName)).ShouldBe(TempDirectory.Private);
    }

    [Fact]
    public async Task Rewind_OntoAnotherSlot_IsAllowedAndSaysSo()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/500"), 50);

        var result = (await Tool.RunAsync("rewind", _dir.Path, "--source", "postgres", "--lsn", "0/10", "--slot", "new_slot",
            "--count", "0", "--reason", "slot recreated after failover")).ShouldExit(0);

        result.StdOut.ShouldContain("not comparable");
        (await Fixtures.LoadAsync(_dir.Path, "postgres")).ShouldNotBeNull().Offset.ShouldBe(Fixtures.Pg("0/10", "new_slot"));
    }

    [Fact]
    public async Task Rewind_NoRecord_IsRefusedAndPointsToSeed()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/500"), 50);
        var before = DirectorySnapshot.Take(_dir.Path);

        (await Tool.RunAsync("rewind", _dir.Path, "--source", "postgres_snapshot", "--lsn", "0/10", "--slot", "orders_slot", "--count", "1", "--reason", "x"))
            .ShouldExit(1).ShouldReportBriefly(1, "no postgres_snapshot record", "cdc-checkpoint seed", "Nothing was changed.");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Rewind_LeaseHeldByAnotherLiveProcess_IsRefusedAndNothingIsAudited()
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/500"), 50);
        await using var holder = await FlockHolder.HoldAsync(_dir.Path);
        var before = DirectorySnapshot.Take(_dir.Path);

        (await Tool.RunAsync("rewind", _dir.Path, "--source", "postgres", "--lsn", "0/10", "--slot", "orders_slot", "--count", "1", "--reason", "x"))
            .ShouldExit(1).ShouldReportBriefly(1, "is owned by");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
        File.Exists(_dir.File(FileCheckpoint.AuditLogFileName)).ShouldBeFalse();
    }

    [Fact]
    public async Task Rewind_CorruptRecord_IsRefused()
    {
        _dir.Write("checkpoint_postgres.json", """{"checkpoint_format_version":1,"source_type":"postgres","committed_event_count":11,"offset":{"lsn":"zz","slot_name":"slot_a"}}""");
        var before = DirectorySnapshot.Take(_dir.Path);

        (await Tool.RunAsync("rewind", _dir.Path, "--source", "postgres", "--lsn", "0/10", "--slot", "slot_a", "--count", "1", "--reason", "x"))
            .ShouldExit(1).ShouldReportBriefly(1, "is corrupt");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Theory]
    [InlineData("--reason", "   ")]
    [InlineData("--count", "1")]
    public async Task Rewind_WithoutAReason_IsAUsageError(string option, string value)
    {
        await Fixtures.SaveAsync(_dir.Path, Fixtures.Pg("0/500"), 50);
        var before = DirectorySnapshot.Take(_dir.Path);
        string[] args = option == "--count"
            ? ["rewind", _dir.Path, "--source", "postgres", "--lsn", "0/10", "--slot", "orders_slot", "--count", value]
            : ["rewind", _dir.Path, "--source", "postgres", "--lsn", "0/10", "--slot", "orders_slot", "--count", "1", option, value];

        (await Tool.RunAsync(args)).ShouldExit(2).ShouldReportBriefly(2, "--reason");
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }
}
