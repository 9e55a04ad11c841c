namespace Cdc.Checkpoint.Streaming;

/// <summary>
/// A fixed-capacity ring buffer of <see cref="StreamChangelogEntry"/> values, allocated once: pushing, popping and
/// draining into a span never allocate.
/// </summary>
/// <remarks>
/// Not thread-safe: one thread at a time may use an instance (typically the thread that also triggers checkpoints);
/// callers that share it must synchronize. When full, <see cref="ChangelogOverflowPolicy"/> decides whether the new
/// entry or the oldest one is lost; every such loss is counted in <see cref="OverflowCount"/>.
/// </remarks>
public sealed class StreamChangelogBuffer
{
    private readonly StreamChangelogEntry[] _entries;
    private int _read;
    private int _write;
    private int _count;

    /// <summary>Creates a buffer holding up to <paramref name="capacity"/> entries.</summary>
    /// <param name="capacity">The number of entries; greater than zero.</param>
    /// <param name="overflowPolicy">What to do when full; <see cref="ChangelogOverflowPolicy.DropNew"/> by default.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is not positive or the policy is undefined.</exception>
    public StreamChangelogBuffer(int capacity, ChangelogOverflowPolicy overflowPolicy = ChangelogOverflowPolicy.DropNew)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        if (overflowPolicy is not (ChangelogOverflowPolicy.DropNew or ChangelogOverflowPolicy.OverwriteOldest))
        {
            throw new ArgumentOutOfRangeException(nameof(overflowPolicy), overflowPolicy, "Use DropNew or OverwriteOldest.");
        }

        _entries = new StreamChangelogEntry[capacity];
        OverflowPolicy = overflowPolicy;
    }

    /// <summary>The maximum number of entries.</summary>
    public int Capacity => _entries.Length;

    /// <summary>The number of buffered entries.</summary>
    public int Count => _count;

    /// <summary>Whether no entry is buffered.</summary>
    public bool IsEmpty => _count == 0;

    /// <summary>Whether the buffer holds <see cref="Capacity"/> entries.</summary>
    public bool IsFull => _count == _entries.Length;

    /// <summary>The policy applied when a push finds the buffer full.</summary>
    public ChangelogOverflowPolicy OverflowPolicy { get; }

    /// <summary>How many entries were lost to overflow since creation (dropped new ones or overwritten old ones).</summary>
    public ulong OverflowCount { get; private set; }

    /// <summary>Appends an entry, applying <see cref="OverflowPolicy"/> when full.</summary>
    /// <param name="entry">The entry.</param>
    /// <returns>
    /// <see langword="true"/> when the entry was stored (possibly by overwriting the oldest one);
    /// <see langword="false"/> when it was dropped (<see cref="ChangelogOverflowPolicy.DropNew"/> and full).
    /// </returns>
    public bool TryPush(in StreamChangelogEntry entry)
    {
        if (_count == _entries.Length)
        {
            OverflowCount++;
            if (OverflowPolicy == ChangelogOverflowPolicy.DropNew)
            {
                return false;
            }

            // Overwrite: the oldest slot is the one we are about to write.
            _read = Next(_read);
            _count--;
        }

        _entries[_write] = entry;
        _write = Next(_write);
        _count++;
        return true;
    }

    /// <summary>Removes and returns the oldest entry.</summary>
    /// <param name="entry">The oldest entry, or <see langword="default"/> when empty.</param>
    /// <returns><see langword="false"/> when the buffer is empty.</returns>
    public bool TryPop(out StreamChangelogEntry entry)
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

    /// <summary>Returns the oldest entry without removing it.</summary>
    /// <param name="entry">The oldest entry, or <see langword="default"/> when empty.</param>
    /// <returns><see langword="false"/> when the buffer is empty.</returns>
    public bool TryPeek(out StreamChangelogEntry entry)
    {
        entry = _count == 0 ? default : _entries[_read];
        return _count != 0;
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

    /// <summary>Moves every buffered entry, oldest first, to the end of <paramref name="destination"/>.</summary>
    /// <param name="destination">The list to append to (it grows at most once).</param>
    /// <returns>The number of entries moved.</returns>
    public int DrainAll(List<StreamChangelogEntry> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var n = _count;
        destination.EnsureCapacity(destination.Count + n);
        while (TryPop(out var entry))
        {
            destination.Add(entry);
        }

        return n;
    }

    /// <summary>Removes every entry (the overflow count is kept).</summary>
    public void Clear()
    {
        _read = 0;
        _write = 0;
        _count = 0;
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"StreamChangelogBuffer {{ Capacity = {Capacity}, Count = {_count}, OverflowCount = {OverflowCount}, Policy = {OverflowPolicy} }}";

    private int Next(int index) => ++index == _entries.Length ? 0 : index;
}
