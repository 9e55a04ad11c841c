using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Manifests;
using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Streaming;

// Opening, durable saving and recovery through an IManifestStore: the only part of the manager that does I/O.
public sealed partial class StreamCheckpointManager
{
    /// <summary>
    /// Opens a manager that saves every checkpoint durably through <paramref name="store"/> (or, without one, a
    /// <see cref="FileManifestStore"/> at <see cref="StreamCheckpointOptions.DataDirectory"/>), and recovers the
    /// checkpoints it holds.
    /// </summary>
    /// <param name="options">The settings.</param>
    /// <param name="store">
    /// The manifest store to persist through (file, S3, ...), owned by the caller; <see langword="null"/> for a
    /// <see cref="FileManifestStore"/> at <see cref="StreamCheckpointOptions.DataDirectory"/>, owned by the manager. When
    /// both are given, legacy snapshot files in the data directory are moved into <paramref name="store"/>.
    /// </param>
    /// <param name="timeProvider">Clock for creation times and <see cref="TriggerIfDueAsync"/>; <see cref="TimeProvider.System"/> by default.</param>
    /// <param name="loggerFactory">Logger source; none by default.</param>
    /// <param name="cancellationToken">Cancels the recovery.</param>
    /// <returns>The manager, with the recovered checkpoints retained.</returns>
    /// <exception cref="ArgumentException">Neither a store nor a data directory is given.</exception>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.Corrupt"/> when the store holds checkpoints but none is valid (never a fresh start);
    /// <see cref="CheckpointErrorCode.Misconfigured"/> when the store holds checkpoints that are not stream snapshots; a
    /// read or write error of the store or the data directory.
    /// </exception>
    public static async ValueTask<StreamCheckpointManager> OpenAsync(
        StreamCheckpointOptions options,
        IManifestStore? store = null,
        TimeProvider? timeProvider = null,
        ILoggerFactory? loggerFactory = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!options.Enabled)
        {
            return new StreamCheckpointManager(options, timeProvider, loggerFactory, store: null, ownsStore: false);
        }

        var owns = store is null;
        if (store is null)
        {
            var directory = options.DataDirectory ?? throw new ArgumentException(
                "StreamCheckpointManager.OpenAsync needs a manifest store or StreamCheckpointOptions.DataDirectory; for checkpoints in memory only, use the constructor.",
                nameof(store));
            store = new FileManifestStore(
                directory,
                new FileManifestStoreOptions { RetainCount = 0, MaxSidecarBytes = options.MaxSnapshotBytes },
                loggerFactory);
        }

        var manager = new StreamCheckpointManager(options, timeProvider, loggerFactory, store, owns);
        try
        {
            await manager.RecoverAsync(cancellationToken).ConfigureAwait(false);
            return manager;
        }
        catch
        {
            await manager.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Takes a checkpoint: captures the state like <see cref="Trigger"/> (under the lock, without I/O), then, for a
    /// persistent manager, saves it durably through the manifest store before it is retained and returned. Sources,
    /// sinks and other threads are not blocked while it saves; concurrent triggers save one after the other, in id order.
    /// </summary>
    /// <param name="cancellationToken">Cancels waiting for an earlier save or the save itself.</param>
    /// <returns>The new checkpoint id once it is durable, or <see langword="null"/> when checkpointing is disabled.</returns>
    /// <exception cref="CheckpointException">The save failed; the checkpoint is not retained (its id and epoch stay used).</exception>
    public ValueTask<ulong?> TriggerAsync(CancellationToken cancellationToken = default) =>
        _enabled ? TriggerCoreAsync(requireDue: false, cancellationToken) : ValueTask.FromResult<ulong?>(null);

    /// <summary>
    /// Takes a checkpoint like <see cref="TriggerAsync"/> when <see cref="StreamCheckpointOptions.Interval"/> has
    /// passed; when not due it only reads the clock and completes synchronously without allocating.
    /// </summary>
    /// <param name="cancellationToken">Cancels the save.</param>
    /// <returns>The new checkpoint id once durable, or <see langword="null"/> when not due, manual-only or disabled.</returns>
    /// <exception cref="CheckpointException">The save failed.</exception>
    public ValueTask<ulong?> TriggerIfDueAsync(CancellationToken cancellationToken = default) =>
        IsDue() ? TriggerCoreAsync(requireDue: true, cancellationToken) : ValueTask.FromResult<ulong?>(null);

    /// <summary>Takes a checkpoint now, like <see cref="TriggerAsync"/>, for callers that require checkpointing to be on.</summary>
    /// <param name="cancellationToken">Cancels the save.</param>
    /// <returns>The new checkpoint id once durable.</returns>
    /// <exception cref="InvalidOperationException">Checkpointing is disabled.</exception>
    /// <exception cref="CheckpointException">The save failed.</exception>
    public async ValueTask<ulong> CheckpointAsync(CancellationToken cancellationToken = default) =>
        await TriggerAsync(cancellationToken).ConfigureAwait(false) ?? throw Disabled("take a checkpoint");

    /// <summary>Releases the manifest store the manager opened for its data directory (its owner lease); a store passed in is left open.</summary>
    public void Dispose() => _ownedStore?.Dispose();

    /// <inheritdoc cref="Dispose"/>
    /// <returns>A completed task.</returns>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    private void ThrowIfPersistent(string instead)
    {
        if (_persistence is not null)
        {
            throw new InvalidOperationException(
                $"This StreamCheckpointManager saves its checkpoints through a manifest store, which is I/O: call {instead}() instead (durable I/O is only done by async methods).");
        }
    }

    private async ValueTask<ulong?> TriggerCoreAsync(bool requireDue, CancellationToken cancellationToken)
    {
        await _saveGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            StreamCheckpoint checkpoint;
            long started;
            lock (_lock)
            {
                if (requireDue && !IsDueLocked())
                {
                    return null;
                }

                checkpoint = CaptureLocked(out started);
            }

            if (_persistence is not null)
            {
                try
                {
                    await _persistence.SaveAsync(checkpoint, cancellationToken).ConfigureAwait(false);
                }
                catch (CheckpointException ex)
                {
                    StreamingMetrics.RecordCheckpoint(started, ex.ErrorCode);
                    throw;
                }
            }

            int? prune;
            lock (_lock)
            {
                prune = RetainLocked(checkpoint, started);
            }

            if (_persistence is not null && prune is { } keep)
            {
                try
                {
                    await _persistence.Store.PruneAsync(keep, cancellationToken).ConfigureAwait(false);
                }
                catch (CheckpointException ex)
                {
                    // The checkpoint is durable; failing to remove old ones must not turn it into a failure.
                    Log.StreamSnapshotDeleteFailed(_logger, $"checkpoints older than {checkpoint.Id}", ex.Message);
                }
            }

            return checkpoint.Id;
        }
        finally
        {
            _saveGate.Release();
        }
    }

    private async ValueTask RecoverAsync(CancellationToken cancellationToken)
    {
        var persistence = _persistence!;
        ulong highest = 0;
        if (_options.DataDirectory is { } directory)
        {
            var (legacyHighest, unreadable, _) = await LegacyStreamSnapshots.MigrateAsync(
                Path.GetFullPath(directory), persistence, _options.MaxSnapshotBytes, _logger, cancellationToken).ConfigureAwait(false);
            highest = legacyHighest;
            _unreadableSnapshots.AddRange(unreadable);
        }

        var (retained, storeHighest) = await persistence.RecoverAsync(_options.MaxRetainedCheckpoints, cancellationToken).ConfigureAwait(false);
        highest = Math.Max(highest, storeHighest);
        lock (_lock)
        {
            _checkpoints.AddRange(retained);
            foreach (var checkpoint in retained)
            {
                _epoch = Math.Max(_epoch, checkpoint.Epoch);
            }

            // Continue after the highest id in use anywhere (a damaged checkpoint, an orphan, an unreadable legacy file),
            // so an id is never issued twice. This manager advances id and epoch together, so continuing the epoch from
            // at least the highest id keeps epochs growing too.
            _nextId = highest == ulong.MaxValue ? 0 : highest + 1;
            _epoch = Math.Max(_epoch, highest);
        }

        if (retained.Count > 0)
        {
            Log.StreamCheckpointsRecovered(_logger, retained.Count, _options.DataDirectory ?? "the manifest store", retained[^1].Id, _nextId);
        }
    }
}
