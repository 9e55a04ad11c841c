using Cdc.Checkpoint.Files;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Manifests;

/// <summary>The conditional create the manifest store relies on so that a manifest id is written once.</summary>
public sealed class DurableFileCreateNewTests : IDisposable
{
    private readonly TempDir _dir = new();

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
}
