using System.Diagnostics;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Offsets;
using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Manifests;

/// <summary>
/// An <see cref="ICheckpointStore"/> over a manifest store: one manifest source per source type, a save is a report
/// to a <see cref="CheckpointCoordinator"/> followed by a (group) commit, so concurrent saves of different source
/// types share durable writes.
/// </summary>
/// <remarks>
/// Loads answer from the last durable manifest of the coordinator. Progress is guarded by
/// <see cref="ProgressGuard"/> with the committed event count, as in every other store. Thread-safe.
/// </remarks>
public sealed class ManifestCheckpointStore : ICheckpointStore, IAsyncDisposable
{
    private const string StoreTag = "manifest";

    private readonly bool _ownsCoordinator;

    /// <summary>Wraps an existing coordinator; disposing this store does not dispose it.</summary>
    /// <param name="coordinator">The coordinator.</param>
    public ManifestCheckpointStore(CheckpointCoordinator coordinator)
        : this(coordinator, ownsCoordinator: false)
    {
    }

    private ManifestCheckpointStore(CheckpointCoordinator coordinator, bool ownsCoordinator)
    {
        ArgumentNullException.ThrowIfNull(coordinator);
        Coordinator = coordinator;
        _ownsCoordinator = ownsCoordinator;
    }

    /// <summary>Starts a coordinator over <paramref name="store"/> (restoring from its newest valid checkpoint) and wraps it.</summary>
    /// <param name="store">The manifest store.</param>
    /// <param name="options">Coordinator options, or <see langword="null"/>.</param>
    /// <param name="timeProvider">Clock, or <see langword="null"/> for the system clock.</param>
    /// <param name="loggerFactory">Logger factory, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the recovery.</param>
    /// <returns>The store; disposing it disposes the coordinator.</returns>
    /// <exception cref="CheckpointException">Checkpoints exist but none is valid.</exception>
    public static async ValueTask<ManifestCheckpointStore> OpenAsync(
        IManifestStore store,
        CheckpointCoordinatorOptions? options = null,
        TimeProvider? timeProvider = null,
        ILoggerFactory? loggerFactory = null,
        CancellationToken cancellationToken = default)
    {
        var coordinator = await CheckpointCoordinator.StartAsync(store, options, timeProvider, loggerFactory, cancellationToken).ConfigureAwait(false);
        return new ManifestCheckpointStore(coordinator, ownsCoordinator: true);
    }

    /// <summary>The coordinator saves go through.</summary>
    public CheckpointCoordinator Coordinator { get; }

    /// <inheritdoc />
    public async ValueTask SaveAsync(CheckpointOffset offset, ulong committedEventCount, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(offset);
        cancellationToken.ThrowIfCancellationRequested();
        var start = Stopwatch.GetTimestamp();
        try
        {
            // A repeat still commits: the repeated position may have been reported by a save whose write failed.
            Coordinator.ReportOffset(offset.SourceType, offset, committedEventCount);
            await Coordinator.CommitAsync(cancellationToken).ConfigureAwait(false);
            CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, start, null);
        }
        catch (CheckpointException ex)
        {
            CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, start, ex.ErrorCode);
            throw;
        }
    }

    /// <inheritdoc />
    public ValueTask<CheckpointRecord?> LoadAsync(string sourceType, CancellationToken cancellationToken = default)
    {
        SourceTypeName.Validate(sourceType);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<CheckpointRecord?>(cancellationToken);
        }

        var manifest = Coordinator.LastCommitted;
        if (manifest is null || !manifest.SourceOffsets.TryGetValue(sourceType, out var position))
        {
            return new((CheckpointRecord?)null);
        }

        return new(new CheckpointRecord(sourceType, position.CommittedEventCount, position.Offset)
        {
            FormatVersion = manifest.FormatVersion,
            Sequence = manifest.CheckpointId,
            SavedAt = manifest.CreatedAt,
        });
    }

    /// <inheritdoc />
    public async ValueTask RewindAsync(CheckpointOffset offset, ulong committedEventCount, string reason, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(offset);
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        cancellationToken.ThrowIfCancellationRequested();
        Coordinator.RewindSource(offset.SourceType, offset, committedEventCount, reason);
        await Coordinator.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Disposes the coordinator when this store started it (<see cref="OpenAsync"/>).</summary>
    /// <returns>A task that completes when the coordinator has stopped.</returns>
    public ValueTask DisposeAsync() => _ownsCoordinator ? Coordinator.DisposeAsync() : ValueTask.CompletedTask;
}
