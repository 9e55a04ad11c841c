using Cdc.Checkpoint.Files;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Manifests;

/// <summary>The conditional create the manifest store relies on so that a manifest id is written once.</summary>
public sealed class DurableFileCreateNewTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void CreateNew_FileAbsent_CreatesItPrivately()
    {
        DurableFile.CreateNew(_dir.Path, "a.json", "first"u8).ShouldBeTrue();

        File.ReadAllText(_dir.Combine("a.json")).ShouldBe("first");
        if (!OperatingSystem.IsWindows())
        {
            File.GetUnixFileMode(_dir.Combine("a.json")).ShouldBe(DurableFile.PrivateFileMode);
        }
    }

    [Fact]
    public void CreateNew_FileExists_ReturnsFalseLeavesItUnchangedAndNoTempFile()
    {
        DurableFile.CreateNew(_dir.Path, "a.json", "first"u8).ShouldBeTrue();

        DurableFile.CreateNew(_dir.Path, "a.json", "second"u8).ShouldBeFalse();

        File.ReadAllText(_dir.Combine("a.json")).ShouldBe("first");
        Directory.EnumerateFiles(_dir.Path).Select(Path.GetFileName).ShouldBe(["a.json"]);
    }

    [Fact]
    public async Task CreateNew_ManyConcurrentWriters_ExactlyOneWins()
    {
        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(() => DurableFile.CreateNew(_dir.Path, "race.json", [(byte)('a' + i)]))));

        results.Count(r => r).ShouldBe(1);
        var winner = Array.IndexOf(results, true);
        File.ReadAllBytes(_dir.Combine("race.json")).ShouldBe([(byte)('a' + winner)]);
        Directory.EnumerateFiles(_dir.Path).Count().ShouldBe(1);
    }

    [Fact]
    public void CreateNew_WritersStartedTogetherOverManyRounds_ExactlyOneWinsEveryRoundAndItsBytesStay()
    {
        // File.Move(overwrite: false) checks that the target is missing and then rename(2)s over it: two writers that
        // both pass the check both "win", the second replacing the first. Released together by a barrier, racing
        // writers hit that window within a few rounds.
        const int Rounds = 200;
        const int Writers = 4;
        using var barrier = new Barrier(Writers);
        var wins = new bool[Rounds, Writers];
        var threads = Enumerable.Range(0, Writers).Select(w => new Thread(() =>
        {
            for (var round = 0; round < Rounds; round++)
            {
                barrier.SignalAndWait();
                wins[round, w] = DurableFile.CreateNew(_dir.Path, $"race{round}.json", [(byte)('a' + w)]);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        for (var round = 0; round < Rounds; round++)
        {
            var winners = Enumerable.Range(0, Writers).Where(w => wins[round, w]).ToList();
            winners.Count.ShouldBe(1, $"round {round}: writers {string.Join(", ", winners)} all reported that they created the file");
            File.ReadAllBytes(_dir.Combine($"race{round}.json")).ShouldBe([(byte)('a' + winners[0])], $"round {round}");
        }

        Directory.EnumerateFiles(_dir.Path).Count().ShouldBe(Rounds, "no temp file is left");
    }
}
