using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Cdc.Checkpoint.Streaming;

/// <summary>
/// The progress counters of one registered source: a sequence number (events pushed) and a watermark, updated by the
/// source on its hot path without locks and read by <see cref="StreamCheckpointManager.Trigger"/>.
/// </summary>
/// <remarks>
/// <para>
/// Share the same instance between every component that reports for the source: all of them see and update the same
/// counters. The counters sit on their own cache lines, so sources updating their handles from different cores do not
/// slow each other down (no false sharing).
/// </para>
/// <para>
/// Thread-safety: <see cref="IncrementSequence"/>, <see cref="AddToSequence"/> and <see cref="AdvanceWatermark"/> are
/// atomic and safe from any number of threads. <see cref="IncrementSequenceSingleWriter"/> and
/// <see cref="PublishSequence"/> are the cheaper single-writer forms (a plain load and a release store, no atomic
/// read-modify-write): use them only when exactly one thread updates the sequence, the usual shape of one reader
/// thread per replication slot or binlog connection. Two threads using them at once lose increments (never tear the
/// value); mixing them with the atomic forms from other threads loses increments too. Reads are acquire-ordered from
/// any thread: a checkpoint that observes a sequence also observes every write the source made before publishing it.
/// Counters of different sources are read one after the other, not as one atomic cut.
/// </para>
/// <para>
/// Cost (docs/BENCHMARKS.md, hot-path figures): the single-writer forms cost about as much as a plain field
/// increment (under a nanosecond); the atomic forms are a locked instruction (several nanoseconds uncontended, more
/// when threads of different cores update the same handle).
/// </para>
/// </remarks>
public sealed class StreamSourceHandle
{
    private PaddedCounters _counters;

    internal StreamSourceHandle(string name, ushort id, ulong initialSequence, long initialWatermark, bool tracked)
    {
        Name = name;
        Id = id;
        IsTracked = tracked;
        _counters.Sequence = initialSequence;
        _counters.Watermark = initialWatermark;
    }

    /// <summary>The source name the handle was registered under.</summary>
    public string Name { get; }

    /// <summary>A compact id (registration order within the manager), for <see cref="StreamChangelogEntry.SourceId"/>.</summary>
    public ushort Id { get; }

    /// <summary>
    /// Whether a checkpoint manager captures this handle; <see langword="false"/> for handles of a disabled manager,
    /// which still count but are never read.
    /// </summary>
    public bool IsTracked { get; }

    /// <summary>The current sequence number (acquire read).</summary>
    public ulong Sequence => Volatile.Read(ref _counters.Sequence);

    /// <summary>The current watermark (acquire read); <see cref="long.MinValue"/> until the source sets one unless registered otherwise.</summary>
    public long Watermark => Volatile.Read(ref _counters.Watermark);

    /// <summary>Adds one to the sequence number, atomically. Safe from any thread; allocation-free.</summary>
    /// <returns>The new sequence number.</returns>
    /// <remarks>An atomic read-modify-write; when one thread owns the source, <see cref="IncrementSequenceSingleWriter"/> does the same for a fraction of the cost.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong IncrementSequence() => Interlocked.Increment(ref _counters.Sequence);

    /// <summary>
    /// Single-writer form of <see cref="IncrementSequence"/>: adds one to the sequence number with a plain load and a
    /// release store, no atomic instruction. Allocation-free.
    /// </summary>
    /// <returns>The new sequence number.</returns>
    /// <remarks>
    /// Call it from one thread only, and do not mix it with <see cref="IncrementSequence"/> or
    /// <see cref="AddToSequence"/> on other threads: concurrent writers lose increments (the value itself never tears).
    /// Readers on any thread (a checkpoint, <see cref="Sequence"/>) are safe and see every write the source made
    /// before the increment. Use <see cref="IncrementSequence"/> when several threads count events of one source.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong IncrementSequenceSingleWriter()
    {
        var next = _counters.Sequence + 1;
        Volatile.Write(ref _counters.Sequence, next);
        return next;
    }

    /// <summary>Adds <paramref name="count"/> to the sequence number, atomically (a batch of events).</summary>
    /// <param name="count">The number of events.</param>
    /// <returns>The new sequence number.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong AddToSequence(ulong count) => Interlocked.Add(ref _counters.Sequence, count);

    /// <summary>
    /// Single-writer form: stores <paramref name="sequence"/> as the new sequence number with release semantics. The
    /// sequence never goes back.
    /// </summary>
    /// <param name="sequence">The new sequence number; not lower than the current one.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="sequence"/> is lower than the current sequence.</exception>
    /// <remarks>Call from one thread only (the contract of <see cref="IncrementSequenceSingleWriter"/>); concurrent writers must use <see cref="IncrementSequence"/> or <see cref="AddToSequence"/>.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PublishSequence(ulong sequence)
    {
        if (sequence < _counters.Sequence)
        {
            ThrowSequenceRegression(sequence);
        }

        Volatile.Write(ref _counters.Sequence, sequence);
    }

    /// <summary>Raises the watermark to <paramref name="watermark"/> if it is higher than the current one; atomic, safe from any thread.</summary>
    /// <param name="watermark">The proposed watermark.</param>
    /// <returns><see langword="true"/> when the watermark moved; <see langword="false"/> when it was already at or above the proposal.</returns>
    public bool AdvanceWatermark(long watermark)
    {
        var current = Volatile.Read(ref _counters.Watermark);
        while (watermark > current)
        {
            var seen = Interlocked.CompareExchange(ref _counters.Watermark, watermark, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }

        return false;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} (id {Id}): sequence {Sequence}, watermark {Watermark}";

    private void ThrowSequenceRegression(ulong sequence) => throw new ArgumentOutOfRangeException(
        nameof(sequence),
        sequence,
        $"Source '{Name}' cannot move its sequence back from {_counters.Sequence} to {sequence}; sequences only grow. Register the source again (after a restore) to start from a lower value.");

    // 128 bytes before and after the two counters: at least one full cache line (two on CPUs whose adjacent-line
    // prefetcher pairs lines) separates them from any other object's fields.
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct PaddedCounters
    {
        [FieldOffset(128)]
        public ulong Sequence;

        [FieldOffset(136)]
        public long Watermark;
    }
}
