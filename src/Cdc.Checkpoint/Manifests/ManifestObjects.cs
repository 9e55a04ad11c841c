// Over 400 lines: the one validation and recovery walk every manifest store shares, with the raw-read seam it needs, half of it XML docs.
using System.Collections.Immutable;
using System.Diagnostics;
using System.Security.Cryptography;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Offsets;
using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Manifests;

/// <summary>The checkpoint ids a manifest store holds, for <see cref="ManifestObjects"/>.</summary>
/// <param name="WithManifest">Ids that have a manifest, in ascending order.</param>
/// <param name="HighestInUse">
/// The highest id in use in any form (a manifest, an orphan sidecar or directory of an interrupted save): a new
/// checkpoint must take a higher one.
/// </param>
public readonly record struct ManifestIdListing(IReadOnlyList<ulong> WithManifest, ulong HighestInUse);

/// <summary>What a store's latest pointer says, for <see cref="ManifestObjects"/>.</summary>
/// <param name="CheckpointId">The id it names, or <see langword="null"/> when it is missing or unreadable.</param>
/// <param name="Problem">Why it could not be read (it "is empty", "holds ..."), or <see langword="null"/>.</param>
public readonly record struct LatestPointerReading(ulong? CheckpointId, string? Problem);

/// <summary>
/// The raw objects of one manifest store — manifests by id, state sidecars, the latest pointer — and everything every
/// store does the same way over them: parsing, sidecar verification, validation, listing, loading the latest, and the
/// one newest-valid recovery walk. A store implements the few raw reads for its medium (a directory, a bucket) and
/// delegates the rest here, so that every <see cref="IManifestStore"/> validates and recovers identically.
/// </summary>
/// <remarks>
/// <para>
/// For implementers of <see cref="IManifestStore"/> (this library's file and S3 stores use it); applications use the
/// store. Raw reads report "not there" as <see langword="null"/> and failures as <see cref="CheckpointException"/>.
/// </para>
/// <para>Thread-safe when the raw reads are.</para>
/// </remarks>
public abstract class ManifestObjects
{
    private readonly ILogger _logger;

    /// <summary>Creates the shared part of a store.</summary>
    /// <param name="logger">Where validation and recovery log (core event ids 3100–3199).</param>
    /// <param name="codecs">Codecs that read typed offsets back.</param>
    /// <param name="maxManifestBytes">The largest manifest read.</param>
    /// <param name="maxSidecarBytes">The largest sidecar read.</param>
    /// <exception cref="ArgumentNullException"><paramref name="logger"/> or <paramref name="codecs"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A size limit is not positive.</exception>
    protected ManifestObjects(ILogger logger, OffsetCodecRegistry codecs, long maxManifestBytes, long maxSidecarBytes)
    {
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(codecs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxManifestBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxSidecarBytes);
        _logger = logger;
        Codecs = codecs;
        MaxManifestBytes = maxManifestBytes;
        MaxSidecarBytes = maxSidecarBytes;
    }

    /// <summary>Codecs that read typed offsets back.</summary>
    protected OffsetCodecRegistry Codecs { get; }

    /// <summary>The largest manifest read.</summary>
    protected long MaxManifestBytes { get; }

    /// <summary>The largest sidecar read.</summary>
    protected long MaxSidecarBytes { get; }

    /// <summary>Where the store is, for messages (a directory, or a bucket and prefix at an endpoint).</summary>
    protected abstract string Location { get; }

    /// <summary>The latest pointer's path or key, for messages.</summary>
    protected abstract string LatestPointerName { get; }

    /// <summary>How to get checkpoints back when none is usable, for messages ("restore the directory from a backup").</summary>
    protected abstract string RestoreAdvice { get; }

    /// <summary>How to start from scratch on purpose, for messages ("move the directory away").</summary>
    protected abstract string StartOverAdvice { get; }

    /// <summary>
    /// The store's local directory when it is on a file system: then the names of manifests, sidecars and the pointer
    /// are paths and go into <see cref="CheckpointException.Path"/>. <see langword="null"/> (the default) otherwise.
    /// </summary>
    protected virtual string? LocalDirectory => null;

    /// <summary>The path or key of the manifest of checkpoint <paramref name="checkpointId"/>.</summary>
    /// <param name="checkpointId">The id.</param>
    /// <returns>The name.</returns>
    protected abstract string ManifestName(ulong checkpointId);

    /// <summary>The path or key of the state sidecar of checkpoint <paramref name="checkpointId"/>.</summary>
    /// <param name="checkpointId">The id.</param>
    /// <returns>The name.</returns>
    protected abstract string SidecarName(ulong checkpointId);

    /// <summary>Lists the ids of the store.</summary>
    /// <param name="cancellationToken">Cancels the listing.</param>
    /// <returns>The ids.</returns>
    protected abstract ValueTask<ManifestIdListing> ListIdsAsync(CancellationToken cancellationToken);

    /// <summary>Reads the latest pointer.</summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>What it names, or its problem; both <see langword="null"/> when there is no pointer.</returns>
    /// <exception cref="CheckpointException">The pointer cannot be read at all (a link, insecure, an I/O error).</exception>
    protected abstract ValueTask<LatestPointerReading> ReadLatestPointerAsync(CancellationToken cancellationToken);

    /// <summary>Reads the bytes of a manifest, at most <see cref="MaxManifestBytes"/>.</summary>
    /// <param name="checkpointId">The id.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The bytes, or <see langword="null"/> when there is no such manifest.</returns>
    /// <exception cref="CheckpointException">It cannot be read, or is larger than the limit.</exception>
    protected abstract ValueTask<byte[]?> ReadManifestBytesAsync(ulong checkpointId, CancellationToken cancellationToken);

    /// <summary>Reads the bytes of a state sidecar.</summary>
    /// <param name="checkpointId">The id.</param>
    /// <param name="maxBytes">The most to read.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The bytes, or <see langword="null"/> when there is no such sidecar.</returns>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.RecordTooLarge"/> when it is larger than <paramref name="maxBytes"/>; another code
    /// when it cannot be read.
    /// </exception>
    protected abstract ValueTask<byte[]?> ReadSidecarBytesAsync(ulong checkpointId, long maxBytes, CancellationToken cancellationToken);

    /// <summary>Whether a sidecar object exists for a checkpoint whose manifest declares none (reported as a warning).</summary>
    /// <param name="checkpointId">The id.</param>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns><see langword="false"/> unless the store overrides it.</returns>
    protected virtual ValueTask<bool> HasUndeclaredSidecarAsync(ulong checkpointId, CancellationToken cancellationToken) => ValueTask.FromResult(false);

    /// <summary>
    /// Whether a failure to read a checkpoint says the checkpoint itself is bad (a fatal finding, recovery skips it)
    /// rather than that the store cannot be reached right now (the failure propagates).
    /// </summary>
    /// <param name="exception">The failure.</param>
    /// <returns><see langword="true"/> for every failure unless the store overrides it.</returns>
    protected virtual bool IsCheckpointFault(CheckpointException exception) => true;

    /// <summary>Loads and parses a manifest, checking that it names <paramref name="checkpointId"/>.</summary>
    /// <param name="checkpointId">The id.</param>
    /// <param name="cancellationToken">Cancels the load.</param>
    /// <returns>The manifest, or <see langword="null"/> when there is none.</returns>
    /// <exception cref="CheckpointException">It cannot be read, is corrupt or of an unsupported version.</exception>
    public async ValueTask<CheckpointManifest?> LoadAsync(ulong checkpointId, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(checkpointId);
        var bytes = await ReadManifestBytesAsync(checkpointId, cancellationToken).ConfigureAwait(false);
        if (bytes is null)
        {
            return null;
        }

        return ParseManifest(checkpointId, bytes);
    }

    /// <summary>Parses the bytes of the manifest of <paramref name="checkpointId"/> (for a store that read them itself, with an ETag say).</summary>
    /// <param name="checkpointId">The id the manifest must name.</param>
    /// <param name="bytes">The bytes.</param>
    /// <returns>The manifest.</returns>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.Corrupt"/> or <see cref="CheckpointErrorCode.UnsupportedFormatVersion"/>.</exception>
    protected CheckpointManifest ParseManifest(ulong checkpointId, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        var name = ManifestName(checkpointId);
        var manifest = ManifestFormat.Parse(bytes, name, Codecs, checkpointId);
        Log.ManifestLoaded(_logger, checkpointId, manifest.Epoch, name);
        return manifest;
    }

    /// <summary>Loads the checkpoint the latest pointer names, or the newest manifest when the pointer is missing, unreadable or dangling.</summary>
    /// <param name="cancellationToken">Cancels the load.</param>
    /// <returns>The manifest, or <see langword="null"/> when there is none.</returns>
    /// <exception cref="CheckpointException">That manifest cannot be trusted.</exception>
    public async ValueTask<CheckpointManifest?> LoadLatestAsync(CancellationToken cancellationToken = default)
    {
        var (pointer, problem) = await ReadLatestPointerAsync(cancellationToken).ConfigureAwait(false);
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
            Log.LatestPointerInvalid(_logger, LatestPointerName, problem);
        }

        var ids = (await ListIdsAsync(cancellationToken).ConfigureAwait(false)).WithManifest;
        return ids.Count == 0 ? null : await LoadAsync(ids[^1], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Lists every checkpoint that has a manifest, readable or not, ascending.</summary>
    /// <param name="cancellationToken">Cancels the listing.</param>
    /// <returns>The entries.</returns>
    public async ValueTask<IReadOnlyList<ManifestListEntry>> ListAsync(CancellationToken cancellationToken = default)
    {
        var result = new List<ManifestListEntry>();
        foreach (var id in (await ListIdsAsync(cancellationToken).ConfigureAwait(false)).WithManifest)
        {
            try
            {
                var manifest = await LoadAsync(id, cancellationToken).ConfigureAwait(false);
                result.Add(manifest is null
                    ? new ManifestListEntry(id, null, null, "the manifest disappeared while listing (pruned?)")
                    : new ManifestListEntry(id, manifest.Epoch, manifest.CreatedAt, null));
            }
            catch (CheckpointException ex) when (IsCheckpointFault(ex))
            {
                result.Add(new ManifestListEntry(id, null, null, ex.Message));
            }
        }

        return result;
    }

    /// <summary>Reads and verifies the sidecar <paramref name="manifest"/> declares (size and SHA-256).</summary>
    /// <param name="manifest">A manifest of this store.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The bytes, or <see langword="null"/> when the manifest declares no sidecar.</returns>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.Corrupt"/> when the sidecar is missing or does not match.</exception>
    public async ValueTask<byte[]?> ReadSidecarAsync(CheckpointManifest manifest, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.StateSidecar is not { } info)
        {
            return null;
        }

        var id = manifest.CheckpointId;
        var name = SidecarName(id);
        const string Fix = "The checkpoint cannot be used; recovery falls back to an older one, or restore the checkpoint from a backup.";
        byte[]? bytes;
        try
        {
            bytes = await ReadSidecarBytesAsync(id, Math.Min(info.SizeBytes, MaxSidecarBytes), cancellationToken).ConfigureAwait(false);
        }
        catch (CheckpointException ex) when (ex.ErrorCode == CheckpointErrorCode.RecordTooLarge)
        {
            throw Corrupt($"state sidecar '{name}' size mismatch: it is larger than the {info.SizeBytes} bytes the manifest of checkpoint {id} records (or than MaxSidecarBytes). {Fix}", name, ex);
        }

        if (bytes is null)
        {
            throw Corrupt($"state sidecar '{name}' referenced by the manifest of checkpoint {id} (sha256 {info.Sha256}) was not found. {Fix}", name);
        }

        if (bytes.LongLength != info.SizeBytes)
        {
            throw Corrupt($"state sidecar '{name}' size mismatch: the manifest of checkpoint {id} records {info.SizeBytes} bytes, it has {bytes.LongLength}. {Fix}", name);
        }

        var actual = Sha256Hex(bytes);
        if (!string.Equals(actual, info.Sha256, StringComparison.Ordinal))
        {
            throw Corrupt($"state sidecar '{name}' checksum mismatch: the manifest of checkpoint {id} records sha256 {info.Sha256}, it has {actual}. {Fix}", name);
        }

        return bytes;
    }

    /// <summary>Loads the verified sidecar of checkpoint <paramref name="checkpointId"/>.</summary>
    /// <param name="checkpointId">The id.</param>
    /// <param name="cancellationToken">Cancels the load.</param>
    /// <returns>The bytes, or <see langword="null"/> when there is no such checkpoint or it has no sidecar.</returns>
    /// <exception cref="CheckpointException">The manifest or the sidecar cannot be trusted.</exception>
    public async ValueTask<byte[]?> LoadSidecarAsync(ulong checkpointId, CancellationToken cancellationToken = default) =>
        await LoadAsync(checkpointId, cancellationToken).ConfigureAwait(false) is { } manifest
            ? await ReadSidecarAsync(manifest, cancellationToken).ConfigureAwait(false)
            : null;

    /// <summary>Resolves every operator state of <paramref name="manifest"/>, reading the sidecar when needed.</summary>
    /// <param name="manifest">A manifest of this store.</param>
    /// <param name="cancellationToken">Cancels the load.</param>
    /// <returns>The bytes of each operator's state.</returns>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.Corrupt"/> when the sidecar is missing or does not match.</exception>
    public async ValueTask<ImmutableSortedDictionary<string, ReadOnlyMemory<byte>>> LoadOperatorStatesAsync(CheckpointManifest manifest, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        byte[]? sidecar = null;
        if (manifest.OperatorStates.Values.Any(s => s.IsInSidecar))
        {
            sidecar = await ReadSidecarAsync(manifest, cancellationToken).ConfigureAwait(false) ?? throw Corrupt(
                $"Checkpoint {manifest.CheckpointId} keeps operator state in a sidecar but its manifest declares none; it cannot be restored from {Location}.",
                null);
        }

        return ResolveOperatorStates(manifest, sidecar);
    }

    /// <summary>
    /// The operator states of <paramref name="manifest"/> given its verified sidecar (<see langword="null"/> only when no
    /// state lives in one): the ranges were checked against the sidecar's size when the manifest was parsed.
    /// </summary>
    internal static ImmutableSortedDictionary<string, ReadOnlyMemory<byte>> ResolveOperatorStates(CheckpointManifest manifest, byte[]? sidecar)
    {
        var builder = ImmutableSortedDictionary.CreateBuilder<string, ReadOnlyMemory<byte>>(StringComparer.Ordinal);
        foreach (var (name, state) in manifest.OperatorStates)
        {
            builder[name] = state.IsInSidecar ? sidecar.AsMemory((int)state.SidecarOffset, (int)state.SidecarLength) : state.Inline;
        }

        return builder.ToImmutable();
    }

    /// <summary>Validates one checkpoint: manifest present and readable, sidecar present with the recorded size and checksum.</summary>
    /// <param name="checkpointId">The id.</param>
    /// <param name="cancellationToken">Cancels the validation.</param>
    /// <returns>The findings; a damaged checkpoint is a finding, not an exception.</returns>
    /// <exception cref="CheckpointException">The store cannot be read (<see cref="IsCheckpointFault"/> is false).</exception>
    public async ValueTask<ManifestValidationResult> ValidateAsync(ulong checkpointId, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(checkpointId);
        return (await ValidateCoreAsync(checkpointId, cancellationToken).ConfigureAwait(false)).Result;
    }

    // ValidateAsync, also returning the sidecar it verified, so that recovery hands it on instead of reading and hashing it again.
    private async ValueTask<(ManifestValidationResult Result, byte[]? Sidecar)> ValidateCoreAsync(ulong checkpointId, CancellationToken cancellationToken)
    {
        var findings = ImmutableArray.CreateBuilder<ValidationFinding>();
        CheckpointManifest? manifest;
        try
        {
            manifest = await LoadAsync(checkpointId, cancellationToken).ConfigureAwait(false);
        }
        catch (CheckpointException ex) when (IsCheckpointFault(ex))
        {
            var prefix = ex.ErrorCode == CheckpointErrorCode.Corrupt ? "corrupt manifest: " : string.Empty;
            findings.Add(new ValidationFinding(ValidationSeverity.Fatal, prefix + ex.Message));
            return (new ManifestValidationResult(checkpointId, findings.ToImmutable(), null), null);
        }

        if (manifest is null)
        {
            findings.Add(new ValidationFinding(ValidationSeverity.Fatal, $"manifest not found for checkpoint {checkpointId} ('{ManifestName(checkpointId)}')"));
            return (new ManifestValidationResult(checkpointId, findings.ToImmutable(), null), null);
        }

        byte[]? sidecar = null;
        if (manifest.StateSidecar is not null)
        {
            try
            {
                sidecar = await ReadSidecarAsync(manifest, cancellationToken).ConfigureAwait(false);
            }
            catch (CheckpointException ex) when (IsCheckpointFault(ex) || ex.ErrorCode == CheckpointErrorCode.Corrupt)
            {
                findings.Add(new ValidationFinding(ValidationSeverity.Fatal, ex.Message));
            }
        }
        else if (await HasUndeclaredSidecarAsync(checkpointId, cancellationToken).ConfigureAwait(false))
        {
            findings.Add(new ValidationFinding(ValidationSeverity.Warning, $"'{SidecarName(checkpointId)}' exists but the manifest declares no sidecar; it is ignored"));
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

        return (new ManifestValidationResult(checkpointId, findings.ToImmutable(), manifest), sidecar);
    }

    /// <summary>
    /// The newest-valid recovery walk: lists the ids, validates from the newest down, skips (and logs) each invalid one
    /// with its reason, and returns the first valid one.
    /// </summary>
    /// <param name="cancellationToken">Cancels the walk.</param>
    /// <returns>The recovery, or <see langword="null"/> only when the store holds no checkpoint at all.</returns>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.Corrupt"/> when checkpoints exist but none is valid, or the latest pointer names a
    /// checkpoint while no manifest is left: never reported as a fresh start.
    /// </exception>
    public async ValueTask<ManifestRecovery?> RecoverLatestValidAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var (checkpoints, highest) = await ListIdsAsync(cancellationToken).ConfigureAwait(false);
        ulong? pointer = null;
        try
        {
            var (id, problem) = await ReadLatestPointerAsync(cancellationToken).ConfigureAwait(false);
            pointer = id;
            if (problem is not null)
            {
                Log.LatestPointerInvalid(_logger, LatestPointerName, problem);
            }
        }
        catch (CheckpointException ex) when (IsCheckpointFault(ex))
        {
            Log.LatestPointerInvalid(_logger, LatestPointerName, ex.Message);
        }

        var skipped = ImmutableArray.CreateBuilder<SkippedCheckpoint>();
        if (pointer is { } named)
        {
            highest = Math.Max(highest, named);
            if (!checkpoints.Contains(named))
            {
                if (checkpoints.Count == 0)
                {
                    throw Corrupt(
                        $"The latest pointer '{LatestPointerName}' names checkpoint {named}, but no checkpoint manifest is left in {Location}: the checkpoint history was removed or lost. Nothing was recovered and this is not treated as a fresh start; {RestoreAdvice}, or delete '{LatestPointerName}' to start from scratch on purpose.",
                        LatestPointerName);
                }

                var reason = $"the latest pointer names it but '{ManifestName(named)}' does not exist";
                Log.InvalidCheckpointSkipped(_logger, named, reason);
                skipped.Add(new SkippedCheckpoint(named, reason));
            }
        }

        var examined = 0;
        for (var i = checkpoints.Count - 1; i >= 0; i--)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var id = checkpoints[i];
            examined++;
            var (result, sidecar) = await ValidateCoreAsync(id, cancellationToken).ConfigureAwait(false);
            if (result.IsValid)
            {
                Log.CheckpointRecovered(_logger, id, result.Manifest!.Epoch, Location, examined, skipped.Count);
                return new ManifestRecovery(
                    result.Manifest,
                    skipped.ToImmutable(),
                    result.Findings.Where(f => f.Severity == ValidationSeverity.Warning).ToImmutableArray(),
                    highest,
                    examined,
                    checkpoints,
                    sidecar);
            }

            Log.InvalidCheckpointSkipped(_logger, id, result.FatalReason);
            skipped.Add(new SkippedCheckpoint(id, result.FatalReason));
        }

        if (checkpoints.Count == 0)
        {
            return null;
        }

        throw Corrupt(
            $"None of the {checkpoints.Count} checkpoints in {Location} is valid, so nothing can be recovered (this is not a fresh start): {string.Join("; ", skipped.Select(s => $"checkpoint {s.CheckpointId}: {s.Reason}"))}. {Capitalize(RestoreAdvice)}, or {StartOverAdvice} to start from scratch on purpose.",
            null);
    }

    /// <summary>
    /// Describes <paramref name="sidecar"/> in <paramref name="manifest"/> (size and SHA-256) and serializes the result:
    /// the first step of every store's save, which checks the whole manifest before anything is written.
    /// </summary>
    /// <param name="manifest">The manifest to save.</param>
    /// <param name="sidecar">The sidecar bytes; empty for none.</param>
    /// <returns>The manifest as it will be saved, and its bytes.</returns>
    /// <exception cref="ArgumentException">The sidecar is larger than <see cref="MaxSidecarBytes"/>, or the manifest is invalid.</exception>
    public (CheckpointManifest Manifest, byte[] Bytes) PrepareSave(CheckpointManifest manifest, ReadOnlySpan<byte> sidecar)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (sidecar.Length > MaxSidecarBytes)
        {
            throw new ArgumentException($"The sidecar of checkpoint {manifest.CheckpointId} is {sidecar.Length} bytes, more than MaxSidecarBytes ({MaxSidecarBytes}).", nameof(sidecar));
        }

        var toWrite = manifest.WithStateSidecar(sidecar.IsEmpty ? null : new StateSidecarInfo(Sha256Hex(sidecar), sidecar.Length));
        return (toWrite, ManifestFormat.Serialize(toWrite));
    }

    /// <summary>Serializes a manifest as the store writes it (the sink-status rewrite).</summary>
    /// <param name="manifest">The manifest.</param>
    /// <returns>Its bytes.</returns>
    public static byte[] Serialize(CheckpointManifest manifest) => ManifestFormat.Serialize(manifest);

    /// <summary>Records one durable manifest write in the shared <c>cdc.checkpoint.manifest.*</c> instruments.</summary>
    /// <param name="startTimestamp">A <see cref="Stopwatch.GetTimestamp"/> taken when the write started.</param>
    /// <param name="error">The failure, or <see langword="null"/> for success.</param>
    public static void RecordWrite(long startTimestamp, CheckpointErrorCode? error) => ManifestMetrics.RecordWrite(startTimestamp, error);

    /// <summary>The SHA-256 of <paramref name="data"/> as 64 lower-case hex digits, as manifests record sidecars.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The digest.</returns>
    public static string Sha256Hex(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));

    private CheckpointException Corrupt(string message, string? name, Exception? inner = null) =>
        new(CheckpointErrorCode.Corrupt, message, inner) { Path = LocalDirectory is null ? null : name ?? LocalDirectory };

    private static string Capitalize(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];
}
