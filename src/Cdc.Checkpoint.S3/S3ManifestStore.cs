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
    private const string ManifestKeyPrefix = "manifests/manifest-";
    private const string StateKeyPrefix = "checkpoints/state-";
    private const int MaxPointerBytes = 256;
    private const int MaxPointerAttempts = 64;

    private readonly S3ManifestStoreOptions _options;
    private readonly IAmazonS3 _client;
    private readonly bool _ownsClient;
    private readonly S3Objects _objects;
    private readonly ILogger _logger;
    private readonly string _prefix;
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
        _prefix = options.NormalizedPrefix;
        _where = options.Describe();
        _objects = new S3Objects(client, options, timeProvider ?? TimeProvider.System);
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<S3ManifestStore>();
    }

    /// <summary>The options.</summary>
    public S3ManifestStoreOptions Options => _options;

    /// <summary>The key of the latest pointer.</summary>
    public string LatestPointerKey => _prefix + "manifests/latest.json";

    /// <summary>The key of the manifest of checkpoint <paramref name="checkpointId"/>.</summary>
    /// <param name="checkpointId">The id, at least 1.</param>
    /// <returns>The key.</returns>
    public string GetManifestKey(ulong checkpointId)
    {
        ArgumentOutOfRangeException.ThrowIfZero(checkpointId);
        return _prefix + ManifestKeyPrefix + checkpointId.ToString("D6", CultureInfo.InvariantCulture) + ".json";
    }

    /// <summary>The key of the state sidecar of checkpoint <paramref name="checkpointId"/>.</summary>
    /// <param name="checkpointId">The id, at least 1.</param>
    /// <returns>The key.</returns>
    public string GetSidecarKey(ulong checkpointId)
    {
        ArgumentOutOfRangeException.ThrowIfZero(checkpointId);
        return _prefix + StateKeyPrefix + checkpointId.ToString("D6", CultureInfo.InvariantCulture) + ".bin";
    }

    /// <inheritdoc />
    public async ValueTask<CheckpointManifest> SaveAsync(CheckpointManifest manifest, ReadOnlyMemory<byte> sidecar = default, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (sidecar.Length > _options.MaxSidecarBytes)
        {
            throw new ArgumentException($"The sidecar of checkpoint {manifest.CheckpointId} is {sidecar.Length} bytes, more than MaxSidecarBytes ({_options.MaxSidecarBytes}).", nameof(sidecar));
        }

        var toWrite = manifest.WithStateSidecar(sidecar.IsEmpty ? null : new StateSidecarInfo(Convert.ToHexStringLower(SHA256.HashData(sidecar.Span)), sidecar.Length));
        var bytes = ManifestFormat.Serialize(toWrite);
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
            ManifestMetrics.RecordWrite(start, null);
        }
        catch (CheckpointException ex)
        {
            ManifestMetrics.RecordWrite(start, ex.ErrorCode);
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
            var current = await _objects.GetAsync(LatestPointerKey, MaxPointerBytes, cancellationToken).ConfigureAwait(false);
            var named = current is null ? null : ParsePointer(current.Bytes).Id;
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
            if (named is null && (await ListManifestIdsAsync(cancellationToken).ConfigureAwait(false)) is [.., var newest] && newest > id)
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
    public async ValueTask<CheckpointManifest?> LoadLatestAsync(CancellationToken cancellationToken = default)
    {
        var (pointer, problem) = await ReadPointerAsync(cancellationToken).ConfigureAwait(false);
        if (pointer is { } id)
        {
            if (await LoadAsync(id, cancellationToken).ConfigureAwait(false) is { } manifest)
            {
                return manifest;
            }

            problem = $"names checkpoint {id}, which has no manifest";
        }

        if (problem is not null)
        {
            S3Log.LatestPointerInvalid(_logger, LatestPointerKey, problem);
        }

        var ids = await ListManifestIdsAsync(cancellationToken).ConfigureAwait(false);
        return ids.Count == 0 ? null : await LoadAsync(ids[^1], cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<CheckpointManifest?> LoadAsync(ulong checkpointId, CancellationToken cancellationToken = default) =>
        (await LoadWithETagAsync(checkpointId, cancellationToken).ConfigureAwait(false)).Manifest;

    private async Task<(CheckpointManifest? Manifest, string? ETag)> LoadWithETagAsync(ulong checkpointId, CancellationToken cancellationToken)
    {
        var key = GetManifestKey(checkpointId);
        var found = await _objects.GetAsync(key, _options.MaxManifestBytes, cancellationToken).ConfigureAwait(false);
        return found is null ? (null, null) : (ManifestFormat.Parse(found.Bytes, key, _options.Codecs, checkpointId), found.ETag);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<ManifestListEntry>> ListAsync(CancellationToken cancellationToken = default)
    {
        var result = new List<ManifestListEntry>();
        foreach (var id in await ListManifestIdsAsync(cancellationToken).ConfigureAwait(false))
        {
            try
            {
                var manifest = await LoadAsync(id, cancellationToken).ConfigureAwait(false);
                result.Add(manifest is null
                    ? new ManifestListEntry(id, null, null, "the manifest disappeared while listing (pruned?)")
                    : new ManifestListEntry(id, manifest.Epoch, manifest.CreatedAt, null));
            }
            catch (CheckpointException ex) when (ex.ErrorCode is CheckpointErrorCode.Corrupt or CheckpointErrorCode.UnsupportedFormatVersion)
            {
                result.Add(new ManifestListEntry(id, null, null, ex.Message));
            }
        }

        return result;
    }

    /// <inheritdoc />
    public async ValueTask<int> PruneAsync(int keep, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keep, 1);
        var ids = await ListManifestIdsAsync(cancellationToken).ConfigureAwait(false);
        var sidecars = await ListSidecarIdsAsync(cancellationToken).ConfigureAwait(false);
        if (ids.Count <= keep)
        {
            await RemoveOrphanSidecarsAsync(ids, sidecars, ids.Count == 0 ? 0 : ids[0], null, cancellationToken).ConfigureAwait(false);
            return 0;
        }

        ulong? pointer = null;
        try
        {
            pointer = (await ReadPointerAsync(cancellationToken).ConfigureAwait(false)).Id;
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
        catch (CheckpointException ex) when (ex.ErrorCode is CheckpointErrorCode.Corrupt or CheckpointErrorCode.UnsupportedFormatVersion)
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
    public async ValueTask<byte[]?> LoadSidecarAsync(ulong checkpointId, CancellationToken cancellationToken = default) =>
        await LoadAsync(checkpointId, cancellationToken).ConfigureAwait(false) is { } manifest
            ? await ReadSidecarAsync(manifest, cancellationToken).ConfigureAwait(false)
            : null;

    /// <inheritdoc />
    public async ValueTask<ImmutableSortedDictionary<string, ReadOnlyMemory<byte>>> LoadOperatorStatesAsync(CheckpointManifest manifest, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        byte[]? sidecar = null;
        if (manifest.OperatorStates.Values.Any(s => s.IsInSidecar))
        {
            sidecar = await ReadSidecarAsync(manifest, cancellationToken).ConfigureAwait(false) ?? throw new CheckpointException(
                CheckpointErrorCode.Corrupt,
                $"Checkpoint {manifest.CheckpointId} keeps operator state in a sidecar but its manifest declares none; it cannot be restored from {_where}.");
        }

        var builder = ImmutableSortedDictionary.CreateBuilder<string, ReadOnlyMemory<byte>>(StringComparer.Ordinal);
        foreach (var (name, state) in manifest.OperatorStates)
        {
            builder[name] = state.IsInSidecar ? sidecar.AsMemory((int)state.SidecarOffset, (int)state.SidecarLength) : state.Inline;
        }

        return builder.ToImmutable();
    }

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
            var (existing, etag) = await LoadWithETagAsync(checkpointId, cancellationToken).ConfigureAwait(false);
            if (existing is null)
            {
                throw new CheckpointException(
                    CheckpointErrorCode.DirectoryNotFound,
                    $"Cannot update sink statuses of checkpoint {checkpointId}: '{GetManifestKey(checkpointId)}' does not exist in {_where} (pruned, or never saved). Update a checkpoint listed by ListAsync.");
            }

            var updated = existing.WithSinkCommitStatuses(existing.SinkCommitStatuses.SetItems(statuses));
            // The one allowed rewrite, still a compare-and-swap so that two updaters merge instead of losing each other's statuses.
            if (await _objects.TryReplaceAsync(GetManifestKey(checkpointId), ManifestFormat.Serialize(updated), etag, cancellationToken).ConfigureAwait(false))
            {
                ManifestMetrics.RecordWrite(start, null);
                return updated;
            }
        }

        ManifestMetrics.RecordWrite(start, CheckpointErrorCode.WriteFailed);
        throw new CheckpointException(
            CheckpointErrorCode.WriteFailed,
            $"Could not update sink statuses of checkpoint {checkpointId} at '{GetManifestKey(checkpointId)}' in {_where} after {MaxPointerAttempts} compare-and-swap attempts; the manifest is unchanged or holds another updater's statuses. Retry.");
    }

    /// <inheritdoc />
    public async ValueTask<ManifestValidationResult> ValidateAsync(ulong checkpointId, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(checkpointId);
        var findings = ImmutableArray.CreateBuilder<ValidationFinding>();
        CheckpointManifest? manifest;
        try
        {
            manifest = await LoadAsync(checkpointId, cancellationToken).ConfigureAwait(false);
        }
        catch (CheckpointException ex) when (ex.ErrorCode is CheckpointErrorCode.Corrupt or CheckpointErrorCode.UnsupportedFormatVersion)
        {
            var prefix = ex.ErrorCode == CheckpointErrorCode.Corrupt ? "corrupt manifest: " : string.Empty;
            findings.Add(new ValidationFinding(ValidationSeverity.Fatal, prefix + ex.Message));
            return new ManifestValidationResult(checkpointId, findings.ToImmutable(), null);
        }

        if (manifest is null)
        {
            findings.Add(new ValidationFinding(ValidationSeverity.Fatal, $"manifest not found for checkpoint {checkpointId} ('{GetManifestKey(checkpointId)}')"));
            return new ManifestValidationResult(checkpointId, findings.ToImmutable(), null);
        }

        if (manifest.StateSidecar is not null)
        {
            try
            {
                await ReadSidecarAsync(manifest, cancellationToken).ConfigureAwait(false);
            }
            catch (CheckpointException ex) when (ex.ErrorCode == CheckpointErrorCode.Corrupt)
            {
                findings.Add(new ValidationFinding(ValidationSeverity.Fatal, ex.Message));
            }
        }

        foreach (var (sink, status) in manifest.SinkCommitStatuses)
        {
            switch (status.State)
            {
                case SinkCommitState.Pending:
                    findings.Add(new ValidationFinding(ValidationSeverity.Warning, $"sink '{sink}' has not confirmed its commit of checkpoint {checkpointId} (pending)"));
                    break;
                case SinkCommitState.Failed:
                    findings.Add(new ValidationFinding(ValidationSeverity.Warning, $"sink '{sink}' failed to commit checkpoint {checkpointId}: {status.FailureMessage ?? "no reason recorded"}"));
                    break;
            }
        }

        return new ManifestValidationResult(checkpointId, findings.ToImmutable(), manifest);
    }

    /// <inheritdoc />
    public async ValueTask<ManifestRecovery?> RecoverLatestValidAsync(CancellationToken cancellationToken = default)
    {
        var ids = await ListManifestIdsAsync(cancellationToken).ConfigureAwait(false);
        var sidecars = await ListSidecarIdsAsync(cancellationToken).ConfigureAwait(false);
        var highest = Math.Max(ids.Count == 0 ? 0 : ids[^1], sidecars.Count == 0 ? 0 : sidecars.Max());
        ulong? pointer = null;
        try
        {
            var (id, problem) = await ReadPointerAsync(cancellationToken).ConfigureAwait(false);
            pointer = id;
            if (problem is not null)
            {
                S3Log.LatestPointerInvalid(_logger, LatestPointerKey, problem);
            }
        }
        catch (CheckpointException ex) when (ex.ErrorCode == CheckpointErrorCode.Corrupt)
        {
            S3Log.LatestPointerInvalid(_logger, LatestPointerKey, ex.Message);
        }

        var skipped = ImmutableArray.CreateBuilder<SkippedCheckpoint>();
        if (pointer is { } named)
        {
            highest = Math.Max(highest, named);
            if (!ids.Contains(named))
            {
                if (ids.Count == 0)
                {
                    throw new CheckpointException(
                        CheckpointErrorCode.Corrupt,
                        $"The latest pointer '{LatestPointerKey}' in {_where} names checkpoint {named}, but no manifest is left under the prefix: the checkpoint history was removed or lost. Nothing was recovered and this is not treated as a fresh start; restore the objects, or delete '{LatestPointerKey}' to start from scratch on purpose.");
                }

                var reason = $"the latest pointer names it but '{GetManifestKey(named)}' does not exist";
                S3Log.InvalidCheckpointSkipped(_logger, named, reason);
                skipped.Add(new SkippedCheckpoint(named, reason));
            }
        }

        var examined = 0;
        for (var i = ids.Count - 1; i >= 0; i--)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var id = ids[i];
            examined++;
            var result = await ValidateAsync(id, cancellationToken).ConfigureAwait(false);
            if (result.IsValid)
            {
                S3Log.CheckpointRecovered(_logger, id, result.Manifest!.Epoch, _where, examined, skipped.Count);
                return new ManifestRecovery(
                    result.Manifest,
                    skipped.ToImmutable(),
                    result.Findings.Where(f => f.Severity == ValidationSeverity.Warning).ToImmutableArray(),
                    highest,
                    examined);
            }

            S3Log.InvalidCheckpointSkipped(_logger, id, result.FatalReason);
            skipped.Add(new SkippedCheckpoint(id, result.FatalReason));
        }

        if (ids.Count == 0)
        {
            return null;
        }

        throw new CheckpointException(
            CheckpointErrorCode.Corrupt,
            $"None of the {ids.Count} checkpoints in {_where} is valid, so nothing can be recovered (this is not a fresh start): {string.Join("; ", skipped.Select(s => $"checkpoint {s.CheckpointId}: {s.Reason}"))}. Restore the objects from a backup or versioned bucket, or use a new prefix to start from scratch on purpose.");
    }

    /// <inheritdoc />
    /// <remarks>
    /// On an object store the leftovers of an interrupted save are sidecars without a manifest; they are reported in
    /// <see cref="OrphanCleanupResult.RemovedCheckpointDirectories"/> by id. There are no temp objects.
    /// </remarks>
    public async ValueTask<OrphanCleanupResult> CleanupOrphansAsync(CancellationToken cancellationToken = default)
    {
        var ids = await ListManifestIdsAsync(cancellationToken).ConfigureAwait(false);
        var sidecars = await ListSidecarIdsAsync(cancellationToken).ConfigureAwait(false);
        var latest = ids.Count == 0 ? 0 : ids[^1];
        try
        {
            latest = Math.Max(latest, (await ReadPointerAsync(cancellationToken).ConfigureAwait(false)).Id ?? 0);
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

    private async Task<byte[]?> ReadSidecarAsync(CheckpointManifest manifest, CancellationToken cancellationToken)
    {
        if (manifest.StateSidecar is not { } info)
        {
            return null;
        }

        var key = GetSidecarKey(manifest.CheckpointId);
        const string Fix = "The checkpoint cannot be used; recovery falls back to an older one.";
        S3Object? found;
        try
        {
            found = await _objects.GetAsync(key, Math.Min(info.SizeBytes, _options.MaxSidecarBytes), cancellationToken).ConfigureAwait(false);
        }
        catch (CheckpointException ex) when (ex.ErrorCode == CheckpointErrorCode.Corrupt)
        {
            throw new CheckpointException(CheckpointErrorCode.Corrupt, $"state sidecar '{key}' size mismatch: it is larger than the {info.SizeBytes} bytes the manifest of checkpoint {manifest.CheckpointId} records. {Fix}", ex);
        }

        if (found is null)
        {
            throw new CheckpointException(CheckpointErrorCode.Corrupt, $"state sidecar '{key}' referenced by the manifest of checkpoint {manifest.CheckpointId} (sha256 {info.Sha256}) was not found. {Fix}");
        }

        if (found.Bytes.LongLength != info.SizeBytes)
        {
            throw new CheckpointException(CheckpointErrorCode.Corrupt, $"state sidecar '{key}' size mismatch: the manifest of checkpoint {manifest.CheckpointId} records {info.SizeBytes} bytes, the object has {found.Bytes.LongLength}. {Fix}");
        }

        var actual = Convert.ToHexStringLower(SHA256.HashData(found.Bytes));
        if (!string.Equals(actual, info.Sha256, StringComparison.Ordinal))
        {
            throw new CheckpointException(CheckpointErrorCode.Corrupt, $"state sidecar '{key}' checksum mismatch: the manifest of checkpoint {manifest.CheckpointId} records sha256 {info.Sha256}, the object has {actual}. {Fix}");
        }

        return found.Bytes;
    }

    private async Task<(ulong? Id, string? Problem)> ReadPointerAsync(CancellationToken cancellationToken)
    {
        var found = await _objects.GetAsync(LatestPointerKey, MaxPointerBytes, cancellationToken).ConfigureAwait(false);
        return found is null ? (null, null) : ParsePointer(found.Bytes);
    }

    internal static (ulong? Id, string? Problem) ParsePointer(byte[] bytes)
    {
        try
        {
            using var document = JsonDocument.Parse(bytes);
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("checkpoint_id", out var value)
                && value.TryGetUInt64(out var id) && id > 0)
            {
                return (id, null);
            }
        }
        catch (JsonException)
        {
            // Reported below.
        }

        return (null, "is not {\"checkpoint_id\": N} with N >= 1");
    }

    private async Task<List<ulong>> ListManifestIdsAsync(CancellationToken cancellationToken) =>
        (await ListIdsAsync(ManifestKeyPrefix, ".json", cancellationToken).ConfigureAwait(false)).Order().ToList();

    private async Task<HashSet<ulong>> ListSidecarIdsAsync(CancellationToken cancellationToken) =>
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
