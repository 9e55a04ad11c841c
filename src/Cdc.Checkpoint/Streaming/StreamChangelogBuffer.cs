using System.Runtime.InteropServices;

namespace Cdc.Checkpoint.Streaming;

/// <summary>
/// A fixed-capacity ring buffer of <see cref="StreamChangelogEntry"/> values, allocated once: pushing, popping and
/// draining into a span never allocate. Every push is numbered with the next changelog position, so pull cursors
/// (<see cref="Cursors.ChangelogCursor"/>) can read the buffer without consuming it and see which positions they missed.
/// </summary>
/// <remarks>
/// <para>
/// Positions: the first push gets <see cref="FirstPosition"/> (0 by default), each later push the next number, whether
/// the entry is stored or dropped by <see cref="ChangelogOverflowPolicy.DropNew"/>; so a position that a reader never
/// sees was overwritten, dropped, popped or cancelled (<see cref="Cancel"/>), and the reader reports it as a gap. To
/// keep positions stable across a restart (a durable cursor resumes by position), create the buffer with the position
/// the first re-pushed entry had before.
/// </para>
/// <para>
/// When full, <see cref="ChangelogOverflowPolicy"/> decides whether the new entry or the oldest one is lost; every such
/// loss is counted in <see cref="OverflowCount"/>. Entries leave the buffer only by being overwritten, popped
/// (<see cref="TryPop"/>, <see cref="Drain"/>, <see cref="DrainAll"/>) or cleared: cursors read without removing, so a
/// buffer read only by cursors should use <see cref="ChangelogOverflowPolicy.OverwriteOldest"/>.
/// </para>
/// <para>
/// Thread-safety: all members are safe to call concurrently. One short spin lock guards the ring (a writer and any
/// number of cursors on other threads); a parked cursor is woken by the push that publishes the next entry. A
/// producer with several entries at hand pushes them with <see cref="TryPushRange"/>, one lock acquisition for all.
/// </para>
/// </remarks>
public sealed class StreamChangelogBuffer
{
    /// <summary>How many cancelled ranges are remembered to classify the gaps readers see; older ones count as lost.</summary>
    internal const int MaxCancelledRanges = 256;

    private readonly StreamChangelogEntry[] _entries;
    private readonly ulong[] _positions;

    // A spin lock, not System.Threading.Lock: every critical section is a few loads and stores (a push is ~10
    // instructions), and an uncontended SpinLock costs one interlocked compare-exchange to enter and a plain release
    // store to leave, where Lock pays an atomic operation for each. A waiter spins briefly, then yields and sleeps
    // (SpinWait), so a holder that is preempted delays others but never deadlocks them. Not readonly: it is a mutable struct.
    private SpinLock _gate = new(enableThreadOwnerTracking: false);

    // Cancelled position ranges, oldest first, non-overlapping and ascending (Cancel only covers published positions,
    // and a range is merged into its predecessor when they touch).
    private readonly List<ChangelogRange> _cancelled = [];
    private int _read;
    private int _write;
    private int _count;
    private ulong _nextPosition;
    private ulong _overflowCount;
    private ulong _epoch;

    // Completed by the next publish; created only while a reader is parked, so pushing stays allocation-free.
    private TaskCompletionSource? _published;

    /// <summary>Creates a buffer holding up to <paramref name="capacity"/> entries.</summary>
    /// <param name="capacity">The number of entries; greater than zero.</param>
    /// <param name="overflowPolicy">What to do when full; <see cref="ChangelogOverflowPolicy.DropNew"/> by default.</param>
    /// <param name="firstPosition">The position of the first push; 0 by default.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is not positive or the policy is undefined.</exception>
    public StreamChangelogBuffer(int capacity, ChangelogOverflowPolicy overflowPolicy = ChangelogOverflowPolicy.DropNew, ulong firstPosition = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        if (overflowPolicy is not (ChangelogOverflowPolicy.DropNew or ChangelogOverflowPolicy.OverwriteOldest))
        {
            throw new ArgumentOutOfRangeException(nameof(overflowPolicy), overflowPolicy, "Use DropNew or OverwriteOldest.");
        }

        _entries = new StreamChangelogEntry[capacity];
        _positions = new ulong[capacity];
        OverflowPolicy = overflowPolicy;
        FirstPosition = firstPosition;
        _nextPosition = firstPosition;
    }

    /// <summary>The maximum number of entries.</summary>
    public int Capacity => _entries.Length;

    /// <summary>The number of buffered entries.</summary>
    public int Count
    {
        get
        {
            using (Enter())
            {
                return _count;
            }
        }
    }

    /// <summary>Whether no entry is buffered.</summary>
    public bool IsEmpty => Count == 0;

    /// <summary>Whether the buffer holds <see cref="Capacity"/> entries.</summary>
    public bool IsFull => Count == _entries.Length;

    /// <summary>The policy applied when a push finds the buffer full.</summary>
    public ChangelogOverflowPolicy OverflowPolicy { get; }

    /// <summary>How many entries were lost to overflow since creation (dropped new ones or overwritten old ones).</summary>
    public ulong OverflowCount
    {
        get
        {
            using (Enter())
            {
                return _overflowCount;
            }
        }
    }

    /// <summary>The position of the first push (the <c>firstPosition</c> the buffer was created with).</summary>
    public ulong FirstPosition { get; }

    /// <summary>The position the next push will get: one past the last position handed out.</summary>
    public ulong NextPosition
    {
        get
        {
            using (Enter())
            {
                return _nextPosition;
            }
        }
    }

    /// <summary>
    /// The visibility epoch: how many entries were published (stored by a push) since creation. It only grows; a
    /// reader that notes it before reading and parks until it changes never misses a publish.
    /// </summary>
    public ulong VisibilityEpoch
    {
        get
        {
            using (Enter())
            {
                return _epoch;
            }
        }
    }

    /// <summary>Appends an entry, applying <see cref="OverflowPolicy"/> when full.</summary>
    /// <param name="entry">The entry.</param>
    /// <returns>
    /// <see langword="true"/> when the entry was stored (possibly by overwriting the oldest one);
    /// <see langword="false"/> when it was dropped (<see cref="ChangelogOverflowPolicy.DropNew"/> and full).
    /// </returns>
    /// <exception cref="InvalidOperationException">Every position up to <see cref="ulong.MaxValue"/> was handed out.</exception>
    public bool TryPush(in StreamChangelogEntry entry) => TryPush(entry, out _);

    /// <summary>Appends an entry, applying <see cref="OverflowPolicy"/> when full, and says which position it got.</summary>
    /// <param name="entry">The entry.</param>
    /// <param name="position">The position of the entry (also when it was dropped: readers see that position as a gap).</param>
    /// <returns>
    /// <see langword="true"/> when the entry was stored (possibly by overwriting the oldest one);
    /// <see langword="false"/> when it was dropped (<see cref="ChangelogOverflowPolicy.DropNew"/> and full).
    /// </returns>
    /// <exception cref="InvalidOperationException">Every position up to <see cref="ulong.MaxValue"/> was handed out.</exception>
    public bool TryPush(in StreamChangelogEntry entry, out ulong position)
    {
        TaskCompletionSource? wake;
        bool stored;
        using (Enter())
        {
            ThrowIfPositionsExhausted(1);
            stored = StoreLocked(entry, out position);
            wake = TakeWaiterLocked(stored);
        }

        // Outside the lock, and the continuations run asynchronously: the writer never runs a reader's code.
        wake?.TrySetResult();
        return stored;
    }

    /// <summary>
    /// Appends <paramref name="entries"/> in order under one acquisition of the lock, applying
    /// <see cref="OverflowPolicy"/> to each as <see cref="TryPush(in StreamChangelogEntry, out ulong)"/> would: the
    /// cheaper form for a producer that has several changes at hand (the rows of one WAL or binlog event).
    /// </summary>
    /// <param name="entries">The entries, oldest first.</param>
    /// <param name="firstPosition">The position of the first entry; entry <c>i</c> gets <c>firstPosition + i</c> (dropped ones too).</param>
    /// <returns>How many entries were stored; the rest were dropped (<see cref="ChangelogOverflowPolicy.DropNew"/> and full).</returns>
    /// <exception cref="InvalidOperationException">The entries would use positions up to <see cref="ulong.MaxValue"/>; nothing is pushed.</exception>
    /// <remarks>Cursors see the entries appear together. Allocation-free.</remarks>
    public int TryPushRange(ReadOnlySpan<StreamChangelogEntry> entries, out ulong firstPosition)
    {
        TaskCompletionSource? wake;
        var stored = 0;
        using (Enter())
        {
            ThrowIfPositionsExhausted(entries.Length);
            firstPosition = _nextPosition;
            foreach (ref readonly var entry in entries)
            {
                if (StoreLocked(entry, out _))
                {
                    stored++;
                }
            }

            wake = TakeWaiterLocked(stored != 0);
        }

        wake?.TrySetResult();
        return stored;
    }

    // ulong.MaxValue stays unused so that "one past the last position" is always representable.
    private void ThrowIfPositionsExhausted(int count)
    {
        if (ulong.MaxValue - _nextPosition < (ulong)count)
        {
            throw new InvalidOperationException($"The changelog handed out every position up to {ulong.MaxValue - 1}; positions never wrap. Create a new buffer (and new cursors).");
        }
    }

    // Gives the entry the next position and stores it, or drops it when full under DropNew. Caller holds the gate.
    private bool StoreLocked(in StreamChangelogEntry entry, out ulong position)
    {
        position = _nextPosition++;
        if (_count == _entries.Length)
        {
            _overflowCount++;
            if (OverflowPolicy == ChangelogOverflowPolicy.DropNew)
            {
                return false;
            }

            // Overwrite: the oldest slot is the one we are about to write.
            _read = Next(_read);
            _count--;
        }

        _entries[_write] = entry;
        _positions[_write] = position;
        _write = Next(_write);
        _count++;
        _epoch++;
        return true;
    }

    // The parked readers' signal, to complete once the gate is released; null when nothing was published or nobody waits.
    private TaskCompletionSource? TakeWaiterLocked(bool published)
    {
        if (!published)
        {
            return null;
        }

        var wake = _published;
        _published = null;
        return wake;
    }

    /// <summary>
    /// Hides the published positions in [<paramref name="fromPosition"/>, <paramref name="toPosition"/>) from readers, for
    /// example the entries of a streamed transaction that was then aborted. Buffered entries in the range are no longer
    /// delivered by cursors, and a cursor that skips them reports the range as cancelled in its gap; entries a cursor
    /// already delivered are not recalled. An empty range does nothing.
    /// </summary>
    /// <param name="fromPosition">The first cancelled position.</param>
    /// <param name="toPosition">One past the last cancelled position; at most <see cref="NextPosition"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="toPosition"/> is beyond <see cref="NextPosition"/>.</exception>
    public void Cancel(ulong fromPosition, ulong toPosition)
    {
        using (Enter())
        {
            if (toPosition > _nextPosition)
            {
                throw new ArgumentOutOfRangeException(nameof(toPosition), toPosition, $"Only published positions can be cancelled; the next position is {_nextPosition}.");
            }

            if (fromPosition >= toPosition)
            {
                return;
            }

            // Keep the list ascending and non-overlapping: fold every remembered range that touches the new one into it.
            var index = _cancelled.Count;
            while (index > 0 && _cancelled[index - 1].End >= fromPosition)
            {
                index--;
            }

            var merged = new ChangelogRange(fromPosition, toPosition);
            var overlapping = 0;
            for (var i = index; i < _cancelled.Count && _cancelled[i].Start <= toPosition; i++)
            {
                merged = new ChangelogRange(Math.Min(merged.Start, _cancelled[i].Start), Math.Max(merged.End, _cancelled[i].End));
                overlapping++;
            }

            _cancelled.RemoveRange(index, overlapping);
            _cancelled.Insert(index, merged);
            if (_cancelled.Count > MaxCancelledRanges)
            {
                _cancelled.RemoveAt(0);
            }
        }
    }

    /// <summary>Removes and returns the oldest entry.</summary>
    /// <param name="entry">The oldest entry, or <see langword="default"/> when empty.</param>
    /// <returns><see langword="false"/> when the buffer is empty.</returns>
    public bool TryPop(out StreamChangelogEntry entry)
    {
        using (Enter())
        {
            if (_count == 0)
            {
                entry = default;
                return false;
            }

            entry = _entries[_read];
            _read = Next(_read);
            _count--;
            return true;
        }
    }

    /// <summary>Returns the oldest entry without removing it.</summary>
    /// <param name="entry">The oldest entry, or <see langword="default"/> when empty.</param>
    /// <returns><see langword="false"/> when the buffer is empty.</returns>
    public bool TryPeek(out StreamChangelogEntry entry)
    {
        using (Enter())
        {
            entry = _count == 0 ? default : _entries[_read];
            return _count != 0;
        }
    }

    /// <summary>
    /// Moves up to <paramref name="max"/> of the oldest entries, oldest first, into <paramref name="destination"/>
    /// (never more than it can hold).
    /// </summary>
    /// <param name="max">The most entries to move; not negative.</param>
    /// <param name="destination">Where to copy them.</param>
    /// <returns>The number of entries moved.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="max"/> is negative.</exception>
    public int Drain(int max, Span<StreamChangelogEntry> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(max);
        using (Enter())
        {
            var n = Math.Min(Math.Min(max, _count), destination.Length);
            if (n == 0)
            {
                return 0;
            }

            // At most two contiguous runs: from the read index to the end of the array, then from the start.
            var first = Math.Min(n, _entries.Length - _read);
            _entries.AsSpan(_read, first).CopyTo(destination);
            if (first < n)
            {
                _entries.AsSpan(0, n - first).CopyTo(destination[first..]);
            }

            _read = (int)(((long)_read + n) % _entries.Length);
            _count -= n;
            return n;
        }
    }

    /// <summary>Moves every buffered entry, oldest first, to the end of <paramref name="destination"/>.</summary>
    /// <param name="destination">The list to append to (it grows at most once).</param>
    /// <returns>The number of entries moved.</returns>
    public int DrainAll(List<StreamChangelogEntry> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        using (Enter())
        {
            var n = _count;
            destination.EnsureCapacity(destination.Count + n);
            for (var i = 0; i < n; i++)
            {
                destination.Add(_entries[_read]);
                _read = Next(_read);
            }

            _count = 0;
            return n;
        }
    }

    /// <summary>Removes every entry (the overflow count and the positions are kept).</summary>
    public void Clear()
    {
        using (Enter())
        {
            _read = 0;
            _write = 0;
            _count = 0;
        }
    }

    /// <inheritdoc/>
    public override string ToString()
    {
        using (Enter())
        {
            return $"StreamChangelogBuffer {{ Capacity = {Capacity}, Count = {_count}, OverflowCount = {_overflowCount}, Policy = {OverflowPolicy}, NextPosition = {_nextPosition} }}";
        }
    }

    /// <summary>
    /// Copies, oldest first, up to <paramref name="destination"/>.Length buffered entries at or after
    /// <paramref name="fromPosition"/> that are not cancelled, and returns the cancelled ranges that end after
    /// <paramref name="fromPosition"/> (for the reader's gap report) and the visibility epoch the copy reflects.
    /// Nothing is removed.
    /// </summary>
    internal int ReadFrom(ulong fromPosition, Span<ChangelogRecord> destination, out ChangelogRange[] cancelled, out ulong epoch)
    {
        using (Enter())
        {
            epoch = _epoch;
            cancelled = CancelledFrom(fromPosition);
            if (destination.IsEmpty || _count == 0)
            {
                return 0;
            }

            // Positions grow along the ring: binary search for the first one at or after fromPosition.
            int lo = 0, hi = _count;
            while (lo < hi)
            {
                var mid = (lo + hi) >>> 1;
                if (_positions[Slot(mid)] < fromPosition)
                {
                    lo = mid + 1;
                }
                else
                {
                    hi = mid;
                }
            }

            var copied = 0;
            var range = 0;
            for (var i = lo; i < _count && copied < destination.Length; i++)
            {
                var slot = Slot(i);
                var position = _positions[slot];
                while (range < cancelled.Length && cancelled[range].End <= position)
                {
                    range++;
                }

                if (range < cancelled.Length && cancelled[range].Start <= position)
                {
                    continue;
                }

                destination[copied++] = new ChangelogRecord(position, _entries[slot]);
            }

            return copied;
        }
    }

    /// <summary>
    /// Waits until <see cref="VisibilityEpoch"/> differs from <paramref name="sinceEpoch"/> or <paramref name="timeout"/>
    /// passes on <paramref name="timeProvider"/>; returns at once when it already differs.
    /// </summary>
    /// <returns><see langword="true"/> when an entry was published; <see langword="false"/> at the timeout.</returns>
    internal async ValueTask<bool> WaitForPublishAsync(ulong sinceEpoch, TimeSpan timeout, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        Task published;
        using (Enter())
        {
            if (_epoch != sinceEpoch)
            {
                return true;
            }

            _published ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            published = _published.Task;
        }

        try
        {
            await published.WaitAsync(timeout, timeProvider, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private ChangelogRange[] CancelledFrom(ulong fromPosition)
    {
        var first = _cancelled.Count;
        while (first > 0 && _cancelled[first - 1].End > fromPosition)
        {
            first--;
        }

        return first == _cancelled.Count ? [] : CollectionsMarshal.AsSpan(_cancelled)[first..].ToArray();
    }

    private int Slot(int offset) => (int)(((long)_read + offset) % _entries.Length);

    private int Next(int index) => ++index == _entries.Length ? 0 : index;

    private Held Enter() => new(ref _gate);

    // Holds the gate for the scope of a using statement.
    private ref struct Held
    {
        private readonly ref SpinLock _gate;

        public Held(ref SpinLock gate)
        {
            var taken = false;
            gate.Enter(ref taken);
            _gate = ref gate;
        }

        // A release store: whatever the holder wrote is visible to the next thread that enters.
        public readonly void Dispose() => _gate.Exit(useMemoryBarrier: false);
    }
}
