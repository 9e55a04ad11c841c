// Over 400 lines: the public surface of one type (registration, capture, queries), half of it XML docs; its I/O is in StreamCheckpointManager.Persistence.cs.
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cdc.Checkpoint.Streaming;

/// <summary>
/// Coordinates checkpoints of a streaming pipeline: sources count events and advance watermarks on lock-free
/// <see cref="StreamSourceHandle"/>s, sinks report positions, and <see cref="TriggerAsync"/> captures all of them into a
/// <see cref="StreamCheckpoint"/> with an id and an epoch that only grow.
/// </summary>
/// <remarks>
/// <para>
/// Checkpoints are kept in memory (the newest <see cref="StreamCheckpointOptions.MaxRetainedCheckpoints"/>). A manager
/// opened with <see cref="OpenAsync"/> over an <see cref="IManifestStore"/> (or a
/// <see cref="StreamCheckpointOptions.DataDirectory"/>, which means a <see cref="FileManifestStore"/> there) also saves
/// each one durably as a checkpoint of that store: the manifest carries the id, epoch and creation time, and its state
/// sidecar is the binary v2 snapshot (<c>docs/snapshot-format.md</c>). At open it recovers with the store's
/// newest-valid walk and continues ids and epochs after the highest id in use, so ids never repeat across restarts;
/// snapshot files of the older one-file-per-checkpoint layout found in the data directory are moved into the store.
/// </para>
/// <para>
/// A disabled manager (<see cref="CreateDisabled"/> or <see cref="StreamCheckpointOptions.Enabled"/> = false) costs
/// nothing: it takes no locks, allocates nothing per call, <see cref="Trigger"/> returns <see langword="null"/> and
/// source handles still count but are never read.
/// </para>
/// <para>
/// Thread-safety: every member is safe to call from any thread. Registration, capture and queries serialize on one
/// internal lock that is never held during I/O; saves are serialized in id order. The hot path
/// (<see cref="StreamSourceHandle"/> updates) never takes a lock. <see cref="Changelog"/> has its own lock (see
/// <see cref="StreamChangelogBuffer"/>); pull cursors read it with <see cref="Cursors.ChangelogCursor"/>.
/// </para>
/// <para>This file: registration, capture and queries; StreamCheckpointManager.Persistence.cs: opening, saving and recovery through the manifest store.</para>
/// </remarks>
public sealed partial class StreamCheckpointManager : IDisposable, IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _saveGate = new(1, 1);
    private readonly bool _enabled;
    private readonly StreamCheckpointOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly StreamSnapshotStore? _persistence;
    private readonly FileManifestStore? _ownedStore;
    private readonly Dictionary<string, StreamSourceHandle> _sources = new(StringComparer.Ordinal);
    private readonly List<StreamSourceHandle> _sourceOrder = [];
    private readonly Dictionary<string, ulong> _sinks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, byte[]> _operatorStates = new(StringComparer.Ordinal);
    private readonly List<StreamCheckpoint> _checkpoints = [];
    private readonly List<string> _unreadableSnapshots = [];
    private ulong _nextId = 1;
    private ulong _epoch;
    private long _lastCheckpointTimestamp;

    /// <summary>Creates a manager that keeps its checkpoints in memory only.</summary>
    /// <param name="options">The settings. <see cref="StreamCheckpointOptions.DataDirectory"/> must be unset (use <see cref="OpenAsync"/>).</param>
    /// <param name="timeProvider">Clock for creation times and <see cref="TriggerIfDue"/>; <see cref="TimeProvider.System"/> by default.</param>
    /// <param name="loggerFactory">Logger source; none by default.</param>
    /// <exception cref="ArgumentException">
    /// The options set a data directory: recovering from it is I/O, done by <see cref="OpenAsync"/>.
    /// </exception>
    public StreamCheckpointManager(StreamCheckpointOptions options, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null)
        : this(options, timeProvider, loggerFactory, store: null, ownsStore: false)
    {
        if (options.DataDirectory is { } directory && options.Enabled)
        {
            throw new ArgumentException(
                $"StreamCheckpointOptions.DataDirectory is set ('{directory}'): a persistent manager recovers with I/O, so open it with 'await StreamCheckpointManager.OpenAsync(options)'. The constructor makes in-memory managers only.",
                nameof(options));
        }
    }

    private StreamCheckpointManager(StreamCheckpointOptions options, TimeProvider? timeProvider, ILoggerFactory? loggerFactory, IManifestStore? store, bool ownsStore)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _enabled = options.Enabled;
        _time = timeProvider ?? TimeProvider.System;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<StreamCheckpointManager>();
        _lastCheckpointTimestamp = _time.GetTimestamp();
        if (!_enabled)
        {
            return;
        }

        if (options.ChangelogCapacity is { } capacity)
        {
            Changelog = new StreamChangelogBuffer(capacity, options.OverflowPolicy);
        }

        if (store is not null)
        {
            _persistence = new StreamSnapshotStore(store, _logger);
            _ownedStore = ownsStore ? (FileManifestStore)store : null;
        }
    }

    /// <summary>Creates a manager that does nothing (checkpointing disabled).</summary>
    /// <returns>A disabled manager.</returns>
    public static StreamCheckpointManager CreateDisabled() => new(new StreamCheckpointOptions { Enabled = false });

    /// <summary>Whether checkpointing is enabled.</summary>
    public bool IsEnabled => _enabled;

    /// <summary>The settings.</summary>
    public StreamCheckpointOptions Options => _options;

    /// <summary>The changelog buffer, when <see cref="StreamCheckpointOptions.ChangelogCapacity"/> is set and checkpointing is enabled.</summary>
    public StreamChangelogBuffer? Changelog { get; }

    /// <summary>The epoch of the newest checkpoint (0 before the first one).</summary>
    public ulong Epoch
    {
        get
        {
            if (!_enabled)
            {
                return 0;
            }

            lock (_lock)
            {
                return _epoch;
            }
        }
    }

    /// <summary>The id of the newest retained checkpoint, or <see langword="null"/>.</summary>
    public ulong? LastCheckpointId
    {
        get
        {
            if (!_enabled)
            {
                return null;
            }

            lock (_lock)
            {
                return _checkpoints.Count == 0 ? null : _checkpoints[^1].Id;
            }
        }
    }

    /// <summary>The number of retained checkpoints.</summary>
    public int RetainedCheckpointCount
    {
        get
        {
            if (!_enabled)
            {
                return 0;
            }

            lock (_lock)
            {
                return _checkpoints.Count;
            }
        }
    }

    /// <summary>
    /// Registers a source and returns the handle its hot path updates. When disabled, returns a handle that counts but
    /// is never captured.
    /// </summary>
    /// <param name="name">The source name, unique within the manager.</param>
    /// <param name="initialSequence">The starting sequence (for example from a restored checkpoint).</param>
    /// <param name="initialWatermark">The starting watermark; <see cref="long.MinValue"/> (none yet) by default.</param>
    /// <returns>The handle; share it between all components that report for this source.</returns>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty, not storable as UTF-8, or already registered (use <see cref="TryGetSource"/> to share a handle).</exception>
    /// <exception cref="InvalidOperationException">65,536 sources are already registered.</exception>
    public StreamSourceHandle RegisterSource(string name, ulong initialSequence = 0, long initialWatermark = long.MinValue)
    {
        StreamCheckpoint.ValidateName(name, nameof(name));
        if (!_enabled)
        {
            return new StreamSourceHandle(name, 0, initialSequence, initialWatermark, tracked: false);
        }

        lock (_lock)
        {
            if (_sources.ContainsKey(name))
            {
                throw new ArgumentException($"A source named '{name}' is already registered; share its handle (TryGetSource) instead of registering it twice.", nameof(name));
            }

            if (_sourceOrder.Count > ushort.MaxValue)
            {
                throw new InvalidOperationException($"Cannot register source '{name}': {_sourceOrder.Count} sources are registered, the most a manager supports (source ids are 16-bit).");
            }

            var handle = new StreamSourceHandle(name, (ushort)_sourceOrder.Count, initialSequence, initialWatermark, tracked: true);
            _sources.Add(name, handle);
            _sourceOrder.Add(handle);
            return handle;
        }
    }

    /// <summary>Finds the handle of a registered source.</summary>
    /// <param name="name">The source name.</param>
    /// <param name="handle">The handle, when registered.</param>
    /// <returns>Whether the source is registered (always <see langword="false"/> when disabled).</returns>
    public bool TryGetSource(string name, [NotNullWhen(true)] out StreamSourceHandle? handle)
    {
        ArgumentNullException.ThrowIfNull(name);
        handle = null;
        if (!_enabled)
        {
            return false;
        }

        lock (_lock)
        {
            return _sources.TryGetValue(name, out handle);
        }
    }

    /// <summary>Registers a sink at <paramref name="position"/>, or moves a registered sink forward to it. No-op when disabled.</summary>
    /// <param name="name">The sink name.</param>
    /// <param name="position">The sink's position (for example the offset it has durably written up to).</param>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or not storable as UTF-8.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="position"/> is behind the sink's registered position; positions never go back.</exception>
    public void RegisterSink(string name, ulong position)
    {
        StreamCheckpoint.ValidateName(name, nameof(name));
        if (!_enabled)
        {
            return;
        }

        lock (_lock)
        {
            if (_sinks.TryGetValue(name, out var current) && position < current)
            {
                throw new ArgumentOutOfRangeException(nameof(position), position, $"Sink '{name}' is at position {current}; it cannot move back to {position}.");
            }

            _sinks[name] = position;
        }
    }

    /// <summary>Sets the opaque state of an operator, captured by the following checkpoints (copied). No-op when disabled.</summary>
    /// <param name="name">The operator name.</param>
    /// <param name="state">The state bytes.</param>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or not storable as UTF-8.</exception>
    public void SetOperatorState(string name, ReadOnlySpan<byte> state)
    {
        StreamCheckpoint.ValidateName(name, nameof(name));
        if (!_enabled)
        {
            return;
        }

        var copy = state.ToArray();
        lock (_lock)
        {
            _operatorStates[name] = copy;
        }
    }

    /// <summary>
    /// Takes a checkpoint now in memory: captures every source's sequence and watermark, every sink position and
    /// operator state, then prunes checkpoints beyond the retention. Does no I/O.
    /// </summary>
    /// <returns>The new checkpoint id, or <see langword="null"/> when checkpointing is disabled.</returns>
    /// <exception cref="InvalidOperationException">The manager persists its checkpoints: use <see cref="TriggerAsync"/>.</exception>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.LimitReached"/>: ids are exhausted.</exception>
    public ulong? Trigger()
    {
        if (!_enabled)
        {
            return null;
        }

        ThrowIfPersistent(nameof(TriggerAsync));
        lock (_lock)
        {
            var checkpoint = CaptureLocked(out var started);
            RetainLocked(checkpoint, started);
            return checkpoint.Id;
        }
    }

    /// <summary>
    /// Takes a checkpoint when <see cref="StreamCheckpointOptions.Interval"/> has passed since the last one (or since
    /// the manager was created). Call it from the pipeline's loop: when not due it only reads the clock, without
    /// taking the lock or allocating. Does no I/O.
    /// </summary>
    /// <returns>The new checkpoint id, or <see langword="null"/> when not due, manual-only or disabled.</returns>
    /// <exception cref="InvalidOperationException">Due, and the manager persists its checkpoints: use <see cref="TriggerIfDueAsync"/>.</exception>
    public ulong? TriggerIfDue()
    {
        if (!IsDue())
        {
            return null;
        }

        ThrowIfPersistent(nameof(TriggerIfDueAsync));
        lock (_lock)
        {
            // Re-check under the lock: another thread may have just taken the due checkpoint.
            if (!IsDueLocked())
            {
                return null;
            }

            var checkpoint = CaptureLocked(out var started);
            RetainLocked(checkpoint, started);
            return checkpoint.Id;
        }
    }

    /// <summary>Takes a checkpoint now, like <see cref="Trigger"/>, for callers that require checkpointing to be on.</summary>
    /// <returns>The new checkpoint id.</returns>
    /// <exception cref="InvalidOperationException">Checkpointing is disabled, or the manager persists (use <see cref="CheckpointAsync"/>).</exception>
    public ulong Checkpoint() => Trigger() ?? throw Disabled("take a checkpoint");

    /// <summary>Returns the newest checkpoint to resume from.</summary>
    /// <returns>The newest retained checkpoint.</returns>
    /// <exception cref="InvalidOperationException">Checkpointing is disabled, or no checkpoint exists yet (use <see cref="TryRestore"/> when that is expected).</exception>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.Corrupt"/>: snapshot files exist but none could be read.</exception>
    public StreamCheckpoint Restore()
    {
        if (!_enabled)
        {
            throw Disabled("restore a checkpoint");
        }

        return TryRestore() ?? throw new InvalidOperationException(
            _persistence is null
                ? "No stream checkpoint has been taken yet; call Trigger() first, or use TryRestore() when starting fresh is expected."
                : "No stream checkpoint exists yet in the manifest store; call TriggerAsync() first, or use TryRestore() when starting fresh is expected.");
    }

    /// <summary>Returns the newest checkpoint, or <see langword="null"/> when there is none (or checkpointing is disabled).</summary>
    /// <returns>The newest retained checkpoint, or <see langword="null"/>.</returns>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.Corrupt"/>: snapshot files exist but none could be read; resuming from nothing would
    /// silently replay or skip, so this fails closed.
    /// </exception>
    public StreamCheckpoint? TryRestore()
    {
        if (!_enabled)
        {
            return null;
        }

        lock (_lock)
        {
            if (_checkpoints.Count > 0)
            {
                return _checkpoints[^1];
            }

            if (_unreadableSnapshots.Count > 0)
            {
                throw new CheckpointException(
                    CheckpointErrorCode.Corrupt,
                    $"No readable stream snapshot in '{_options.DataDirectory}': {string.Join("; ", _unreadableSnapshots)}. Restore a valid snapshot file from a backup, or move the damaged files away to start over on purpose.")
                { Path = _options.DataDirectory };
            }

            return null;
        }
    }

    /// <summary>Returns a retained checkpoint by id.</summary>
    /// <param name="id">The id.</param>
    /// <returns>The checkpoint, or <see langword="null"/> when unknown, pruned or disabled.</returns>
    public StreamCheckpoint? GetCheckpoint(ulong id)
    {
        if (!_enabled)
        {
            return null;
        }

        lock (_lock)
        {
            // Ids are ascending in the list.
            var low = 0;
            var high = _checkpoints.Count - 1;
            while (low <= high)
            {
                var mid = low + ((high - low) / 2);
                var candidate = _checkpoints[mid].Id;
                if (candidate == id)
                {
                    return _checkpoints[mid];
                }

                if (candidate < id)
                {
                    low = mid + 1;
                }
                else
                {
                    high = mid - 1;
                }
            }

            return null;
        }
    }

    /// <summary>Returns the retained checkpoints, oldest first.</summary>
    /// <returns>A copy of the list.</returns>
    public IReadOnlyList<StreamCheckpoint> GetRetainedCheckpoints()
    {
        if (!_enabled)
        {
            return [];
        }

        lock (_lock)
        {
            return [.. _checkpoints];
        }
    }

    /// <inheritdoc/>
    public override string ToString()
    {
        if (!_enabled)
        {
            return "StreamCheckpointManager { Enabled = false }";
        }

        lock (_lock)
        {
            return $"StreamCheckpointManager {{ Enabled = true, Sources = {_sourceOrder.Count}, Sinks = {_sinks.Count}, Checkpoints = {_checkpoints.Count}, Epoch = {_epoch} }}";
        }
    }

    private static InvalidOperationException Disabled(string action) =>
        new($"Cannot {action}: stream checkpointing is disabled (StreamCheckpointOptions.Enabled = false). Enable it, or use Trigger()/TryRestore(), which return null when disabled.");

    private bool IsDue() =>
        _enabled && _options.Interval is { } interval && _time.GetElapsedTime(Volatile.Read(ref _lastCheckpointTimestamp)) >= interval;

    private bool IsDueLocked() => _options.Interval is { } interval && _time.GetElapsedTime(_lastCheckpointTimestamp) >= interval;

    private StreamCheckpoint CaptureLocked(out long started)
    {
        if (_nextId == 0 || _epoch == ulong.MaxValue)
        {
            throw new CheckpointException(CheckpointErrorCode.LimitReached, "Stream checkpoint ids are exhausted (the last id was 18446744073709551615); they never wrap. Start a new checkpoint chain in another data directory.");
        }

        started = Stopwatch.GetTimestamp();
        var id = _nextId;
        _nextId = id == ulong.MaxValue ? 0 : id + 1;
        var epoch = ++_epoch;
        Volatile.Write(ref _lastCheckpointTimestamp, _time.GetTimestamp());

        var sources = new KeyValuePair<string, ulong>[_sourceOrder.Count];
        var watermarks = new KeyValuePair<string, long>[_sourceOrder.Count];
        for (var i = 0; i < _sourceOrder.Count; i++)
        {
            var source = _sourceOrder[i];
            sources[i] = new(source.Name, source.Sequence);
            watermarks[i] = new(source.Name, source.Watermark);
        }

        var sinks = _sinks.ToArray();
        var states = new KeyValuePair<string, ReadOnlyMemory<byte>>[_operatorStates.Count];
        var n = 0;
        foreach (var (name, state) in _operatorStates)
        {
            // The stored arrays are private copies that are replaced, never mutated, so they can be shared.
            states[n++] = new(name, state);
        }

        return StreamCheckpoint.FromOwned(id, epoch, _time.GetUtcNow().ToUnixTimeMilliseconds(), sources, sinks, watermarks, states);
    }

    /// <summary>Retains a captured (and, when persistent, saved) checkpoint; returns how many the store should keep, or null.</summary>
    private int? RetainLocked(StreamCheckpoint checkpoint, long started)
    {
        // Saves are serialized in id order, but an in-memory Trigger may interleave with nothing else: keep the list ascending.
        _checkpoints.Add(checkpoint);
        StreamingMetrics.RecordCheckpoint(started, error: null);
        Log.StreamCheckpointTaken(_logger, checkpoint.Id, checkpoint.Epoch, checkpoint.SourceSequenceEntries.Length, checkpoint.SinkPositionEntries.Length);
        if (_options.MaxRetainedCheckpoints is not { } max || _checkpoints.Count <= max)
        {
            return null;
        }

        var excess = _checkpoints.Count - max;
        for (var i = 0; i < excess; i++)
        {
            Log.StreamCheckpointPruned(_logger, _checkpoints[i].Id);
        }

        _checkpoints.RemoveRange(0, excess);
        return max;
    }
}
