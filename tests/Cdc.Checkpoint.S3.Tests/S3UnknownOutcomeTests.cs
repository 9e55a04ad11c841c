using Cdc.Checkpoint.S3;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.S3.Tests;

/// <summary>
/// A 5xx answer to a conditional PUT means "outcome unknown": the store re-reads and decides; it never takes the 500 for
/// success or for failure, and never blindly repeats the write. Ceph RGW 16.2 answers 500 to conditional PUTs under
/// contention now and then (docs/object-storage.md); here a proxy in front of the real RGW injects the 500
/// deterministically — after the server carried the write out, or without forwarding it.
/// </summary>
public sealed class S3UnknownOutcomeTests(RgwFixture rgw)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private S3ManifestStore StoreThrough(FaultInjectingS3Proxy proxy, string prefix) =>
        new(rgw.Options(prefix, retain: 0, endpoint: proxy.Endpoint));

    /// <summary>A rule that faults the first conditional PUT of <paramref name="key"/> with <paramref name="action"/> and forwards everything else.</summary>
    private static Func<ProxyRequest, ProxyAction> FaultFirst(Func<string> key, ProxyAction action)
    {
        var fired = 0;
        return r => r.IsConditionalPut && r.Targets(key()) && Interlocked.Exchange(ref fired, 1) == 0 ? action : ProxyAction.Forward;
    }

    [Theory]
    [InlineData(ProxyAction.ForwardThenAnswer500)]
    [InlineData(ProxyAction.Answer500WithoutForwarding)]
    public async Task SaveAsync_500OnManifestCreate_ReReadsAndSucceedsWithoutADuplicate(ProxyAction action)
    {
        var prefix = RgwFixture.NewPrefix();
        using var direct = new S3ManifestStore(rgw.Options(prefix, retain: 0));
        using var proxy = new FaultInjectingS3Proxy(rgw.Server.Endpoint, FaultFirst(() => direct.GetManifestKey(1), action));
        using var store = StoreThrough(proxy, prefix);

        await store.SaveAsync(RgwFixture.Manifest(1, 5), cancellationToken: Ct);

        proxy.Faulted.Count.ShouldBe(1, "the fault must have fired on the manifest's conditional create");
        (await direct.LoadAsync(1, Ct)).ShouldNotBeNull().Epoch.ShouldBe(5UL);
        (await rgw.ReadTextAsync(direct.LatestPointerKey)).ShouldBe("""{"checkpoint_id":1}""");
        var creates = proxy.Log.Count(e => e.Request.IsConditionalPut && e.Request.Targets(direct.GetManifestKey(1)));
        creates.ShouldBe(action == ProxyAction.ForwardThenAnswer500 ? 1 : 2, "a write known to have landed is never sent again; an absent one is created again, still conditionally");
    }

    [Fact]
    public async Task SaveAsync_500OnSidecarCreateAfterTheWriteLanded_Succeeds()
    {
        var prefix = RgwFixture.NewPrefix();
        using var direct = new S3ManifestStore(rgw.Options(prefix, retain: 0));
        using var proxy = new FaultInjectingS3Proxy(rgw.Server.Endpoint, FaultFirst(() => direct.GetSidecarKey(1), ProxyAction.ForwardThenAnswer500));
        using var store = StoreThrough(proxy, prefix);

        await store.SaveAsync(RgwFixture.Manifest(1, 1), "operator-state"u8.ToArray(), Ct);

        proxy.Faulted.Count.ShouldBe(1);
        (await direct.LoadAsync(1, Ct)).ShouldNotBeNull().StateSidecar.ShouldNotBeNull();
        (await direct.ValidateAsync(1, Ct)).IsValid.ShouldBeTrue();
    }

    [Fact]
    public async Task SaveAsync_500OnCreateWhileAnotherWriterHoldsTheId_IsATypedConflict_NothingOverwritten()
    {
        var prefix = RgwFixture.NewPrefix();
        using var direct = new S3ManifestStore(rgw.Options(prefix, retain: 0));
        await direct.SaveAsync(RgwFixture.Manifest(1, 111), cancellationToken: Ct);
        using var proxy = new FaultInjectingS3Proxy(rgw.Server.Endpoint, FaultFirst(() => direct.GetManifestKey(1), ProxyAction.Answer500WithoutForwarding));
        using var store = StoreThrough(proxy, prefix);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(RgwFixture.Manifest(1, 222), cancellationToken: Ct));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.ConflictingOffset);
        proxy.Faulted.Count.ShouldBe(1);
        (await direct.LoadAsync(1, Ct)).ShouldNotBeNull().Epoch.ShouldBe(111UL, "the other writer's manifest stays");
    }

    [Theory]
    [InlineData(ProxyAction.ForwardThenAnswer500)]
    [InlineData(ProxyAction.Answer500WithoutForwarding)]
    public async Task SaveAsync_500OnPointerCompareAndSwap_ReReadsAndTheFinalPointerNamesTheNewest(ProxyAction action)
    {
        var prefix = RgwFixture.NewPrefix();
        using var direct = new S3ManifestStore(rgw.Options(prefix, retain: 0));
        await direct.SaveAsync(RgwFixture.Manifest(1, 1), cancellationToken: Ct);
        using var proxy = new FaultInjectingS3Proxy(rgw.Server.Endpoint, FaultFirst(() => direct.LatestPointerKey, action));
        using var store = StoreThrough(proxy, prefix);

        await store.SaveAsync(RgwFixture.Manifest(2, 2), cancellationToken: Ct);

        proxy.Faulted.Count.ShouldBe(1, "the fault must have fired on the pointer's If-Match write");
        proxy.Faulted[0].IfMatch.ShouldNotBeNull();
        (await rgw.ReadTextAsync(direct.LatestPointerKey)).ShouldBe("""{"checkpoint_id":2}""");
        (await direct.LoadLatestAsync(Ct)).ShouldNotBeNull().CheckpointId.ShouldBe(2UL);
    }

    [Fact]
    public async Task SaveAsync_PointerWritesAlways500_FailsTyped_AndRecoveryStillFindsTheCheckpoint()
    {
        var prefix = RgwFixture.NewPrefix();
        using var direct = new S3ManifestStore(rgw.Options(prefix, retain: 0));
        await direct.SaveAsync(RgwFixture.Manifest(1, 1), cancellationToken: Ct);
        using var proxy = new FaultInjectingS3Proxy(
            rgw.Server.Endpoint,
            r => r.IsConditionalPut && r.Targets(direct.LatestPointerKey) ? ProxyAction.Answer500WithoutForwarding : ProxyAction.Forward);
        using var store = StoreThrough(proxy, prefix);

        var ex = await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync(RgwFixture.Manifest(2, 2), cancellationToken: Ct));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.WriteFailed);
        ex.Message.ShouldContain(direct.LatestPointerKey);
        proxy.Faulted.Count.ShouldBeGreaterThan(1, "each attempt re-reads the pointer and tries its compare-and-swap again");
        (await rgw.ReadTextAsync(direct.LatestPointerKey)).ShouldBe("""{"checkpoint_id":1}""", "the pointer never moved");
        var recovery = (await direct.RecoverLatestValidAsync(Ct)).ShouldNotBeNull();
        recovery.Manifest.CheckpointId.ShouldBe(2UL, "the manifest was written; recovery lists manifests and does not trust the pointer alone");
    }
}
