using System.Collections.Immutable;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.S3;
using Cdc.Checkpoint.TestServers;
using Xunit;

[assembly: AssemblyFixture(typeof(Cdc.Checkpoint.S3.Tests.RgwFixture))]

namespace Cdc.Checkpoint.S3.Tests;

/// <summary>
/// One real S3 server (a throwaway Ceph RGW, or <c>CDC_TEST_S3</c>) and one bucket for the whole test run; each test
/// takes its own prefix. A server that cannot be started fails every test (never a skip).
/// </summary>
public sealed class RgwFixture : IAsyncLifetime
{
    private CephRgwTestServer? _server;

    public CephRgwTestServer Server => _server ?? throw new InvalidOperationException("The fixture is not initialized.");

    public string Bucket { get; } = "cdc-test-" + Guid.NewGuid().ToString("N")[..12];

    public AmazonS3Client Client { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _server = await CephRgwTestServer.GetAsync();
        Client = new AmazonS3Client(new BasicAWSCredentials(Server.AccessKey, Server.SecretKey), CreateConfig(Server.Endpoint));
        await Client.PutBucketAsync(new PutBucketRequest { BucketName = Bucket });
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    public static AmazonS3Config CreateConfig(Uri endpoint) => new()
    {
        ServiceURL = endpoint.ToString(),
        ForcePathStyle = true,
        AuthenticationRegion = "us-east-1",
        RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
        ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
    };

    public S3ManifestStoreOptions Options(string prefix, int retain = 10, string? secret = null, Uri? endpoint = null) => new()
    {
        BucketName = Bucket,
        Prefix = prefix,
        ServiceUrl = endpoint ?? Server.Endpoint,
        ForcePathStyle = true,
        AccessKeyId = Server.AccessKey,
        SecretAccessKey = secret ?? Server.SecretKey,
        RetainCount = retain,
    };

    public static string NewPrefix() => "t-" + Guid.NewGuid().ToString("N")[..10] + "/";

    public static CheckpointManifest Manifest(ulong id, ulong epoch, long? watermark = null) => new()
    {
        CheckpointId = id,
        Epoch = epoch,
        CreatedAt = new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero).AddSeconds(id),
        SourceOffsets = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("kafka-src", new SourcePosition(GenericOffset.Parse("kafka", $$"""{"0":{{id * 100}}}"""), id))]),
        Watermark = watermark,
    };

    public async Task PutRawAsync(string key, byte[] bytes) =>
        await Client.PutObjectAsync(new PutObjectRequest { BucketName = Bucket, Key = key, InputStream = new MemoryStream(bytes) });

    public async Task<bool> ExistsAsync(string key)
    {
        try
        {
            using var response = await Client.GetObjectAsync(Bucket, key);
            return true;
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    public async Task<string> ReadTextAsync(string key)
    {
        using var response = await Client.GetObjectAsync(Bucket, key);
        using var reader = new StreamReader(response.ResponseStream);
        return await reader.ReadToEndAsync();
    }
}
