using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Amazon.Runtime;
using Amazon.S3;
using Cdc.Checkpoint.Manifests;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cdc.Checkpoint.S3;

/// <summary>
/// A manifest store in an S3-compatible bucket: <c>{prefix}manifests/manifest-000001.json</c> (the same JSON as
/// <see cref="FileManifestStore"/>), <c>{prefix}checkpoints/state-000001.bin</c> (the sidecar, bound to its manifest
/// by size and SHA-256) and <c>{prefix}manifests/latest.json</c> (<c>{"checkpoint_id":N}</c>).
/// </summary>
/// <remarks>
/// <para>
/// Safety rests on conditional writes, so several processes may share a prefix without overwriting each other: the
/// sidecar and the manifest are created with <c>If-None-Match: *</c> (an existing id is a
/// <see cref="CheckpointErrorCode.ConflictingOffset"/>, never an overwrite); the latest pointer moves only forward by
/// compare-and-swap (<c>If-Match</c> on its ETag). A 5xx answer to a conditional write means "outcome unknown": the
/// object is re-read and the outcome decided from what is there. Reads are retried with backoff.
/// </para>
/// <para>Thread-safe. Dispose it to release the S3 client it created (a client passed in is not disposed).</para>
/// </remarks>
public sealed class S3ManifestStore : IManifestStore, IDisposable
{
    private const int MaxPointerAttempts = 64;

    private readonly S3ManifestStoreOptions _options;
    private readonly IAmazonS3 _client;
    private readonly bool _ownsClient;
    private readonly S3Objects _objects;
    private readonly S3ManifestObjects _shared;
    private readonly ILogger _logger;
    private readonly string _where;

    /// <summary>Creates a store with its own S3 client built from <paramref name="options"/>.</summary>
    /// <param name="options">Where the store lives; validated here.</param>
    /// <param name="loggerFactory">Logger factory, or <see langword="null"/> for none.</param>
    /// <param name="timeProvider">Time for retry backoff, or <see langword="null"/> for the system clock.</param>
    /// <exception cref="ArgumentException">The options are incomplete or out of range.</exception>
    public S3ManifestStore(S3ManifestStoreOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
        : this(CreateClient(options), ownsClient: true, options, loggerFactory, timeProvider)
    {
    }

    /// <summary>Creates a store over a client the caller configured and owns (it is not disposed by the store).</summary>
    /// <param name="client">The S3 client; for Ceph RGW and other non-AWS servers configure path style and <c>WHEN_REQUIRED</c> checksums.</param>
    /// <param name="options">Bucket, prefix and limits; the connection settings in it are used only in messages.</param>
    /// <param name="loggerFactory">Logger factory, or <see langword="null"/> for none.</param>
    /// <param name="timeProvider">Time for retry backoff, or <see langword="null"/> for the system clock.</param>
    /// <exception cref="ArgumentException">The options are incomplete or out of range.</exception>
    public S3ManifestStore(IAmazonS3 client, S3ManifestStoreOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
        : this(client, ownsClient: false, options, loggerFactory, timeProvider)
    {
    }

    private S3ManifestStore(IAmazonS3 client, bool ownsClient, S3ManifestStoreOptions options, ILoggerFactory? loggerFactory, TimeProvider? timeProvider)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _client = client;
        _ownsClient = ownsClient;
        _where = options.Describe();
        _objects = new S3Objects(client, options, timeProvider ?? TimeProvider.System);
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<S3ManifestStore>();
        _shared = new S3ManifestObjects(_objects, options, _logger);
    }

    /// <summary>The options.</summary>
    public S3ManifestStoreOptions Options => _options;

    /// <summary>The key of the latest pointer.</summary>
    public string LatestPointerKey => _shared.LatestPointerKey;

    /// <summary>The key of the manifest of checkpoint <paramref name="checkpointId"/>.</summary>
    /// <param name="checkpointId">The id, at least 1.</param>
    /// <returns>The key.</returns>
    public string GetManifestKey(ulong checkpointId)
    {
        ArgumentOutOfRangeException.ThrowIfZero(checkpointId);
        return _shared.ManifestKey(checkpointId);
    }

    /// <summary>The key of the state sidecar of checkpoint <paramref name="checkpointId"/>.</summary>
    /// <param name="checkpointId">The id, at least 1.</param>
    /// <returns>The key.</returns>
    public string GetSidecarKey(ulong checkpointId)
    {
        ArgumentOutOfRangeException.ThrowIfZero(checkpointId);
        return _shared.SidecarKey(checkpointId);
    }

    /// <inheritdoc />
    public async ValueTask<CheckpointManifest> SaveAsync(CheckpointManifest manifest, ReadOnlyMemory<byte> sidecar = default, CancellationToken cancellationToken = default)
    {
        var (toWrite, bytes) = _shared.PrepareSave(manifest, sidecar.Span);
        cancellationToken.ThrowIfCancellationRequested();
        var id = toWrite.CheckpointId;
        var start = Stopwatch.GetTimestamp();
        try
        {
            var manifestKey = GetManifestKey(id);
            if (!sidecar.IsEmpty && !await _objects.CreateAsync(GetSidecarKey(id), sidecar.ToArray(), _options.MaxSidecarBytes, cancellationToken).ConfigureAwait(false))
            {
                throw new CheckpointException(
                    CheckpointErrorCode.ConflictingOffset,
                    $"Checkpoint {id} already has a different state sidecar '{GetSidecarKey(id)}' in {_where} (another writer, or an interrupted save of the same id); nothing was overwritten. Take a checkpoint id above ManifestRecovery.HighestCheckpointId.");
            }

            if (!await _objects.CreateAsync(manifestKey, bytes, _options.MaxManifestBytes, cancellationToken).ConfigureAwait(false))
            {
                throw new CheckpointException(
                    CheckpointErrorCode.ConflictingOffset,
                    $"Checkpoint {id} already exists at '{manifestKey}' in {_where}; a manifest is written once and never overwritten. Take a checkpoint id above ManifestRecovery.HighestCheckpointId.");
            }

            S3Log.ManifestSaved(_logger, id, toWrite.Epoch, sidecar.Length, manifestKey);
            await MoveLatestPointerAsync(id, cancellationToken).ConfigureAwait(false);
            ManifestObjects.RecordWrite(start, null);
        }
        catch (CheckpointException ex)
        {
            ManifestObjects.RecordWrite(start, ex.ErrorCode);
            throw;
        }

        if (_options.RetainCount > 0)
        {
            try
            {
                await PruneAsync(_options.RetainCount, cancellationToken).ConfigureAwait(false);
            }
            catch (CheckpointException ex)
            {
                // The checkpoint is durable; failing to remove old ones must not turn the save into a failure.
                S3Log.PruneFailed(_logger, _where, ex.Message);
            }
        }

        return toWrite;
    }

    /// <summary>Moves the latest pointer to <paramref name="id"/> unless it already names a newer checkpoint: a CAS loop.</summary>
    private async Task MoveLatestPointerAsync(ulong id, CancellationToken cancellationToken)
    {
        for (var attempt = 1; attempt <= MaxPointerAttempts; attempt++)
        {
            var current = await _objects.GetAsync(LatestPointerKey, S3ManifestObjects.MaxPointerBytes, cancellationToken).ConfigureAwait(false);
            var named = current is null ? null : S3ManifestObjects.ParsePointer(current.Bytes).CheckpointId;
            if (named is { } latest && latest >= id)
            {
                if (latest > id)
                {
                    S3Log.LatestPointerKept(_logger, id, latest);
                }

                return;
            }

            // A missing or unreadable pointer is written, but never to an id older than a manifest already in the
            // bucket: the pointer could only have named a checkpoint that has one.
            var target = id;
            if (named is null && (await _shared.ListManifestIdsAsync(cancellationToken).ConfigureAwait(false)) is [.., var newest] && newest > id)
            {
                S3Log.LatestPointerKept(_logger, id, newest);
                target = newest;
            }

            var payload = Encoding.UTF8.GetBytes($"{{\"checkpoint_id\":{target.ToString(CultureInfo.InvariantCulture)}}}");
            if (await _objects.TryReplaceAsync(LatestPointerKey, payload, current?.ETag, cancellationToken).ConfigureAwait(false))
            {
                return;
            }

            // Lost the race, or the outcome is unknown: the next read decides (it may already name our id).
            await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(1, 10 * Math.Min(attempt, 10))), cancellationToken).ConfigureAwait(false);
        }

        throw new CheckpointException(
            CheckpointErrorCode.WriteFailed,
            $"Checkpoint {id} was saved but the latest pointer '{LatestPointerKey}' in {_where} could not be moved to it after {MaxPointerAttempts} compare-and-swap attempts (heavy contention or a failing server). Recovery still finds the checkpoint by listing.");
    }

    /// <inheritdoc />
    public ValueTask<CheckpointManifest?> LoadLatestAsync(CancellationToken cancellationToken = default) => _shared.LoadLatestAsync(cancellationToken);

    /// <inheritdoc />
    public ValueTask<CheckpointManifest?> LoadAsync(ulong checkpointId, CancellationToken cancellationToken = default) => _shared.LoadAsync(checkpointId, cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<ManifestListEntry>> ListAsync(CancellationToken cancellationToken = default) => _shared.ListAsync(cancellationToken);

    /// <inheritdoc />
    public async ValueTask<int> PruneAsync(int keep, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keep, 1);
        var ids = await _shared.ListManifestIdsAsync(cancellationToken).ConfigureAwait(false);
        var sidecars = await _shared.ListSidecarIdsAsync(cancellationToken).ConfigureAwait(false);
        if (ids.Count <= keep)
        {
            await RemoveOrphanSidecarsAsync(ids, sidecars, ids.Count == 0 ? 0 : ids[0], null, cancellationToken).ConfigureAwait(false);
            return 0;
        }

        ulong? pointer = null;
        try
        {
            pointer = (await _shared.LoadPointerAsync(cancellationToken).ConfigureAwait(false)).CheckpointId;
        }
        catch (CheckpointException)
        {
            // Without a trustworthy pointer, retention alone decides; the newest usable checkpoints are kept anyway.
        }

        // The boundary is the keep-th usable checkpoint from the newest; damaged newer ones stay and do not count.
        var usable = 0;
        var boundary = -1;
        for (var i = ids.Count - 1; i >= 0; i--)
        {
            if (await IsUsableAsync(ids[i], sidecars, cancellationToken).ConfigureAwait(false) && ++usable == keep)
            {
                boundary = i;
                break;
            }
        }

        cancellationToken.ThrowIfCancellationRequested();
        var removed = 0;
        for (var i = 0; i < boundary; i++)
        {
            var id = ids[i];
            if (id == pointer)
            {
                continue;
            }

            // Manifest first: a crash between the two leaves an orphan sidecar, which cleanup removes, never a manifest without its state.
            var manifestKey = GetManifestKey(id);
            await _objects.DeleteAsync(manifestKey, CancellationToken.None).ConfigureAwait(false);
            if (sidecars.Contains(id))
            {
                await _objects.DeleteAsync(GetSidecarKey(id), CancellationToken.None).ConfigureAwait(false);
            }

            removed++;
            S3Log.CheckpointPruned(_logger, id, manifestKey);
        }

        await RemoveOrphanSidecarsAsync(ids, sidecars, boundary >= 0 ? ids[boundary] : ids[0], null, CancellationToken.None).ConfigureAwait(false);
        return removed;
    }

    private async Task<bool> IsUsableAsync(ulong id, HashSet<ulong> sidecars, CancellationToken cancellationToken)
    {
        try
        {
            var manifest = await LoadAsync(id, cancellationToken).ConfigureAwait(false);
            return manifest is not null && (manifest.StateSidecar is null || sidecars.Contains(id));
        }
        catch (CheckpointException ex) when (ex.ErrorCode is CheckpointErrorCode.Corrupt or CheckpointErrorCode.UnsupportedFormatVersion or CheckpointErrorCode.RecordTooLarge)
        {
            return false;
        }
    }

    /// <summary>Removes sidecars that have no manifest and are older than <paramref name="olderThan"/>: left by interrupted saves.</summary>
    private async Task RemoveOrphanSidecarsAsync(List<ulong> manifests, HashSet<ulong> sidecars, ulong olderThan, ImmutableArray<ulong>.Builder? removed, CancellationToken cancellationToken)
    {
        var withManifest = manifests.ToHashSet();
        foreach (var id in sidecars.Order())
        {
            if (id < olderThan && !withManifest.Contains(id))
            {
                var key = GetSidecarKey(id);
                await _objects.DeleteAsync(key, cancellationToken).ConfigureAwait(false);
                removed?.Add(id);
                S3Log.OrphanRemoved(_logger, key);
            }
        }
    }

    /// <inheritdoc />
    public ValueTask<byte[]?> LoadSidecarAsync(ulong checkpointId, CancellationToken cancellationToken = default) => _shared.LoadSidecarAsync(checkpointId, cancellationToken);

    /// <inheritdoc />
    public ValueTask<ImmutableSortedDictionary<string, ReadOnlyMemory<byte>>> LoadOperatorStatesAsync(CheckpointManifest manifest, CancellationToken cancellationToken = default) =>
        _shared.LoadOperatorStatesAsync(manifest, cancellationToken);

    /// <inheritdoc />
    public async ValueTask<CheckpointManifest> UpdateSinkStatusesAsync(ulong checkpointId, IReadOnlyDictionary<string, SinkCommitStatus> statuses, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(checkpointId);
        ArgumentNullException.ThrowIfNull(statuses);
        foreach (var (sink, status) in statuses)
        {
            ManifestNames.Validate(sink, "sink", nameof(statuses));
            ArgumentNullException.ThrowIfNull(status, nameof(statuses));
        }

        var start = Stopwatch.GetTimestamp();
        for (var attempt = 1; attempt <= MaxPointerAttempts; attempt++)
        {
            var (existing, etag) = await _shared.LoadWithETagAsync(checkpointId, cancellationToken).ConfigureAwait(false);
            if (existing is null)
            {
                throw new CheckpointException(
                    CheckpointErrorCode.DirectoryNotFound,
                    $"Cannot update sink statuses of checkpoint {checkpointId}: '{GetManifestKey(checkpointId)}' does not exist in {_where} (pruned, or never saved). Update a checkpoint listed by ListAsync.");
            }

            var updated = existing.WithSinkCommitStatuses(existing.SinkCommitStatuses.SetItems(statuses));
            // The one allowed rewrite, still a compare-and-swap so that two updaters merge instead of losing each other's statuses.
            if (await _objects.TryReplaceAsync(GetManifestKey(checkpointId), ManifestObjects.Serialize(updated), etag, cancellationToken).ConfigureAwait(false))
            {
                ManifestObjects.RecordWrite(start, null);
                return updated;
            }
        }

        ManifestObjects.RecordWrite(start, CheckpointErrorCode.WriteFailed);
        throw new CheckpointException(
            CheckpointErrorCode.WriteFailed,
            $"Could not update sink statuses of checkpoint {checkpointId} at '{GetManifestKey(checkpointId)}' in {_where} after {MaxPointerAttempts} compare-and-swap attempts; the manifest is unchanged or holds another updater's statuses. Retry.");
    }

    /// <inheritdoc />
    public ValueTask<ManifestValidationResult> ValidateAsync(ulong checkpointId, CancellationToken cancellationToken = default) => _shared.ValidateAsync(checkpointId, cancellationToken);

    /// <inheritdoc />
    public ValueTask<ManifestRecovery?> RecoverLatestValidAsync(CancellationToken cancellationToken = default) => _shared.RecoverLatestValidAsync(cancellationToken);

    /// <inheritdoc />
    /// <remarks>
    /// On an object store the leftovers of an interrupted save are sidecars without a manifest; they are reported in
    /// <see cref="OrphanCleanupResult.RemovedCheckpointDirectories"/> by id. There are no temp objects.
    /// </remarks>
    public async ValueTask<OrphanCleanupResult> CleanupOrphansAsync(CancellationToken cancellationToken = default)
    {
        var ids = await _shared.ListManifestIdsAsync(cancellationToken).ConfigureAwait(false);
        var sidecars = await _shared.ListSidecarIdsAsync(cancellationToken).ConfigureAwait(false);
        var latest = ids.Count == 0 ? 0 : ids[^1];
        try
        {
            latest = Math.Max(latest, (await _shared.LoadPointerAsync(cancellationToken).ConfigureAwait(false)).CheckpointId ?? 0);
        }
        catch (CheckpointException ex) when (ex.ErrorCode == CheckpointErrorCode.Corrupt)
        {
            // Only the manifests decide then.
        }

        // Only older than the latest checkpoint: a newer sidecar may belong to a save in progress in another process.
        var removed = ImmutableArray.CreateBuilder<ulong>();
        await RemoveOrphanSidecarsAsync(ids, sidecars, latest, removed, cancellationToken).ConfigureAwait(false);
        return new OrphanCleanupResult(removed.ToImmutable(), []);
    }

    /// <summary>Disposes the S3 client when the store created it.</summary>
    public void Dispose()
    {
        if (_ownsClient)
        {
            _client.Dispose();
        }
    }

    private static AmazonS3Client CreateClient(S3ManifestStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var config = new AmazonS3Config
        {
            ForcePathStyle = options.ForcePathStyle,
            AuthenticationRegion = options.Region,
            // Conditional writes are decided by re-reading, never by blind SDK retries; reads retry through Polly.
            MaxErrorRetry = 0,
            // S3-compatible servers (Ceph RGW 16.2) reject the v4 SDK's default trailing checksums with XAmzContentSHA256Mismatch.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };
        if (options.ServiceUrl is { } url)
        {
            config.ServiceURL = url.ToString();
        }
        else
        {
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(options.Region);
        }

        return options.AccessKeyId is { Length: > 0 } key
            ? new AmazonS3Client(new BasicAWSCredentials(key, options.SecretAccessKey), config)
            : new AmazonS3Client(config);
    }
}
