using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Offsets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cdc.Checkpoint;

/// <summary>
/// A checkpoint held in memory, for tests and examples only: it applies the same progress guards as the durable
/// stores but forgets everything when the process exits, so a consumer using it replays from the start after a
/// restart. It logs a warning (event <see cref="CdcEventId.InMemoryNotDurable"/>) at its first save.
/// </summary>
/// <remarks>Thread-safe.</remarks>
public sealed class InMemoryCheckpoint : ICheckpointStore
{
    private readonly Dictionary<string, CheckpointRecord> _records = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private ulong _sequence;
    private int _warned;

    /// <summary>Creates an empty in-memory checkpoint.</summary>
    /// <param name="loggerFactory">Logger factory for the not-durable warning.</param>
    /// <param name="timeProvider">Clock for <see cref="CheckpointRecord.SavedAt"/>.</param>
    public InMemoryCheckpoint(ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<InMemoryCheckpoint>();
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>How many saves were written (repeats of the stored record are not counted).</summary>
    public int WriteCount { get; private set; }

    /// <inheritdoc />
    public ValueTask SaveAsync(CheckpointOffset offset, ulong committedEventCount, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(offset);
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (Interlocked.Exchange(ref _warned, 1) == 0)
            {
                Log.InMemoryNotDurable(_logger);
            }

            lock (_gate)
            {
                _records.TryGetValue(offset.SourceType, out var existing);
                if (ProgressGuard.Check($"memory:{offset.SourceType}", existing, offset, committedEventCount) == ProgressGuard.Verdict.Advance)
                {
                    Store(offset, committedEventCount);
                }
            }

            return ValueTask.CompletedTask;
        }
        catch (Exception ex)
        {
            // A refused save (CheckpointException) goes into the task, as with the durable stores.
            return SyncWork.Failed(ex, cancellationToken);
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

        lock (_gate)
        {
            return ValueTask.FromResult(_records.GetValueOrDefault(sourceType));
        }
    }

    /// <inheritdoc />
    public ValueTask RewindAsync(CheckpointOffset offset, ulong committedEventCount, string reason, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(offset);
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        lock (_gate)
        {
            _records.TryGetValue(offset.SourceType, out var existing);
            Store(offset, committedEventCount);
            Log.CheckpointRewound(_logger, offset.SourceType, existing?.Offset, existing?.CommittedEventCount, offset, committedEventCount, reason);
        }

        return ValueTask.CompletedTask;
    }

    private void Store(CheckpointOffset offset, ulong committedEventCount)
    {
        _records[offset.SourceType] = new CheckpointRecord(offset.SourceType, committedEventCount, offset)
        {
            FormatVersion = 0,
            Sequence = ++_sequence,
            SavedAt = _timeProvider.GetUtcNow(),
        };
        WriteCount++;
    }
}
