using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.S3;

/// <summary>Options of <see cref="S3ManifestStore"/>: where the store lives and how to reach it.</summary>
/// <remarks>
/// Settings per server: AWS S3 needs only <see cref="BucketName"/> and <see cref="Region"/>; Ceph RGW, MinIO and
/// Cloudflare R2 need <see cref="ServiceUrl"/> and <see cref="ForcePathStyle"/> = <see langword="true"/>.
/// Credentials come from <see cref="AccessKeyId"/>/<see cref="SecretAccessKey"/> when set, else from the AWS SDK's
/// default chain (environment, profile, instance role). Options are validated when the store is created.
/// </remarks>
public sealed class S3ManifestStoreOptions
{
    /// <summary>The bucket. Required; it must exist (the store never creates buckets).</summary>
    public string BucketName { get; init; } = string.Empty;

    /// <summary>
    /// The key prefix every object of the store lives under, for example <c>nodes/capture-1/</c>; a missing trailing
    /// <c>/</c> is added.
    /// </summary>
    /// <value>Default: empty (the bucket root).</value>
    public string Prefix { get; init; } = string.Empty;

    /// <summary>The endpoint of an S3-compatible server (for example <c>http://127.0.0.1:7480</c>), or <see langword="null"/> for AWS.</summary>
    /// <value>Default: <see langword="null"/>.</value>
    public Uri? ServiceUrl { get; init; }

    /// <summary>The region: the AWS region, or the signing region of another server.</summary>
    /// <value>Default: <c>us-east-1</c>.</value>
    public string Region { get; init; } = "us-east-1";

    /// <summary>Whether to address the bucket in the path (<c>host/bucket/key</c>) instead of the host name; needed by Ceph RGW and MinIO.</summary>
    /// <value>Default: <see langword="false"/>.</value>
    public bool ForcePathStyle { get; init; }

    /// <summary>The access key id, or <see langword="null"/> to use the SDK's credential chain. Never logged.</summary>
    public string? AccessKeyId { get; init; }

    /// <summary>The secret access key, set together with <see cref="AccessKeyId"/>. Never logged.</summary>
    public string? SecretAccessKey { get; init; }

    /// <summary>How many usable checkpoints a save keeps (older ones are pruned after it); 0 disables pruning on save.</summary>
    /// <value>Default: 10.</value>
    public int RetainCount { get; init; } = 10;

    /// <summary>The largest manifest read, in bytes; a larger object is reported corrupt.</summary>
    /// <value>Default: <see cref="FileManifestStoreOptions.DefaultMaxManifestBytes"/>.</value>
    public long MaxManifestBytes { get; init; } = FileManifestStoreOptions.DefaultMaxManifestBytes;

    /// <summary>The largest sidecar saved or read, in bytes.</summary>
    /// <value>Default: <see cref="FileManifestStoreOptions.DefaultMaxSidecarBytes"/>.</value>
    public long MaxSidecarBytes { get; init; } = FileManifestStoreOptions.DefaultMaxSidecarBytes;

    /// <summary>How many times an idempotent read is retried after a transient failure (5xx, throttling, network), with exponential backoff.</summary>
    /// <value>Default: 3.</value>
    public int ReadRetryCount { get; init; } = 3;

    /// <summary>The codecs that read the typed offsets of the manifests.</summary>
    /// <value>Default: <see cref="OffsetCodecRegistry.Empty"/>.</value>
    public OffsetCodecRegistry Codecs { get; init; } = OffsetCodecRegistry.Empty;

    /// <summary>The prefix, normalized to end in <c>/</c> (or empty).</summary>
    internal string NormalizedPrefix => Prefix.Length == 0 || Prefix.EndsWith('/') ? Prefix : Prefix + "/";

    /// <summary>Where the store is, for messages: endpoint, bucket and prefix, never credentials.</summary>
    internal string Describe() => $"s3://{BucketName}/{NormalizedPrefix} at {ServiceUrl?.ToString() ?? "AWS " + Region}";

    /// <summary>Throws when the options are unusable.</summary>
    /// <exception cref="ArgumentException">A required setting is missing or a value is out of range.</exception>
    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(BucketName))
        {
            throw new ArgumentException("S3ManifestStoreOptions.BucketName is required.", nameof(BucketName));
        }

        ArgumentNullException.ThrowIfNull(Prefix);
        if (Prefix.StartsWith('/') || Prefix.Any(char.IsControl))
        {
            throw new ArgumentException($"S3ManifestStoreOptions.Prefix '{Prefix}' must not start with '/' or hold control characters.", nameof(Prefix));
        }

        ArgumentException.ThrowIfNullOrWhiteSpace(Region);
        if (ServiceUrl is { } url && (!url.IsAbsoluteUri || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)))
        {
            throw new ArgumentException($"S3ManifestStoreOptions.ServiceUrl '{url}' must be an absolute http or https URL.", nameof(ServiceUrl));
        }

        if (string.IsNullOrEmpty(AccessKeyId) != string.IsNullOrEmpty(SecretAccessKey))
        {
            throw new ArgumentException("Set both S3ManifestStoreOptions.AccessKeyId and SecretAccessKey, or neither (to use the AWS SDK credential chain).", nameof(AccessKeyId));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(RetainCount);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxManifestBytes, 1024);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSidecarBytes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxSidecarBytes, Array.MaxLength);
        ArgumentOutOfRangeException.ThrowIfNegative(ReadRetryCount);
        ArgumentNullException.ThrowIfNull(Codecs);
    }
}
