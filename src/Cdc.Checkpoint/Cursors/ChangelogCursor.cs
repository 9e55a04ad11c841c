using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Streaming;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cdc.Checkpoint.Cursors;

/// <summary>
/// A pull cursor over a <see cref="StreamChangelogBuffer"/>: ordered, at-least-once replay of the changelog after a
/// (position, started) point, with gap observations and a deadline-bounded poll that parks until data arrives.
/// </summary>
/// <remarks>
/// <para>
/// Ordering: records are delivered in ascending position order, each position at most once per cursor instance.
/// Reading does not remove anything from the changelog; any number of cursors can read one buffer.
/// </para>
/// <para>
/// Gaps: when the next delivered position is not the one expected, the skipped range is reported in
/// <see cref="ChangelogBatch.Gaps"/> (logged as a warning, event id <see cref="CdcEventId.CursorGap"/>, and counted in
/// the <c>cdc.checkpoint.cursor.skipped</c> counter) with its
/// cancelled parts; the rest was lost (overwritten, dropped or popped before this cursor read it). A cursor that has
/// not started expects <see cref="StreamChangelogBuffer.FirstPosition"/> first.
/// </para>
/// <para>
/// Durability: <see cref="Checkpoint"/> is the last delivered position, bound to the consumer identity. Save it
/// (<see cref="CursorCheckpointStoreExtensions.SaveCursorAsync"/>) after the batch's side effects are done and before
/// the next poll; a restarted consumer loads it and creates a new cursor from it. Delivery is at-least-once: the
/// batches delivered after the last save are delivered again after a crash, nothing before it. Positions are the
/// changelog's numbering, so a writer that refills the buffer after a restart must number the entries as before
/// (the buffer's <c>firstPosition</c>).
/// </para>
/// <para>
/// Thread-safety: one poll at a time (a concurrent poll throws <see cref="InvalidOperationException"/>); polling is
/// safe while other threads push to the changelog. <see cref="Checkpoint"/> can be read from any thread.
/// </para>
/// </remarks>
public sealed class ChangelogCursor
{
    /// <summary>The longest poll timeout (the limit of <see cref="Task.WaitAsync(TimeSpan, TimeProvider)"/>).</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private readonly StreamChangelogBuffer _changelog;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private volatile CursorCheckpoint _checkpoint;
    private int _polling;
    private long _parks;

    /// <summary>Creates a cursor that delivers the changelog after <paramref name="start"/>.</summary>
    /// <param name="changelog">The changelog to read (for example <see cref="StreamCheckpointManager.Changelog"/>).</param>
    /// <param name="start">Where to start: <see cref="CursorCheckpoint.NotStarted"/> for everything, or a loaded checkpoint to resume after it.</param>
    /// <param name="timeProvider">The clock of poll deadlines; <see cref="TimeProvider.System"/> by default.</param>
    /// <param name="loggerFactory">Logger source for gap warnings; none by default.</param>
    /// <exception cref="ArgumentNullException"><paramref name="changelog"/> or <paramref name="start"/> is <see langword="null"/>.</exception>
    public ChangelogCursor(StreamChangelogBuffer changelog, CursorCheckpoint start, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(changelog);
        ArgumentNullException.ThrowIfNull(start);
        _changelog = changelog;
        _checkpoint = start;
        _time = timeProvider ?? TimeProvider.System;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<ChangelogCursor>();
    }

    /// <summary>The last delivered position and the consumer identity; save it once the delivered records are processed.</summary>
    public CursorCheckpoint Checkpoint => _checkpoint;

    /// <summary>The consumer this cursor belongs to.</summary>
    public string ConsumerIdentity => _checkpoint.ConsumerIdentity;

    /// <summary>The changelog's current visibility epoch (grows with every published entry).</summary>
    public ulong VisibilityEpoch => _changelog.VisibilityEpoch;

    /// <summary>How many times polls parked waiting for data (a parked poll wakes once per publish or at its deadline).</summary>
    internal long ParkCount => Interlocked.Read(ref _parks);

    /// <summary>Delivers up to <paramref name="maxCount"/> records after <see cref="Checkpoint"/> without waiting.</summary>
    /// <param name="maxCount">The most records to deliver; 0 returns an empty batch.</param>
    /// <returns>The batch; empty when nothing new is buffered.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxCount"/> is negative.</exception>
    /// <exception cref="InvalidOperationException">Another poll of this cursor is running.</exception>
    public ChangelogBatch Poll(int maxCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxCount);
        Enter();
        try
        {
            return PollCore(maxCount);
        }
        finally
        {
            Volatile.Write(ref _polling, 0);
        }
    }

    /// <summary>
    /// Delivers up to <paramref name="maxCount"/> records after <see cref="Checkpoint"/>, waiting up to
    /// <paramref name="timeout"/> for the first one. The wait parks on the changelog's publish signal (no polling
    /// loop): a push wakes it at once, and at the deadline it returns an empty batch.
    /// </summary>
    /// <param name="maxCount">The most records to deliver; 0 returns an empty batch at once.</param>
    /// <param name="timeout">How long to wait for data, measured on the cursor's <see cref="TimeProvider"/>; <see cref="TimeSpan.Zero"/> does not wait, <see cref="Timeout.InfiniteTimeSpan"/> waits until data or cancellation.</param>
    /// <param name="cancellationToken">Cancels the wait (throws <see cref="OperationCanceledException"/>; the position does not move).</param>
    /// <returns>The batch; empty when the deadline passed with no data.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxCount"/> is negative, or <paramref name="timeout"/> is negative (other than infinite) or above <see cref="MaxTimeout"/>.</exception>
    /// <exception cref="InvalidOperationException">Another poll of this cursor is running.</exception>
    public async ValueTask<ChangelogBatch> PollBatchAsync(int maxCount, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxCount);
        var infinite = timeout == Timeout.InfiniteTimeSpan;
        if (!infinite)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(timeout, MaxTimeout);
        }

        Enter();
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            var started = _time.GetTimestamp();
            while (true)
            {
                // The epoch comes from the same locked read as the batch: a publish after the read changes it, so the
                // park below returns at once instead of missing that entry.
                var batch = PollCore(maxCount);
                if (!batch.IsEmpty || maxCount == 0)
                {
                    return batch;
                }

                var remaining = infinite ? Timeout.InfiniteTimeSpan : timeout - _time.GetElapsedTime(started);
                if (!infinite && remaining <= TimeSpan.Zero)
                {
                    return batch;
                }

                Interlocked.Increment(ref _parks);
                await _changelog.WaitForPublishAsync(batch.VisibilityEpoch, remaining, _time, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            Volatile.Write(ref _polling, 0);
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"changelog {_checkpoint}";

    private void Enter()
    {
        if (Interlocked.Exchange(ref _polling, 1) != 0)
        {
            throw new InvalidOperationException("Another poll of this cursor is running; a cursor delivers in order, so poll it from one consumer at a time.");
        }
    }

    private ChangelogBatch PollCore(int maxCount)
    {
        var checkpoint = _checkpoint;
        ulong expected;
        if (!checkpoint.Started)
        {
            expected = _changelog.FirstPosition;
        }
        else if (checkpoint.NextPosition is { } next)
        {
            expected = next;
        }
        else
        {
            // ulong.MaxValue was delivered; the changelog never hands out a later position.
            return ChangelogBatch.Empty(_changelog.VisibilityEpoch);
        }

        var records = new ChangelogRecord[Math.Min(maxCount, _changelog.Capacity)];
        var count = _changelog.ReadFrom(expected, records, out var cancelled, out var epoch);
        if (count == 0)
        {
            return ChangelogBatch.Empty(epoch);
        }

        Array.Resize(ref records, count);
        List<ChangelogGap>? gaps = null;
        foreach (var record in records)
        {
            if (ChangelogGap.Observe(expected, record.Position, cancelled) is { } gap)
            {
                (gaps ??= []).Add(gap);
                Log.CursorGap(_logger, checkpoint.ConsumerIdentity, gap.ExpectedPosition, gap.DeliveredPosition, gap.LostCount, gap.CancelledCount);
                StreamingMetrics.RecordCursorGap(gap.LostCount, gap.CancelledCount);
            }

            expected = record.Position + 1;
        }

        _checkpoint = checkpoint.AdvanceTo(records[^1].Position);
        return ChangelogBatch.Of(records, gaps is null ? [] : [.. gaps], epoch);
    }
}
