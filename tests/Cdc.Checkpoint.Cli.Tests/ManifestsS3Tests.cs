using System.Collections.Immutable;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Cdc.Checkpoint.Cli.Tests.Support;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.S3;
using Cdc.Checkpoint.TestServers;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Cli.Tests;

/// <summary>
/// One bucket on the real S3 server the S3 store's tests use (<see cref="CephRgwTestServer"/>: a throwaway Ceph RGW, or
/// <c>CDC_TEST_S3</c>); a server that cannot be started fails these tests.
/// </summary>
public sealed class S3Bucket : IAsyncLifetime
{
    public CephRgwTestServer Server { get; private set; } = null!;

    public string Name { get; } = "cdc-cli-" + Guid.NewGuid().ToString("N")[..12];

    public AmazonS3Client Client { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Server = await CephRgwTestServer.GetAsync();
        Client = new AmazonS3Client(new BasicAWSCredentials(Server.AccessKey, Server.SecretKey), new AmazonS3Config
        {
            ServiceURL = Server.Endpoint.ToString(),
            ForcePathStyle = true,
            AuthenticationRegion = "us-east-1",
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        });
        await Client.PutBucketAsync(new PutBucketRequest { BucketName = Name });
    }

    public ValueTask DisposeAsync()
    {
        Client?.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary><c>manifests list|validate|recover</c> on an S3 store: the same reports as for a directory, and nothing written.</summary>
public sealed class ManifestsS3Tests(S3Bucket bucket) : IClassFixture<S3Bucket>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ManifestsVerbs_OnAnS3Store_ReportLikeADirectoryAndWriteNothing()
    {
        var prefix = "p-" + Guid.NewGuid().ToString("N")[..8] + "/";
        using (var store = new S3ManifestStore(Options(prefix)))
        {
            for (ulong id = 1; id <= 3; id++)
            {
                await store.SaveAsync(Manifest(id), "state"u8.ToArray(), Ct);
            }

            // The newest manifest is damaged: recovery must skip it and say why.
            await bucket.Client.PutObjectAsync(new PutObjectRequest { BucketName = bucket.Name, Key = store.GetManifestKey(3), InputStream = new MemoryStream("{ not json"u8.ToArray()) }, Ct);
        }

        var before = await ObjectsAsync(prefix);

        var list = (await Tool.RunAsync(Credentials(), [.. Args("list", prefix), "--json"])).ShouldExit(1).Json();
        list.GetProperty("checkpoints").GetArrayLength().ShouldBe(3);
        list.GetProperty("checkpoints")[2].GetProperty("problem").GetString().ShouldNotBeNull();

        var recover = (await Tool.RunAsync(Credentials(), [.. Args("recover", prefix), "--json"])).ShouldExit(0).Json();
        recover.GetProperty("recovered").GetProperty("id").GetUInt64().ShouldBe(2UL);
        recover.GetProperty("skipped")[0].GetProperty("id").GetUInt64().ShouldBe(3UL);

        (await Tool.RunAsync(Credentials(), [.. Args("validate", prefix), "--id", "2"])).ShouldExit(0).StdOut.ShouldContain("checkpoint 2: valid");
        (await Tool.RunAsync(Credentials(), [.. Args("validate", prefix)])).ShouldExit(1).StdOut.ShouldContain("checkpoint 3: INVALID");

        (await ObjectsAsync(prefix)).ShouldBe(before);
    }

    [Fact]
    public async Task Manifests_WrongSecret_ExitsOneWithOneLineNamingTheBucketAndNeverTheSecret()
    {
        var environment = new Dictionary<string, string>
        {
            ["AWS_ACCESS_KEY_ID"] = bucket.Server.AccessKey,
            ["AWS_SECRET_ACCESS_KEY"] = "wrong-secret-do-not-print",
            ["AWS_EC2_METADATA_DISABLED"] = "true",
        };

        var result = (await Tool.RunAsync(environment, Args("list", "p/"))).ShouldExit(1).ShouldReportBriefly(1, bucket.Name);

        result.StdErr.ShouldNotContain("wrong-secret-do-not-print");
        result.StdOut.ShouldNotContain("wrong-secret-do-not-print");
    }

    [Fact]
    public async Task ManifestsRecover_CleanupOnS3_IsAUsageError()
    {
        (await Tool.RunAsync(Credentials(), [.. Args("recover", "p/"), "--cleanup-orphans"])).ShouldExit(2).ShouldReportBriefly(2, "read-only");
    }

    private string[] Args(string verb, string prefix) =>
        ["manifests", verb, "--bucket", bucket.Name, "--prefix", prefix, "--s3-endpoint", bucket.Server.Endpoint.ToString(), "--path-style"];

    private Dictionary<string, string> Credentials() => new()
    {
        ["AWS_ACCESS_KEY_ID"] = bucket.Server.AccessKey,
        ["AWS_SECRET_ACCESS_KEY"] = bucket.Server.SecretKey,
        ["AWS_EC2_METADATA_DISABLED"] = "true",
    };

    private S3ManifestStoreOptions Options(string prefix) => new()
    {
        BucketName = bucket.Name,
        Prefix = prefix,
        ServiceUrl = bucket.Server.Endpoint,
        ForcePathStyle = true,
        AccessKeyId = bucket.Server.AccessKey,
        SecretAccessKey = bucket.Server.SecretKey,
    };

    private static CheckpointManifest Manifest(ulong id) => new()
    {
        CheckpointId = id,
        Epoch = 1,
        CreatedAt = new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero).AddSeconds(id),
        SourceOffsets = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("kafka-src", new SourcePosition(GenericOffset.Parse("kafka", $$"""{"0":{{id * 100}}}"""), id))]),
    };

    /// <summary>Every object under the prefix with its ETag: equal only when nothing was written or deleted.</summary>
    private async Task<string> ObjectsAsync(string prefix)
    {
        var response = await bucket.Client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket.Name, Prefix = prefix }, Ct);
        return string.Join("\n", (response.S3Objects ?? []).OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key} {o.ETag} {o.Size}"));
    }
}
