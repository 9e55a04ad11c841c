using Cdc.Checkpoint.Cli.Tests.Support;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Cli.Tests;

/// <summary><c>inspect</c> and <c>verify</c> on a directory of a <see cref="CheckpointLog"/> (docs/checkpoint-log-format.md).</summary>
public sealed class CheckpointLogCliTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Segment => _dir.File(CheckpointLog.SegmentFileName);

    private async Task SaveAsync(params string[] lsns)
    {
        using var log = new CheckpointLog(_dir.Path, new CheckpointLogOptions { Codecs = OffsetCodecRegistry.Empty.WithPostgres() });
        ulong count = 0;
        foreach (var lsn in lsns)
        {
            count += 100;
            await log.SaveAsync(Fixtures.Pg(lsn, timeline: 1), count, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task InspectAndVerify_HealthyLog_ShowSegmentAndLatestRecordAndChangeNothing()
    {
        await SaveAsync("0/1000", "0/2000", "0/16B3748");
        var before = DirectorySnapshot.Take(_dir.Path);

        var inspect = (await Tool.RunAsync("inspect", _dir.Path)).ShouldExit(0);
        inspect.StdOut.ShouldContain("format version 1, segment id 1, 1048576 bytes (mode 0600), 3 valid frame(s)");
        inspect.StdOut.ShouldContain("postgres: count 300, sequence 3");
        inspect.StdOut.ShouldContain("slot=orders_slot lsn=0/16B3748 tli=1");

        var verify = (await Tool.RunAsync("verify", _dir.Path, "--json")).ShouldExit(0).Json();
        verify.GetProperty("kind").GetString().ShouldBe("checkpoint_log");
        verify.GetProperty("ok").GetBoolean().ShouldBeTrue();
        verify.GetProperty("segment").GetProperty("frames").GetInt32().ShouldBe(3);
        verify.GetProperty("records")[0].GetProperty("committed_event_count").GetUInt64().ShouldBe(300UL);
        DirectorySnapshot.Take(_dir.Path).ShouldBeUnchangedSince(before);
    }

    [Fact]
    public async Task Verify_DamagedFrameBeforeValidOnes_ExitsOneNamingCorrupt_TornTailIsOnlyANote()
    {
        await SaveAsync("0/1000", "0/2000", "0/3000");
        var contents = (await CheckpointLog.ReadAsync(_dir.Path, cancellationToken: TestContext.Current.CancellationToken)).ShouldNotBeNull();

        // A few bytes after the last frame: an interrupted append. Harmless.
        var bytes = File.ReadAllBytes(Segment);
        bytes[contents.Tail + 20] = 0x7F;
        File.WriteAllBytes(Segment, bytes);
        var torn = (await Tool.RunAsync("verify", _dir.Path)).ShouldExit(0);
        torn.StdOut.ShouldContain("note: The segment ends in a damaged frame");

        // One bit in the first of three frames: corruption, never skipped.
        bytes[40] ^= 0x01;
        File.WriteAllBytes(Segment, bytes);
        var corrupt = (await Tool.RunAsync("verify", _dir.Path)).ShouldExit(1);
        corrupt.StdOut.ShouldContain("PROBLEM: Corrupt");
        corrupt.StdOut.ShouldContain("a valid frame follows");
    }
}
