using System.CommandLine;
using Cdc.Checkpoint.S3;

namespace Cdc.Checkpoint.Cli.Commands;

/// <summary>
/// An <see cref="S3ManifestStore"/> for the read-only manifests verbs: <c>--bucket</c>, <c>--prefix</c>,
/// <c>--s3-endpoint</c>, <c>--region</c>, <c>--path-style</c>. There is deliberately no option for keys: they come from
/// the AWS SDK's credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, an instance role), so they never
/// reach the shell history, and the tool never prints them.
/// </summary>
internal sealed class S3Options
{
    public Option<string?> Bucket { get; } = new("--bucket") { Description = "S3: the bucket of the manifest store (credentials come from the AWS credential chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role).", HelpName = "NAME" };

    public Option<string?> Prefix { get; } = new("--prefix") { Description = "S3: the store's key prefix (default: the bucket root).", HelpName = "PREFIX" };

    public Option<string?> Endpoint { get; } = new("--s3-endpoint") { Description = "S3: the endpoint of an S3-compatible server (Ceph RGW, MinIO, R2), for example http://127.0.0.1:7480; omit for AWS.", HelpName = "URL" };

    public Option<string?> Region { get; } = new("--region") { Description = "S3: the region (the signing region of a non-AWS server); default us-east-1.", HelpName = "REGION" };

    public Option<bool> PathStyle { get; } = new("--path-style") { Description = "S3: address the bucket in the path (host/bucket/key), as Ceph RGW and MinIO need." };

    /// <summary>Adds the options and a validator: exactly one of DIR and --bucket; S3 options only with --bucket.</summary>
    public void AddTo(Command command, Argument<string?> root)
    {
        command.Options.Add(Bucket);
        command.Options.Add(Prefix);
        command.Options.Add(Endpoint);
        command.Options.Add(Region);
        command.Options.Add(PathStyle);
        command.Validators.Add(result =>
        {
            if (result.GetValue(Endpoint) is { } endpoint && !(Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)))
            {
                result.AddError($"--s3-endpoint '{endpoint}' is not an http:// or https:// URL such as http://127.0.0.1:7480.");
            }

            var hasRoot = result.GetValue(root) is not null;
            var hasBucket = result.GetValue(Bucket) is not null;
            if (hasRoot == hasBucket)
            {
                result.AddError(hasRoot
                    ? "Give a manifest directory DIR or an S3 store (--bucket), not both."
                    : "Give the manifest store: a directory DIR, or an S3 store with --bucket NAME (and --s3-endpoint, --prefix, --region, --path-style).");
            }
            else if (!hasBucket && (result.GetResult(Prefix) ?? result.GetResult(Endpoint) ?? result.GetResult(Region) ?? (object?)result.GetResult(PathStyle)) is not null)
            {
                result.AddError("--prefix, --s3-endpoint, --region and --path-style apply to an S3 store: give --bucket too.");
            }
        });
    }

    /// <summary>Opens the store (the client is built here; nothing is requested until the first read).</summary>
    public S3ManifestStore Open(ParseResult parseResult)
    {
        var options = new S3ManifestStoreOptions
        {
            BucketName = parseResult.GetValue(Bucket)!,
            Prefix = parseResult.GetValue(Prefix) ?? string.Empty,
            ServiceUrl = parseResult.GetValue(Endpoint) is { } endpoint ? new Uri(endpoint, UriKind.Absolute) : null,
            Region = parseResult.GetValue(Region) ?? "us-east-1",
            ForcePathStyle = parseResult.GetValue(PathStyle),
            RetainCount = 0, // the verbs only read; never prune
            Codecs = TableStore.AllCodecs,
        };
        return new S3ManifestStore(options);
    }
}
