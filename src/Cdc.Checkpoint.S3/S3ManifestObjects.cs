using System.Globalization;
using System.Text.Json;
using Cdc.Checkpoint.Manifests;
using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.S3;

/// <summary>
/// The object layout of an <see cref="S3ManifestStore"/> (<c>{prefix}manifests/manifest-000001.json</c>,
/// <c>{prefix}checkpoints/state-000001.bin</c>, <c>{prefix}manifests/latest.json</c>) and its raw reads, under the
/// validation and newest-valid recovery every manifest store shares (<see cref="ManifestObjects"/>).
/// </summary>
internal sealed class S3ManifestObjects : ManifestObjects
{
    internal const int MaxPointerBytes = 256;
    private const string ManifestKeyPrefix = "manifests/manifest-";
    private const string StateKeyPrefix = "checkpoints/state-";

    private readonly S3Objects _objects;
    private readonly string _prefix;
    private readonly string _where;

    public S3ManifestObjects(S3Objects objects, S3ManifestStoreOptions options, ILogger logger)
        : base(logger, options.Codecs, options.MaxManifestBytes, options.MaxSidecarBytes)
    {
        _objects = objects;
        _prefix = options.NormalizedPrefix;
        _where = options.Describe();
        LatestPointerKey = _prefix + "manifests/latest.json";
    }

    public string LatestPointerKey { get; }

    protected override string Location => _where;

    protected override string LatestPointerName => LatestPointerKey;

    protected override string RestoreAdvice => "restore the objects from a backup or versioned bucket";

    protected override string StartOverAdvice => "use a new prefix";

    public string ManifestKey(ulong id) => _prefix + ManifestKeyPrefix + id.ToString("D6", CultureInfo.InvariantCulture) + ".json";

    public string SidecarKey(ulong id) => _prefix + StateKeyPrefix + id.ToString("D6", CultureInfo.InvariantCulture) + ".bin";

    protected override string ManifestName(ulong checkpointId) => ManifestKey(checkpointId);

    protected override string SidecarName(ulong checkpointId) => SidecarKey(checkpointId);

    /// <summary>A damaged object is the checkpoint's fault; an unreachable or refusing server is not (it propagates, so recovery never falls back to an older checkpoint because of a network error).</summary>
    protected override bool IsCheckpointFault(CheckpointException exception) =>
        exception.ErrorCode is CheckpointErrorCode.Corrupt or CheckpointErrorCode.UnsupportedFormatVersion or CheckpointErrorCode.RecordTooLarge;

    protected override async ValueTask<ManifestIdListing> ListIdsAsync(CancellationToken cancellationToken)
    {
        var ids = await ListManifestIdsAsync(cancellationToken).ConfigureAwait(false);
        var sidecars = await ListSidecarIdsAsync(cancellationToken).ConfigureAwait(false);
        return new ManifestIdListing(ids, Math.Max(ids.Count == 0 ? 0 : ids[^1], sidecars.Count == 0 ? 0 : sidecars.Max()));
    }

    protected override ValueTask<LatestPointerReading> ReadLatestPointerAsync(CancellationToken cancellationToken) => LoadPointerAsync(cancellationToken);

    public async ValueTask<LatestPointerReading> LoadPointerAsync(CancellationToken cancellationToken)
    {
        var found = await _objects.GetAsync(LatestPointerKey, MaxPointerBytes, cancellationToken).ConfigureAwait(false);
        return found is null ? default : ParsePointer(found.Bytes);
    }

    protected override async ValueTask<byte[]?> ReadManifestBytesAsync(ulong checkpointId, CancellationToken cancellationToken) =>
        (await _objects.GetAsync(ManifestKey(checkpointId), MaxManifestBytes, cancellationToken).ConfigureAwait(false))?.Bytes;

    protected override async ValueTask<byte[]?> ReadSidecarBytesAsync(ulong checkpointId, long maxBytes, CancellationToken cancellationToken) =>
        (await _objects.GetAsync(SidecarKey(checkpointId), maxBytes, cancellationToken).ConfigureAwait(false))?.Bytes;

    /// <summary>Loads a manifest with the ETag of its object, for a compare-and-swap rewrite.</summary>
    public async Task<(CheckpointManifest? Manifest, string? ETag)> LoadWithETagAsync(ulong checkpointId, CancellationToken cancellationToken)
    {
        var key = ManifestKey(checkpointId);
        var found = await _objects.GetAsync(key, MaxManifestBytes, cancellationToken).ConfigureAwait(false);
        return found is null ? (null, null) : (ParseManifest(checkpointId, found.Bytes), found.ETag);
    }

    internal static LatestPointerReading ParsePointer(byte[] bytes)
    {
        try
        {
            using var document = JsonDocument.Parse(bytes);
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("checkpoint_id", out var value)
                && value.TryGetUInt64(out var id) && id > 0)
            {
                return new(id, null);
            }
        }
        catch (JsonException)
        {
            // Reported below.
        }

        return new(null, "is not {\"checkpoint_id\": N} with N >= 1");
    }

    public async Task<List<ulong>> ListManifestIdsAsync(CancellationToken cancellationToken) =>
        (await ListIdsAsync(ManifestKeyPrefix, ".json", cancellationToken).ConfigureAwait(false)).Order().ToList();

    public async Task<HashSet<ulong>> ListSidecarIdsAsync(CancellationToken cancellationToken) =>
        (await ListIdsAsync(StateKeyPrefix, ".bin", cancellationToken).ConfigureAwait(false)).ToHashSet();

    private async Task<IEnumerable<ulong>> ListIdsAsync(string keyPrefix, string suffix, CancellationToken cancellationToken)
    {
        var full = _prefix + keyPrefix;
        var keys = await _objects.ListAsync(full, cancellationToken).ConfigureAwait(false);
        return keys
            .Where(k => k.EndsWith(suffix, StringComparison.Ordinal))
            .Select(k => ulong.TryParse(k.AsSpan(full.Length, k.Length - full.Length - suffix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : 0)
            .Where(id => id > 0);
    }
}
