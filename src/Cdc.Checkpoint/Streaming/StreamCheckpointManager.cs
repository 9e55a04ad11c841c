using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cdc.Checkpoint.Streaming;

/// <summary>
/// Coordinates checkpoints of a streaming pipeline: sources count events and advance watermarks on lock-free
/// <see cref="StreamSourceHandle"/>s, sinks report positions, and <see cref="Trigger"/> captures all of them into a
/// <see cref="StreamCheckpoint"/> with an id and an epoch that only grow.
/// </summary>
/// <remarks>
/// <para>
/// Checkpoints are kept in memory (the newest <see cref="StreamCheckpointOptions.MaxRetainedCheckpoints"/>). With a
/// <see cref="StreamCheckpointOptions.DataDirectory"/> each one is also written as a snapshot file
/// (<c>stream-checkpoint-{id:D20}.snap</c>, format in <c>docs/snapshot-format.md</c>), and a new manager on the same
/// directory recovers them newest-valid-first, continuing ids and epochs after the highest one found (even in a
/// damaged file), so ids never repeat across restarts.
/// </para>
/// <para>
/// A disabled manager (<see cref="CreateDisabled"/> or <see cref="StreamCheckpointOptions.Enabled"/> = false) costs
/// nothing: it takes no locks, allocates nothing per call, <see cref="Trigger"/> returns <see langword="null"/> and
/// source handles still count but are never read.
/// </para>
/// <para>
/// Thread-safety: every member is safe to call from any thread. Registration, triggering and queries serialize on one
/// internal lock; the hot path (<see cref="StreamSourceHandle"/> updates) never takes it. <see cref="Changelog"/> is
/// not thread-safe itself (see <see cref="StreamChangelogBuffer"/>).
/// </para>
/// </remarks>
public sealed class StreamCheckpointManager
{
    private const string FilePrefix = "stream-checkpoint-";
    private const string FileSuffix = ".snap";
    private const int IdDigits = 20;

    private readonly Lock _lock = new();
    private readonly bool _enabled;
    private readonly StreamCheckpointOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string? _directory;
    private readonly Dictionary<string, StreamSourceHandle> _sources = new(StringComparer.Ordinal);
    private readonly List<StreamSourceHandle> _sourceOrder = [];
    private readonly Dictionary<string, ulong> _sinks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, byte[]> _operatorStates = new(StringComparer.Ordinal);
    private readonly List<StreamCheckpoint> _checkpoints = [];
    private readonly List<string> _unreadableSnapshots = [];
    private readonly List<string> _staleSnapshotFiles = [];
    private ulong _nextId = 1;
    private ulong _epoch;
    private long _lastCheckpointTimestamp;

    /// <summary>Creates a manager and, when a data directory is configured, recovers its snapshots.</summary>
    /// <param name="options">The settings; validated now.</param>
    /// <param name="timeProvider">Clock for creation times and <see cref="TriggerIfDue"/>; <see cref="TimeProvider.System"/> by default.</param>
    /// <param name="loggerFactory">Logger source; none by default.</param>
    /// <exception cref="ArgumentException">The options break a rule (see <see cref="StreamCheckpointOptions.Validate"/>).</exception>
    /// <exception cref="CheckpointException">The data directory cannot be created or listed.</exception>
    public StreamCheckpointManager(StreamCheckpointOptions options, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
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

        if (options.DataDirectory is { } directory)
        {
            _directory = Path.GetFullPath(directory);
            Recover();
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
    /// Takes a checkpoint now: captures every source's sequence and watermark, every sink position and operator state,
    /// writes the snapshot file when a data directory is configured, then prunes checkpoints beyond the retention.
    /// </summary>
    /// <returns>The new checkpoint id, or <see langword="null"/> when checkpointing is disabled.</returns>
    /// <exception cref="CheckpointException">The snapshot file could not be written; the checkpoint is not retained (its id and epoch stay used).</exception>
    public ulong? Trigger()
    {
        if (!_enabled)
        {
            return null;
        }

        lock (_lock)
        {
            return TriggerLocked();
        }
    }

    /// <summary>
    /// Takes a checkpoint when <see cref="StreamCheckpointOptions.Interval"/> has passed since the last one (or since
    /// the manager was created). Call it from the pipeline's loop: when not due it only reads the clock, without
    /// taking the lock or allocating.
    /// </summary>
    /// <returns>The new checkpoint id, or <see langword="null"/> when not due, manual-only or disabled.</returns>
    /// <exception cref="CheckpointException">The snapshot file could not be written.</exception>
    public ulong? TriggerIfDue()
    {
        if (!_enabled || _options.Interval is not { } interval ||
            _time.GetElapsedTime(Volatile.Read(ref _lastCheckpointTimestamp)) < interval)
        {
            return null;
        }

        lock (_lock)
        {
            // Re-check under the lock: another thread may have just taken the due checkpoint.
            return _time.GetElapsedTime(_lastCheckpointTimestamp) >= interval ? TriggerLocked() : null;
        }
    }

    /// <summary>Takes a checkpoint now, like <see cref="Trigger"/>, for callers that require checkpointing to be on.</summary>
    /// <returns>The new checkpoint id.</returns>
    /// <exception cref="InvalidOperationException">Checkpointing is disabled.</exception>
    /// <exception cref="CheckpointException">The snapshot file could not be written.</exception>
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
            _directory is null
                ? "No stream checkpoint has been taken yet; call Trigger() first, or use TryRestore() when starting fresh is expected."
                : $"No stream checkpoint exists yet in '{_directory}'; call Trigger() first, or use TryRestore() when starting fresh is expected.");
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
                    $"No readable stream snapshot in '{_directory}': {string.Join("; ", _unreadableSnapshots)}. Restore a valid snapshot file from a backup, or move the damaged files away to start over on purpose.")
                { Path = _directory };
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

    internal static string FileNameOf(ulong id) => FilePrefix + id.ToString("D20", CultureInfo.InvariantCulture) + FileSuffix;

    private static InvalidOperationException Disabled(string action) =>
        new($"Cannot {action}: stream checkpointing is disabled (StreamCheckpointOptions.Enabled = false). Enable it, or use Trigger()/TryRestore(), which return null when disabled.");

    private ulong TriggerLocked()
    {
        if (_nextId == 0 || _epoch == ulong.MaxValue)
        {
            throw new CheckpointException(CheckpointErrorCode.LimitReached, "Stream checkpoint ids are exhausted (the last id was 18446744073709551615); they never wrap. Start a new checkpoint chain in another data directory.");
        }

        var started = Stopwatch.GetTimestamp();
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

        var checkpoint = StreamCheckpoint.FromOwned(id, epoch, _time.GetUtcNow().ToUnixTimeMilliseconds(), sources, sinks, watermarks, states);
        if (_directory is not null)
        {
            try
            {
                Persist(checkpoint);
            }
            catch (CheckpointException ex)
            {
                StreamingMetrics.RecordCheckpoint(started, ex.ErrorCode);
                throw;
            }
        }

        _checkpoints.Add(checkpoint);
        StreamingMetrics.RecordCheckpoint(started, error: null);
        Log.StreamCheckpointTaken(_logger, id, epoch, sources.Length, sinks.Length);
        Prune();
        return id;
    }

    private void Persist(StreamCheckpoint checkpoint)
    {
        var bytes = StreamSnapshotCodec.Encode(checkpoint);
        StreamingMetrics.SnapshotSize.Record(bytes.Length);
        var fileName = FileNameOf(checkpoint.Id);
        if (_options.EffectiveWalMode == StreamWalMode.Sync)
        {
            DurableFile.Replace(_directory!, fileName, bytes);
        }
        else
        {
            ReplaceWithoutFsync(_directory!, fileName, bytes);
        }
    }

    // StreamWalMode.Async: the same temp-file-and-rename as DurableFile.Replace (so a reader never sees a half-written
    // file after a process crash) without the two fsyncs.
    private static void ReplaceWithoutFsync(string directory, string fileName, byte[] bytes)
    {
        var finalPath = Path.Combine(directory, fileName);
        var tempPath = Path.Combine(directory, $"{fileName}.{Guid.NewGuid():N}{DurableFile.TempSuffix}");
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = DurableFile.PrivateFileMode;
            }

            using (var stream = new FileStream(tempPath, options))
            {
                stream.Write(bytes);
            }

            File.Move(tempPath, finalPath, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            DurableFile.TryDelete(tempPath);
            throw new CheckpointException(
                CheckpointErrorCode.WriteFailed,
                $"Could not write stream snapshot '{finalPath}': {ex.Message}. Older snapshots are unchanged; check free space and that the directory is writable.",
                ex)
            { Path = finalPath };
        }
    }

    private void Prune()
    {
        if (_directory is not null && _staleSnapshotFiles.Count > 0)
        {
            foreach (var path in _staleSnapshotFiles)
            {
                DeleteSnapshotFile(path);
            }

            _staleSnapshotFiles.Clear();
        }

        if (_options.MaxRetainedCheckpoints is not { } max || _checkpoints.Count <= max)
        {
            return;
        }

        var excess = _checkpoints.Count - max;
        for (var i = 0; i < excess; i++)
        {
            var old = _checkpoints[i];
            if (_directory is not null)
            {
                DeleteSnapshotFile(Path.Combine(_directory, FileNameOf(old.Id)));
            }

            Log.StreamCheckpointPruned(_logger, old.Id);
        }

        _checkpoints.RemoveRange(0, excess);
    }

    private void DeleteSnapshotFile(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A leftover old snapshot is harmless: recovery prefers newer ones and the next prune retries.
            Log.StreamSnapshotDeleteFailed(_logger, path, ex.Message);
        }
    }

    private void Recover()
    {
        var directory = _directory!;
        try
        {
            DurableFile.CreatePrivateDirectory(directory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(
                CheckpointErrorCode.DirectoryNotFound,
                $"Could not create the stream checkpoint directory '{directory}': {ex.Message}. Create it (mode 0700) or fix the permissions of its parent.",
                ex)
            { Path = directory };
        }

        var candidates = new List<(ulong Id, string Path)>();
        try
        {
            // Every entry with a snapshot's name, whatever it is: a directory there is an unreadable snapshot, never "none".
            foreach (var path in SafeFile.ListEntries(directory, FilePrefix + "*" + FileSuffix))
            {
                var name = Path.GetFileName(path);
                var digits = name.AsSpan(FilePrefix.Length, name.Length - FilePrefix.Length - FileSuffix.Length);
                if (digits.Length == IdDigits && ulong.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
                {
                    candidates.Add((id, path));
                }
                else
                {
                    Log.StreamSnapshotSkipped(_logger, path, "the file name does not carry a 20-digit checkpoint id");
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(
                CheckpointErrorCode.DirectoryNotFound,
                $"Could not list the stream checkpoint directory '{directory}': {ex.Message}. Check that it is a directory readable by this user.",
                ex)
            { Path = directory };
        }

        if (candidates.Count == 0)
        {
            return;
        }

        candidates.Sort(static (a, b) => b.Id.CompareTo(a.Id));
        var highestId = candidates[0].Id;
        var recovered = new List<StreamCheckpoint>();
        foreach (var (id, path) in candidates)
        {
            if (_options.MaxRetainedCheckpoints is { } max && recovered.Count >= max)
            {
                // Older than what is retained: deleted by the next checkpoint's prune, like any pruned snapshot.
                _staleSnapshotFiles.Add(path);
                continue;
            }

            try
            {
                var bytes = DurableFile.ReadPrivate(path, _options.MaxSnapshotBytes);
                if (bytes is null)
                {
                    continue;
                }

                var checkpoint = StreamSnapshotCodec.Decode(bytes, path);
                if (checkpoint.Id != id)
                {
                    throw new CheckpointException(
                        CheckpointErrorCode.Corrupt,
                        $"the file name says checkpoint {id} but the contents are checkpoint {checkpoint.Id}")
                    { Path = path };
                }

                recovered.Add(checkpoint);
                _epoch = Math.Max(_epoch, checkpoint.Epoch);
            }
            catch (CheckpointException ex)
            {
                Log.StreamSnapshotSkipped(_logger, path, ex.Message);
                _unreadableSnapshots.Add($"{Path.GetFileName(path)}: {ex.ErrorCode}");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Log.StreamSnapshotSkipped(_logger, path, $"could not read it: {ex.Message}");
                _unreadableSnapshots.Add($"{Path.GetFileName(path)}: unreadable");
            }
        }

        recovered.Reverse();
        _checkpoints.AddRange(recovered);

        // Continue after the highest id seen in any file name, readable or not, so an id is never issued twice. An
        // unreadable file may also hold a higher epoch than any readable one; this manager advances id and epoch
        // together, so continuing the epoch from at least the highest id keeps epochs growing too.
        _nextId = highestId == ulong.MaxValue ? 0 : highestId + 1;
        _epoch = Math.Max(_epoch, highestId);
        if (recovered.Count > 0)
        {
            Log.StreamCheckpointsRecovered(_logger, recovered.Count, directory, recovered[^1].Id, _nextId);
        }
    }
}
