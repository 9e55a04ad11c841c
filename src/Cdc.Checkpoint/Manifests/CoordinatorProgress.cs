using System.Collections.Immutable;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Manifests;

/// <summary>
/// What a <see cref="CheckpointCoordinator"/> has been told and not necessarily committed: source positions, sink epochs and
/// statuses, table positions, operator states and the watermark, with the guards every report passes and a version that
/// grows with each change. No I/O; every member takes a short lock. Thread-safe.
/// </summary>
internal sealed class CoordinatorProgress
{
    private readonly Lock _gate = new();

    // Everything below is guarded by _gate.
    private readonly Dictionary<string, SourcePosition> _sources = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ulong> _sinkEpochs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SinkCommitStatus> _sinkStatuses = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TableOffset> _tables = new(StringComparer.Ordinal);
    private readonly Dictionary<string, byte[]> _operatorStates = new(StringComparer.Ordinal);
    private long? _watermark;
    private long _version;
    private bool _closed;

    /// <summary>The number of sources known.</summary>
    public int SourceCount
    {
        get
        {
            lock (_gate)
            {
                return _sources.Count;
            }
        }
    }

    /// <summary>The version of the progress: it grows with every change.</summary>
    public long Version
    {
        get
        {
            lock (_gate)
            {
                return _version;
            }
        }
    }

    /// <summary>Takes everything a recovered manifest holds (before any report).</summary>
    public void Restore(CheckpointManifest manifest, ImmutableSortedDictionary<string, ReadOnlyMemory<byte>> states)
    {
        lock (_gate)
        {
            foreach (var (name, position) in manifest.SourceOffsets)
            {
                _sources[name] = position;
            }

            foreach (var (name, epoch) in manifest.SinkEpochs)
            {
                _sinkEpochs[name] = epoch;
            }

            foreach (var (name, status) in manifest.SinkCommitStatuses)
            {
                _sinkStatuses[name] = status;
            }

            foreach (var (name, offset) in manifest.TableOffsets)
            {
                _tables[name] = offset;
            }

            foreach (var (name, state) in states)
            {
                _operatorStates[name] = state.ToArray();
            }

            _watermark = manifest.Watermark;
        }
    }

    /// <summary>Refuses every report from now on with <see cref="ObjectDisposedException"/>.</summary>
    public void Close()
    {
        lock (_gate)
        {
            _closed = true;
        }
    }

    /// <summary>See <see cref="CheckpointCoordinator.ReportOffset"/>; a refusal is returned as the exception to throw, not thrown.</summary>
    public bool ReportOffset(string source, CheckpointOffset offset, ulong? committedEventCount, out CheckpointException? refusal)
    {
        refusal = null;
        lock (_gate)
        {
            ThrowIfClosed();
            if (!_sources.TryGetValue(source, out var current))
            {
                _sources[source] = new SourcePosition(offset, committedEventCount ?? 0);
                _version++;
                return true;
            }

            try
            {
                if (committedEventCount is { } count)
                {
                    var existing = new CheckpointRecord(current.Offset.SourceType, current.CommittedEventCount, current.Offset);
                    if (ProgressGuard.Check($"coordinator source '{source}'", existing, offset, count) == ProgressGuard.Verdict.Repeat)
                    {
                        return false;
                    }

                    _sources[source] = new SourcePosition(offset, count);
                }
                else
                {
                    CheckOrder($"source '{source}'", current.Offset, offset);
                    if (offset.Equals(current.Offset))
                    {
                        return false;
                    }

                    _sources[source] = new SourcePosition(offset, current.CommittedEventCount);
                }

                _version++;
                return true;
            }
            catch (CheckpointException ex)
            {
                refusal = ex;
                return false;
            }
        }
    }

    /// <summary>Moves a source without the guards; returns the previous offset's text (or <c>(none)</c>).</summary>
    public string RewindSource(string source, CheckpointOffset offset, ulong committedEventCount)
    {
        lock (_gate)
        {
            ThrowIfClosed();
            var previous = _sources.TryGetValue(source, out var current) ? current.Offset.ToString() : "(none)";
            _sources[source] = new SourcePosition(offset, committedEventCount);
            _version++;
            return previous;
        }
    }

    public bool ReportSinkEpoch(string sink, ulong epoch)
    {
        lock (_gate)
        {
            ThrowIfClosed();
            if (_sinkEpochs.TryGetValue(sink, out var current))
            {
                if (epoch < current)
                {
                    throw new CheckpointException(
                        CheckpointErrorCode.OffsetRegression,
                        $"Refusing sink epoch {epoch} for sink '{sink}': it is behind the current epoch {current}; sink epochs never go back. Nothing was changed.");
                }

                if (epoch == current)
                {
                    return false;
                }
            }

            _sinkEpochs[sink] = epoch;
            _version++;
            return true;
        }
    }

    public void ReportSinkStatus(string sink, SinkCommitStatus status)
    {
        lock (_gate)
        {
            ThrowIfClosed();
            if (!_sinkStatuses.TryGetValue(sink, out var current) || current != status)
            {
                _sinkStatuses[sink] = status;
                _version++;
            }
        }
    }

    public void ReportTableOffset(string table, TableOffset position)
    {
        lock (_gate)
        {
            ThrowIfClosed();
            if (_tables.TryGetValue(table, out var current))
            {
                if (current.Offset is { } before && position.Offset is { } after)
                {
                    CheckOrder($"table '{table}'", before, after);
                }

                if (current.Equals(position))
                {
                    return;
                }
            }

            _tables[table] = position;
            _version++;
        }
    }

    /// <summary>Records an operator's state; <paramref name="copy"/> is owned from now on and never changed.</summary>
    public void SetOperatorState(string name, byte[] copy)
    {
        lock (_gate)
        {
            ThrowIfClosed();
            _operatorStates[name] = copy;
            _version++;
        }
    }

    public bool TryGetOperatorState(string name, out ReadOnlyMemory<byte> state)
    {
        lock (_gate)
        {
            var found = _operatorStates.TryGetValue(name, out var bytes);
            state = bytes;
            return found;
        }
    }

    public SourcePosition? GetSourcePosition(string source)
    {
        lock (_gate)
        {
            return _sources.GetValueOrDefault(source);
        }
    }

    public bool ReportWatermark(long watermark)
    {
        lock (_gate)
        {
            ThrowIfClosed();
            if (_watermark is { } current && watermark <= current)
            {
                return false;
            }

            _watermark = watermark;
            _version++;
            return true;
        }
    }

    /// <summary>Everything reported so far, as of one version, for the manifest numbered <paramref name="number"/>.</summary>
    public CoordinatorSnapshot Snapshot(ulong number, DateTimeOffset createdAt)
    {
        lock (_gate)
        {
            return new CoordinatorSnapshot(
                number,
                _version,
                createdAt,
                _sources.ToImmutableSortedDictionary(StringComparer.Ordinal),
                _sinkEpochs.ToImmutableSortedDictionary(StringComparer.Ordinal),
                _sinkStatuses.ToImmutableSortedDictionary(StringComparer.Ordinal),
                _tables.ToImmutableSortedDictionary(StringComparer.Ordinal),
                _operatorStates.ToImmutableSortedDictionary(StringComparer.Ordinal),
                _watermark);
        }
    }

    /// <summary>
    /// Throws unless moving from <paramref name="current"/> to <paramref name="proposed"/> is progress (or a repeat):
    /// same source type and kind, and for ordered offsets not <see cref="OffsetOrder.Before"/> or
    /// <see cref="OffsetOrder.Diverged"/>.
    /// </summary>
    private static void CheckOrder(string what, CheckpointOffset current, CheckpointOffset proposed)
    {
        const string Hint = "Nothing was changed. If moving back is intended, use RewindSource with a reason.";
        if (!string.Equals(current.SourceType, proposed.SourceType, StringComparison.Ordinal)
            || current.IsOrdered != proposed.IsOrdered
            || current.GetType() != proposed.GetType())
        {
            throw new CheckpointException(
                CheckpointErrorCode.OffsetDiverged,
                $"Refusing offset {proposed} for {what}: the current offset {current} is of another source type or kind. {Hint}");
        }

        if (!current.IsOrdered)
        {
            return;
        }

        switch (proposed.CompareTo(current))
        {
            case OffsetOrder.Before:
                throw new CheckpointException(
                    CheckpointErrorCode.OffsetRegression,
                    $"Refusing offset {proposed} for {what}: it is behind the current offset {current}. {Hint}");
            case OffsetOrder.Diverged:
                throw new CheckpointException(
                    CheckpointErrorCode.OffsetDiverged,
                    $"Refusing offset {proposed} for {what}: it is not comparable with the current offset {current} (another slot, server or history). {Hint}");
        }
    }

    private void ThrowIfClosed() => ObjectDisposedException.ThrowIf(_closed, typeof(CheckpointCoordinator));
}

/// <summary>Everything a coordinator had been told, as of <paramref name="Version"/>, for one manifest.</summary>
internal sealed record CoordinatorSnapshot(
    ulong Number,
    long Version,
    DateTimeOffset CreatedAt,
    ImmutableSortedDictionary<string, SourcePosition> Sources,
    ImmutableSortedDictionary<string, ulong> SinkEpochs,
    ImmutableSortedDictionary<string, SinkCommitStatus> SinkStatuses,
    ImmutableSortedDictionary<string, TableOffset> Tables,
    ImmutableSortedDictionary<string, byte[]> OperatorStates,
    long? Watermark);
