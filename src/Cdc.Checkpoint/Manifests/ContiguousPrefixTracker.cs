namespace Cdc.Checkpoint.Manifests;

/// <summary>
/// Tracks events that start in order and may finish out of order, and reports as checkpointable only the offset of
/// the longest prefix of finished events: a checkpoint taken from it never skips an event still in progress, so a
/// crash replays unfinished work instead of losing it.
/// </summary>
/// <typeparam name="TOffset">The offset (or any value) associated with each event.</typeparam>
/// <remarks>
/// <para>
/// Events are numbered by consecutive sequence numbers: <see cref="Begin"/> must be called with
/// <see cref="NextSequence"/>, so an event that was never registered is detected instead of silently skipped.
/// <see cref="Begin"/> and <see cref="Complete"/> run in amortized O(1) (a growable ring buffer); memory is
/// proportional to the events begun and not yet in the finished prefix.
/// </para>
/// <para>Not thread-safe; <see cref="ConcurrentContiguousPrefixTracker{TOffset}"/> is the locked variant.</para>
/// </remarks>
/// <example>
/// <code>
/// tracker.Begin(seq, offset);          // in stream order
/// ...                                   // process concurrently
/// if (tracker.Complete(seq) &amp;&amp; tracker.TryGetCheckpointable(out var upTo, out _))
///     coordinator.ReportOffset("orders", upTo);
/// </code>
/// </example>
public sealed class ContiguousPrefixTracker<TOffset>
{
    private TOffset[] _offsets = new TOffset[16];
    private bool[] _done = new bool[16];
    private int _head;
    private int _count;
    private ulong _headSequence;
    private bool _started;
    private TOffset _checkpointable = default!;
    private ulong _checkpointableSequence;
    private bool _hasCheckpointable;

    /// <summary>Creates a tracker whose first event may have any sequence number.</summary>
    public ContiguousPrefixTracker()
    {
    }

    /// <summary>Creates a tracker whose first event must be <paramref name="firstSequence"/>.</summary>
    /// <param name="firstSequence">The sequence number of the first event.</param>
    public ContiguousPrefixTracker(ulong firstSequence)
    {
        _headSequence = firstSequence;
        _started = true;
    }

    /// <summary>The sequence number the next <see cref="Begin"/> must use, or <see langword="null"/> before the first event when any is accepted.</summary>
    public ulong? NextSequence => _started ? _headSequence + (ulong)_count : null;

    /// <summary>Events begun and not yet part of the finished prefix (some of them may have finished out of order).</summary>
    public int Pending => _count;

    /// <summary>Registers an event, in stream order.</summary>
    /// <param name="sequence">Its sequence number: <see cref="NextSequence"/>.</param>
    /// <param name="offset">The offset to report once it and every earlier event finished.</param>
    /// <exception cref="ArgumentException"><paramref name="sequence"/> is not <see cref="NextSequence"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="sequence"/> is <see cref="ulong.MaxValue"/>, which leaves no next number.</exception>
    public void Begin(ulong sequence, TOffset offset)
    {
        ArgumentOutOfRangeException.ThrowIfEqual(sequence, ulong.MaxValue);
        if (!_started)
        {
            _headSequence = sequence;
            _started = true;
        }

        var expected = _headSequence + (ulong)_count;
        if (sequence != expected)
        {
            throw new ArgumentException(
                $"Begin({sequence}) is out of order: the next event must be {expected}. Events are registered with consecutive sequence numbers so that a missed one cannot be skipped.",
                nameof(sequence));
        }

        if (_count == _offsets.Length)
        {
            Grow();
        }

        var slot = (_head + _count) & (_offsets.Length - 1);
        _offsets[slot] = offset;
        _done[slot] = false;
        _count++;
    }

    /// <summary>Marks an event finished.</summary>
    /// <param name="sequence">The event's sequence number.</param>
    /// <returns><see langword="true"/> when the checkpointable prefix advanced.</returns>
    /// <exception cref="ArgumentException">The event was never begun.</exception>
    /// <exception cref="InvalidOperationException">The event was already completed.</exception>
    public bool Complete(ulong sequence)
    {
        if (!_started || sequence >= _headSequence + (ulong)_count)
        {
            throw new ArgumentException($"Complete({sequence}): that event was never begun (next expected Begin is {NextSequence?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "any"}).", nameof(sequence));
        }

        if (sequence < _headSequence)
        {
            throw new InvalidOperationException($"Complete({sequence}): that event was already completed.");
        }

        var mask = _offsets.Length - 1;
        var slot = (_head + (int)(sequence - _headSequence)) & mask;
        if (_done[slot])
        {
            throw new InvalidOperationException($"Complete({sequence}): that event was already completed.");
        }

        _done[slot] = true;
        if (sequence != _headSequence)
        {
            return false;
        }

        while (_count > 0 && _done[_head])
        {
            _checkpointable = _offsets[_head];
            _checkpointableSequence = _headSequence;
            _hasCheckpointable = true;
            _offsets[_head] = default!;
            _done[_head] = false;
            _head = (_head + 1) & mask;
            _headSequence++;
            _count--;
        }

        return true;
    }

    /// <summary>The offset of the last event of the finished prefix: safe to checkpoint.</summary>
    /// <param name="offset">The offset, when there is one.</param>
    /// <param name="sequence">The sequence number of that event.</param>
    /// <returns><see langword="false"/> while the first event has not finished.</returns>
    public bool TryGetCheckpointable(out TOffset offset, out ulong sequence)
    {
        offset = _checkpointable;
        sequence = _checkpointableSequence;
        return _hasCheckpointable;
    }

    private void Grow()
    {
        var offsets = new TOffset[_offsets.Length * 2];
        var done = new bool[offsets.Length];
        for (var i = 0; i < _count; i++)
        {
            var from = (_head + i) & (_offsets.Length - 1);
            offsets[i] = _offsets[from];
            done[i] = _done[from];
        }

        _offsets = offsets;
        _done = done;
        _head = 0;
    }
}

/// <summary>
/// The thread-safe variant of <see cref="ContiguousPrefixTracker{TOffset}"/>: the same operations under one lock, so
/// workers may complete events from any thread while a reader takes the checkpointable offset.
/// </summary>
/// <typeparam name="TOffset">The offset associated with each event.</typeparam>
/// <remarks>Each call holds the lock for O(1) amortized work; <see cref="Begin"/> calls must still be made in stream order.</remarks>
public sealed class ConcurrentContiguousPrefixTracker<TOffset>
{
    private readonly Lock _gate = new();
    private readonly ContiguousPrefixTracker<TOffset> _inner;

    /// <summary>Creates a tracker whose first event may have any sequence number.</summary>
    public ConcurrentContiguousPrefixTracker() => _inner = new ContiguousPrefixTracker<TOffset>();

    /// <summary>Creates a tracker whose first event must be <paramref name="firstSequence"/>.</summary>
    /// <param name="firstSequence">The sequence number of the first event.</param>
    public ConcurrentContiguousPrefixTracker(ulong firstSequence) => _inner = new ContiguousPrefixTracker<TOffset>(firstSequence);

    /// <inheritdoc cref="ContiguousPrefixTracker{TOffset}.NextSequence" />
    public ulong? NextSequence
    {
        get
        {
            lock (_gate)
            {
                return _inner.NextSequence;
            }
        }
    }

    /// <inheritdoc cref="ContiguousPrefixTracker{TOffset}.Pending" />
    public int Pending
    {
        get
        {
            lock (_gate)
            {
                return _inner.Pending;
            }
        }
    }

    /// <inheritdoc cref="ContiguousPrefixTracker{TOffset}.Begin" />
    public void Begin(ulong sequence, TOffset offset)
    {
        lock (_gate)
        {
            _inner.Begin(sequence, offset);
        }
    }

    /// <inheritdoc cref="ContiguousPrefixTracker{TOffset}.Complete" />
    public bool Complete(ulong sequence)
    {
        lock (_gate)
        {
            return _inner.Complete(sequence);
        }
    }

    /// <inheritdoc cref="ContiguousPrefixTracker{TOffset}.TryGetCheckpointable" />
    public bool TryGetCheckpointable(out TOffset offset, out ulong sequence)
    {
        lock (_gate)
        {
            return _inner.TryGetCheckpointable(out offset, out sequence);
        }
    }
}
