using System.Buffers;
using System.Collections.Immutable;
using Cdc.Checkpoint.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Manifests;

/// <summary>
/// A coordinator's group commit: every commit request that arrives while a write is in flight joins the next single
/// durable write of a manifest of the <see cref="CoordinatorProgress"/>; all requests served by one write see its result
/// or its error. Owns the checkpoint numbers (one per write attempt, never reused, never wrapped) and the last durable
/// manifest. Thread-safe.
/// </summary>
internal sealed class GroupCommit
{
    private readonly IManifestStore _store;
    private readonly CoordinatorProgress _progress;
    private readonly CheckpointCoordinatorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();

    // Everything below is guarded by _gate.
    private long _durableVersion;
    private CheckpointManifest? _lastCommitted;
    private ulong _nextNumber;
    private Batch? _nextBatch;
    private Task _writer = Task.CompletedTask;
    private bool _writerRunning;
    private bool _disposed;

    /// <summary>Starts with <paramref name="lastCommitted"/> (the recovered manifest, or none) and the next number to use (0 when exhausted).</summary>
    public GroupCommit(IManifestStore store, CoordinatorProgress progress, CheckpointCoordinatorOptions options, TimeProvider time, ILogger logger, CheckpointManifest? lastCommitted, ulong nextNumber)
    {
        _store = store;
        _progress = progress;
        _options = options;
        _time = time;
        _logger = logger;
        _lastCommitted = lastCommitted;
        _nextNumber = nextNumber;
        _durableVersion = progress.Version;
    }

    public CheckpointManifest? LastCommitted
    {
        get
        {
            lock (_gate)
            {
                return _lastCommitted;
            }
        }
    }

    /// <summary>See <see cref="CheckpointCoordinator.CommitAsync"/>.</summary>
    public ValueTask<CheckpointManifest> CommitAsync(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<CheckpointManifest>(cancellationToken);
        }

        Batch batch;
        lock (_gate)
        {
            if (_disposed)
            {
                return ValueTask.FromException<CheckpointManifest>(new ObjectDisposedException(typeof(CheckpointCoordinator).FullName));
            }

            batch = _nextBatch ??= new Batch();
            batch.Requests++;
            if (batch.Target > 0 && batch.Requests >= batch.Target)
            {
                batch.Filled.TrySetResult();
            }

            if (!_writerRunning)
            {
                _writerRunning = true;
                _writer = Task.Run(WriteLoopAsync, CancellationToken.None);
            }
        }

        ManifestMetrics.CommitRequests.Add(1);
        var task = batch.Completion.Task;
        return new ValueTask<CheckpointManifest>(cancellationToken.CanBeCanceled ? task.WaitAsync(cancellationToken) : task);
    }

    /// <summary>Refuses new requests and waits for the write in flight (and the requests already queued).</summary>
    public async ValueTask DisposeAsync()
    {
        Task writer;
        lock (_gate)
        {
            _disposed = true;
            writer = _writer;
        }

        await writer.ConfigureAwait(false);
    }

    private async Task WriteLoopAsync()
    {
        var previousRequests = 0;
        while (true)
        {
            Batch batch;
            ulong number;
            CheckpointManifest? unchanged = null;
            Task? filled = null;
            lock (_gate)
            {
                if (_nextBatch is null)
                {
                    _writerRunning = false;
                    return;
                }

                if (_options.MaxCommitDelay > TimeSpan.Zero && previousRequests > 1)
                {
                    // Wait for everyone the previous write just released, on top of those who queued during it.
                    _nextBatch.Target = _nextBatch.Requests + previousRequests;
                    filled = _nextBatch.Filled.Task;
                }
            }

            if (filled is not null)
            {
                // The requesters just served are about to come back; let them join this write (bounded wait).
                await filled.WaitAsync(_options.MaxCommitDelay, _time).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            lock (_gate)
            {
                batch = _nextBatch!;
                _nextBatch = null;
                previousRequests = batch.Requests;
                number = _nextNumber;
                if (_lastCommitted is not null && _progress.Version == _durableVersion)
                {
                    unchanged = _lastCommitted;
                }
                else if (number != 0)
                {
                    // Ids are never reused, even after a failed attempt: a failed save may have left its manifest on disk.
                    _nextNumber = number == ulong.MaxValue ? 0 : number + 1;
                }
            }

            if (unchanged is not null)
            {
                ManifestMetrics.BatchSize.Record(batch.Requests);
                batch.Completion.TrySetResult(unchanged);
                continue;
            }

            if (number == 0)
            {
                batch.Completion.TrySetException(NumbersExhausted());
                continue;
            }

            // Taken after the batch was closed: it holds every report made before any of the batch's requests.
            var snapshot = _progress.Snapshot(number, _time.GetUtcNow());
            try
            {
                var (manifest, sidecar) = Build(snapshot);
                var saved = await _store.SaveAsync(manifest, sidecar, CancellationToken.None).ConfigureAwait(false);
                lock (_gate)
                {
                    if (_lastCommitted is null || saved.CheckpointId > _lastCommitted.CheckpointId)
                    {
                        _lastCommitted = saved;
                        _durableVersion = snapshot.Version;
                    }
                }

                ManifestMetrics.BatchSize.Record(batch.Requests);
                Log.GroupCommitWritten(_logger, saved.CheckpointId, batch.Requests);
                batch.Completion.TrySetResult(saved);
            }
            catch (Exception ex)
            {
                // Every request of this batch learns that its commit failed; nothing is swallowed.
                Log.GroupCommitFailed(_logger, snapshot.Number, batch.Requests, ex.Message);
                batch.Completion.TrySetException(ex);
            }
        }
    }

    private static CheckpointException NumbersExhausted() => new(
        CheckpointErrorCode.LimitReached,
        "Checkpoint ids and epochs are exhausted (the last one was 18446744073709551615); they never wrap, so nothing was written. Start a new manifest store.");

    private (CheckpointManifest Manifest, ReadOnlyMemory<byte> Sidecar) Build(CoordinatorSnapshot snapshot)
    {
        // Operator state arrays are never changed after SetOperatorState copied them, so they are shared, not copied.
        var states = ImmutableSortedDictionary.CreateBuilder<string, OperatorState>(StringComparer.Ordinal);
        ArrayBufferWriter<byte>? sidecar = null;
        foreach (var (name, bytes) in snapshot.OperatorStates)
        {
            if (bytes.Length <= _options.InlineStateLimitBytes || bytes.Length == 0)
            {
                states[name] = OperatorState.FromOwned(bytes);
            }
            else
            {
                sidecar ??= new ArrayBufferWriter<byte>(bytes.Length);
                states[name] = OperatorState.InSidecar(sidecar.WrittenCount, bytes.Length);
                sidecar.Write(bytes);
            }
        }

        var manifest = new CheckpointManifest
        {
            CheckpointId = snapshot.Number,
            Epoch = snapshot.Number,
            CreatedAt = snapshot.CreatedAt,
            SourceOffsets = snapshot.Sources,
            SinkEpochs = snapshot.SinkEpochs,
            SinkCommitStatuses = snapshot.SinkStatuses,
            TableOffsets = snapshot.Tables,
            OperatorStates = states.ToImmutable(),
            Watermark = snapshot.Watermark,
        };
        return (manifest, sidecar?.WrittenMemory ?? default);
    }

    private sealed class Batch
    {
        public TaskCompletionSource<CheckpointManifest> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Requests { get; set; }

        /// <summary>When positive, <see cref="Filled"/> completes once <see cref="Requests"/> reaches it.</summary>
        public int Target { get; set; }

        public TaskCompletionSource Filled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
