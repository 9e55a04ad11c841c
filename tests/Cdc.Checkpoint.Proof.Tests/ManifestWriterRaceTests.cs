using System.Globalization;
using System.Security.Cryptography;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Proof.Tests.Support;
using Cdc.Checkpoint.Torture;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Proof.Tests;

/// <summary>
/// Three real processes save manifests 1–60 into one store at the same time (Torture <c>manifest-race</c>), each with a
/// sidecar of its own. With the owner lease one process writes and the others are refused; with the lease bypassed,
/// every id is won exactly once and the store's no-replace writes must keep every acknowledged manifest valid.
/// </summary>
public sealed class ManifestWriterRaceTests(ITestOutputHelper output) : IDisposable
{
    private const int Writers = 3;
    private const ulong LastId = 60;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<List<string>> RaceAsync(bool withLease)
    {
        var arguments = new List<string> { "manifest-race", _dir.Path, LastId.ToString(CultureInfo.InvariantCulture) };
        if (!withLease)
        {
            arguments.Add("--no-lease");
        }

        var children = new List<HarnessChild>();
        try
        {
            for (var i = 0; i < Writers; i++)
            {
                children.Add(HarnessChild.Start(arguments));
            }

            foreach (var child in children)
            {
                (await child.ReadUntilAsync("ready", TimeSpan.FromSeconds(60))).ShouldNotBeNull(child.StandardError);
            }

            foreach (var child in children)
            {
                child.Send("go");
            }

            foreach (var child in children)
            {
                await child.WaitForExitAsync(Ct);
                child.ExitCode.ShouldBe(0, child.StandardError);
            }

            return [.. children.SelectMany(c => c.Lines).Where(l => l.StartsWith("won ", StringComparison.Ordinal) || l.StartsWith("lost ", StringComparison.Ordinal) || l.StartsWith("error", StringComparison.Ordinal))];
        }
        finally
        {
            foreach (var child in children)
            {
                await child.DisposeAsync();
            }
        }
    }

    /// <summary>Checks every acknowledged save against the store as a reader sees it afterwards; returns (won, lost, invalid).</summary>
    private async Task<(int Won, int Lost, int Invalid)> CheckAsync(List<string> lines, params CheckpointErrorCode[] expectedLosses)
    {
        lines.ShouldNotContain(l => l.StartsWith("error", StringComparison.Ordinal));
        var won = lines.Where(l => l.StartsWith("won ", StringComparison.Ordinal)).Select(l => l.Split(' ')).ToList();
        var lost = lines.Where(l => l.StartsWith("lost ", StringComparison.Ordinal)).Select(l => l.Split(' ')).ToList();
        (won.Count + lost.Count).ShouldBe(Writers * (int)LastId);
        lost.ShouldAllBe(l => expectedLosses.Contains(Enum.Parse<CheckpointErrorCode>(l[2])), "losers get a typed refusal");
        won.Select(w => ulong.Parse(w[1], CultureInfo.InvariantCulture)).Order().ShouldBe(Enumerable.Range(1, (int)LastId).Select(i => (ulong)i), "every id is won exactly once");

        var invalid = 0;
        await using var reader = new FileManifestStore(_dir.Path);
        foreach (var w in won)
        {
            var id = ulong.Parse(w[1], CultureInfo.InvariantCulture);
            var validation = await reader.ValidateAsync(id, Ct);
            var sidecar = validation.IsValid ? await reader.LoadSidecarAsync(id, Ct) : null;
            if (!validation.IsValid || sidecar is null || Convert.ToHexStringLower(SHA256.HashData(sidecar)) != w[2])
            {
                invalid++;
                output.WriteLine($"acknowledged checkpoint {id} is invalid: {string.Join("; ", validation.Findings.Select(f => f.Message))}");
            }
        }

        return (won.Count, lost.Count, invalid);
    }

    [Fact]
    public async Task ThreeProcesses_WithTheOwnerLease_OneWritesEveryIdTheOthersAreRefusedAndNothingIsInvalid()
    {
        var (won, lost, invalid) = await CheckAsync(await RaceAsync(withLease: true), CheckpointErrorCode.LeaseHeld);
        output.WriteLine($"with the lease: {won} acknowledged, {lost} refused (LeaseHeld), {invalid} invalid");
        invalid.ShouldBe(0);
    }

    [Fact]
    public async Task ThreeProcesses_LeaseBypassed_EveryIdWonOnceLosersGetAConflictAndNoAcknowledgedManifestIsInvalid()
    {
        var (won, lost, invalid) = await CheckAsync(await RaceAsync(withLease: false), CheckpointErrorCode.ConflictingOffset);
        output.WriteLine($"lease bypassed: {won} acknowledged, {lost} refused (ConflictingOffset), {invalid} invalid");
        invalid.ShouldBe(0);
    }
}
