using System.Globalization;

namespace Cdc.Checkpoint.Postgres.Replication;

/// <summary>
/// The acknowledgement rules of a logical replication consumer as pure state: which positions are processed, durable,
/// received and in flight, what may be reported to the server, when a status update is sent (at once, deferred, or
/// due on the session's schedule), and when an idle advance is allowed. No I/O, no clock, no locks, no Npgsql types
/// (LSNs are <see cref="ulong"/>): the owner (<see cref="AcknowledgementDriver"/>) serializes calls, does the saves and
/// status updates the answers ask for, and passes time in as timestamps of its <see cref="TimeProvider"/>.
/// </summary>
/// <remarks>
/// <para>Invariants, each kept by every method and checked by the unit tests:</para>
/// <list type="bullet">
/// <item>the status reported (<see cref="Acknowledged"/>) is never ahead of <see cref="Durable"/> and never moves backwards;</item>
/// <item><see cref="Durable"/> is never ahead of <see cref="Processed"/>; neither moves backwards;</item>
/// <item>a transaction in flight (begun, not committed) is never acknowledged: an idle advance waits for its commit,
/// and a processed position is at most the last commit received (<see cref="Received"/>);</item>
/// <item>every new position carries a higher committed event count than the one before it;</item>
/// <item>with a <see cref="StatusSchedule"/>, a status update is due one interval after the last one sent (or after the
/// stream was confirmed), one deferred retry after a deferral, always in the future once decided, and never without a
/// stream.</item>
/// </list>
/// </remarks>
internal sealed class AcknowledgementState
{
    private readonly Queue<ulong> _durableHistory = new();
    private readonly string _slotName;
    private readonly int _acknowledgeLag;
    private readonly ulong _idleAdvanceMinimumBytes;
    private readonly StatusSchedule? _schedule;
    private Mark? _idleAdvance;
    private long _lastStatusAt; // the last update sent, or the stream's confirmation
    private long? _deferredAt; // an update deferred because nothing was received yet
    private bool _ended; // the stream stopped: it is not confirmed again

    /// <summary>Creates the state of a stream that starts at a durable checkpoint.</summary>
    /// <param name="slotName">The slot, for messages.</param>
    /// <param name="start">The durable checkpoint the stream starts at.</param>
    /// <param name="acknowledgeLag">How many durable checkpoints the status stays behind (0 to 1000).</param>
    /// <param name="idleAdvanceMinimumBytes">How much new WAL an idle advance needs (the settle rule).</param>
    /// <param name="sessionOwned">
    /// <see langword="true"/> when a session owns the stream: commits are received through <see cref="Commit"/>, so a
    /// position must have been received before it is processed, and status updates are sent only while the stream is
    /// confirmed. <see langword="false"/> for an acknowledger beside a stream the caller runs itself.
    /// </param>
    /// <param name="now">The timestamp of the start checkpoint's durability (for <see cref="DurableAt"/>).</param>
    /// <param name="schedule">
    /// When status updates are due while streaming (a session's own status timer), or <see langword="null"/> when the
    /// caller runs the stream and Npgsql's <c>WalReceiverStatusInterval</c> timer sends the periodic updates.
    /// </param>
    public AcknowledgementState(string slotName, Mark start, int acknowledgeLag, ulong idleAdvanceMinimumBytes, bool sessionOwned, long now, StatusSchedule? schedule = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(acknowledgeLag);
        _slotName = slotName;
        _acknowledgeLag = acknowledgeLag;
        _idleAdvanceMinimumBytes = idleAdvanceMinimumBytes;
        SessionOwned = sessionOwned;
        _schedule = schedule;
        Processed = Durable = start;
        Received = start.Lsn;
        DurableAt = now;
        _durableHistory.Enqueue(start.Lsn);
    }

    /// <summary>What a status update may do now (<see cref="DecideSend"/>).</summary>
    public enum Send
    {
        /// <summary>Send the status update now.</summary>
        Now,

        /// <summary>
        /// Leave the status set: nothing was received on the stream yet, so Npgsql is not ready for an update. A session's
        /// status timer tries again after <see cref="StatusSchedule.DeferredRetry"/>; beside the caller's own stream,
        /// Npgsql's next update carries it.
        /// </summary>
        Deferred,

        /// <summary>Leave the status set; no stream to send on (not confirmed, ended, or its feedback is broken).</summary>
        Held,

        /// <summary>The status timer fired before the next update is due (<see cref="StatusDueAt"/>): nothing to send yet.</summary>
        NotDue,
    }

    /// <summary>Whether a session owns the stream (see the constructor).</summary>
    public bool SessionOwned { get; }

    /// <summary>The latest position marked processed.</summary>
    public Mark Processed { get; private set; }

    /// <summary>The latest durable position.</summary>
    public Mark Durable { get; private set; }

    /// <summary>The timestamp at which <see cref="Durable"/> became durable.</summary>
    public long DurableAt { get; private set; }

    /// <summary>The end LSN of the last commit received (the start LSN before the first).</summary>
    public ulong Received { get; private set; }

    /// <summary>The LSN last set as the replication status (flushed and applied); 0 before the first.</summary>
    public ulong Acknowledged { get; private set; }

    /// <summary>The server's WAL position from the validation, for the lag before the first keepalive.</summary>
    public ulong ServerWalHint { get; private set; }

    /// <summary>Whether the session holds the slot and streams (confirmed, not ended).</summary>
    public bool Streaming { get; private set; }

    /// <summary>Whether a transaction has begun and not committed.</summary>
    public bool InTransaction { get; private set; }

    /// <summary>Whether an idle advance is being saved.</summary>
    public bool IdleAdvancing => _idleAdvance is not null;

    /// <summary>Whether the connection's status updates are broken for good (see <see cref="FeedbackBroken"/>).</summary>
    public bool FeedbackUnusable { get; private set; }

    /// <summary>The commit timestamp of the last transaction received, or <see langword="null"/>.</summary>
    public DateTimeOffset? LastCommitTimestamp { get; private set; }

    /// <summary>The source lag at the last transaction received, or <see langword="null"/>.</summary>
    public TimeSpan? SourceLag { get; private set; }

    /// <summary>
    /// The newest LSN that may be reported: the durable checkpoint <c>acknowledgeLag</c> saves older, or
    /// <see langword="null"/> while fewer durable checkpoints are known.
    /// </summary>
    public ulong? FeedbackTarget => _durableHistory.Count == _acknowledgeLag + 1 ? _durableHistory.Peek() : null;

    /// <summary>Formats an LSN as PostgreSQL does (<c>X/Y</c>, hexadecimal).</summary>
    public static string FormatLsn(ulong lsn) => string.Create(CultureInfo.InvariantCulture, $"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}");

    /// <summary>Marks the transaction that ends at <paramref name="transactionEndLsn"/> processed.</summary>
    /// <returns>The position to checkpoint: the LSN and the count grown by the events (at least 1).</returns>
    /// <exception cref="ArgumentOutOfRangeException">Not after <see cref="Processed"/>, or (session-owned) past <see cref="Received"/>.</exception>
    public Mark MarkProcessed(ulong transactionEndLsn, ulong eventCount)
    {
        if (transactionEndLsn <= Processed.Lsn)
        {
            throw new ArgumentOutOfRangeException(
                nameof(transactionEndLsn),
                $"Transaction end {FormatLsn(transactionEndLsn)} is not after the last processed position {FormatLsn(Processed.Lsn)} on slot {_slotName}: mark each commit once, in stream order.");
        }

        if (SessionOwned && transactionEndLsn > Received)
        {
            throw new ArgumentOutOfRangeException(
                nameof(transactionEndLsn),
                $"Transaction end {FormatLsn(transactionEndLsn)} is past the last commit received on slot {_slotName} ({FormatLsn(Received)}): only received commits can be processed.");
        }

        Processed = new Mark(transactionEndLsn, checked(Processed.Count + Math.Max(eventCount, 1)));
        return Processed;
    }

    /// <summary>The position a checkpoint saves: <see cref="Processed"/> when it is not durable yet.</summary>
    public Mark? PendingSave => Processed.Lsn > Durable.Lsn ? Processed : null;

    /// <summary>Records that <paramref name="position"/> is durable.</summary>
    /// <returns>The LSN to set as the status, or <see langword="null"/> when the status does not move.</returns>
    /// <exception cref="ArgumentException"><paramref name="position"/> is past <see cref="Processed"/>.</exception>
    public ulong? MarkDurable(Mark position, long now)
    {
        if (position.Lsn <= Durable.Lsn)
        {
            return null; // a late or repeated report: never backwards
        }

        if (position.Lsn > Processed.Lsn)
        {
            throw new ArgumentException(
                $"Position {FormatLsn(position.Lsn)} count={position.Count} is past the last processed position {FormatLsn(Processed.Lsn)} count={Processed.Count} on slot {_slotName}: mark a transaction processed before reporting its checkpoint durable.",
                nameof(position));
        }

        Durable = position;
        DurableAt = now;
        _durableHistory.Enqueue(position.Lsn);
        while (_durableHistory.Count > _acknowledgeLag + 1)
        {
            _durableHistory.Dequeue();
        }

        return TakeFeedback();
    }

    /// <summary>
    /// The timestamp at which the next status update is due: one interval after the last update sent (or after the
    /// stream was confirmed), or, while an update is deferred, the deferred retry after the deferral.
    /// <see langword="null"/> when none is ever due: no schedule (the caller runs the stream), no stream, or feedback
    /// broken.
    /// </summary>
    public long? StatusDueAt
    {
        get
        {
            if (_schedule is not { } schedule || !Streaming || FeedbackUnusable)
            {
                return null;
            }

            // A deferral counts from itself: an update cannot go before the stream has received something, so a tick
            // that defers must not find the next update already due (it would spin).
            return _deferredAt is { } deferred ? deferred + schedule.DeferredRetry : _lastStatusAt + schedule.Interval;
        }
    }

    /// <summary>The session holds the slot: status updates may be sent, and the idle advance may run.</summary>
    /// <param name="now">The timestamp of the confirmation: the first periodic update is due one interval later.</param>
    /// <returns>The LSN to set as the status (the durable checkpoint, subject to the lag), or <see langword="null"/>.</returns>
    /// <remarks>
    /// A stream stops for good: a confirmation after <see cref="StopStreaming"/> changes nothing (the session's check
    /// after <c>START_REPLICATION</c> can succeed just as the caller cancels, and the stop must win).
    /// </remarks>
    public ulong? ConfirmStreaming(long now)
    {
        if (_ended)
        {
            return null;
        }

        Streaming = true;
        _lastStatusAt = now;
        _deferredAt = null;
        return TakeFeedback();
    }

    /// <summary>The stream ended, for good: no status update and no idle advance without a stream.</summary>
    public void StopStreaming()
    {
        Streaming = false;
        _ended = true;
    }

    /// <summary>
    /// Decides whether a status update that carries a new acknowledgement is sent now, given the last WAL position the
    /// connection received. A deferral makes the next update due <see cref="StatusSchedule.DeferredRetry"/> later.
    /// </summary>
    public Send DecideSend(ulong lastReceived, long now)
    {
        if (FeedbackUnusable || (SessionOwned && !Streaming))
        {
            return Send.Held;
        }

        // Npgsql's stream is only ready for an update once it has received something from the server.
        if (lastReceived == 0)
        {
            _deferredAt = now;
            return Send.Deferred;
        }

        return Send.Now;
    }

    /// <summary>
    /// Decides whether the status timer sends an update at <paramref name="now"/>: <see cref="Send.NotDue"/> before
    /// <see cref="StatusDueAt"/>, <see cref="Send.Held"/> when none is ever due, otherwise as <see cref="DecideSend"/>.
    /// The update carries the status already set (the last durable checkpoint reported), so it keeps the walsender from
    /// ending a stream whose consumer is busy, and delivers a deferred acknowledgement.
    /// </summary>
    public Send DecideScheduledSend(ulong lastReceived, long now)
    {
        if (StatusDueAt is not { } due)
        {
            return Send.Held;
        }

        return now < due ? Send.NotDue : DecideSend(lastReceived, now);
    }

    /// <summary>A status update reached Npgsql at <paramref name="now"/> (sent, or failed in the network): the next one is due an interval later.</summary>
    public void StatusSent(long now)
    {
        _lastStatusAt = now;
        _deferredAt = null;
    }

    /// <summary>Npgsql failed a status update in a way that leaves its feedback lock taken: never send on this connection again.</summary>
    public void FeedbackBroken() => FeedbackUnusable = true;

    /// <summary>A transaction begins.</summary>
    /// <returns><see langword="false"/> while an idle advance is being saved: wait for it, then try again.</returns>
    public bool TryBeginTransaction()
    {
        if (IdleAdvancing)
        {
            return false;
        }

        InTransaction = true;
        return true;
    }

    /// <summary>A commit arrived: the transaction is no longer in flight and may be processed.</summary>
    public void Commit(ulong transactionEndLsn)
    {
        InTransaction = false;
        if (transactionEndLsn > Received)
        {
            Received = transactionEndLsn;
        }
    }

    /// <summary>Records a transaction's commit timestamp and the source lag at <paramref name="now"/> (clamped at 0).</summary>
    /// <returns>The source lag.</returns>
    public TimeSpan RecordCommitTimestamp(DateTimeOffset committed, DateTimeOffset now)
    {
        var lag = now - committed;
        LastCommitTimestamp = committed;
        SourceLag = lag < TimeSpan.Zero ? TimeSpan.Zero : lag;
        return SourceLag.Value;
    }

    /// <summary>Records the server's WAL position from the validation (never backwards).</summary>
    public void SetServerWalHint(ulong walPosition) => ServerWalHint = Math.Max(ServerWalHint, walPosition);

    /// <summary>The server's WAL end: the newer of <paramref name="lastReceived"/> and <see cref="ServerWalHint"/>.</summary>
    public ulong ServerWalEnd(ulong lastReceived) => Math.Max(lastReceived, ServerWalHint);

    /// <summary>Bytes of WAL between the server's WAL end and <see cref="Durable"/> (0 when caught up).</summary>
    public long LagBytes(ulong lastReceived)
    {
        var end = ServerWalEnd(lastReceived);
        return end > Durable.Lsn ? (long)Math.Min(end - Durable.Lsn, long.MaxValue) : 0;
    }

    /// <summary>
    /// Starts an idle advance to <paramref name="walEnd"/> (the server's last reported WAL end) if it is allowed: the
    /// stream is confirmed, no transaction is in flight, everything received is processed and durable, no other advance
    /// runs, and the settle rule holds — more than the minimum of new WAL, so the WAL our own save writes (and what the
    /// server adds after a write) does not cause another save.
    /// </summary>
    /// <returns>The position to save (count + 1, reserved at once), or <see langword="null"/> when not allowed.</returns>
    public Mark? TryBeginIdleAdvance(ulong walEnd)
    {
        if (!Streaming || InTransaction || IdleAdvancing || Received > Processed.Lsn || Processed.Lsn != Durable.Lsn
            || walEnd <= Durable.Lsn || walEnd - Durable.Lsn < _idleAdvanceMinimumBytes)
        {
            return null;
        }

        var position = new Mark(walEnd, checked(Processed.Count + 1));
        Processed = position;
        _idleAdvance = position;
        return position;
    }

    /// <summary>Ends the idle advance started by <see cref="TryBeginIdleAdvance"/>.</summary>
    /// <param name="saved">Whether the save succeeded.</param>
    /// <param name="now">The timestamp of the save.</param>
    /// <returns>The LSN to set as the status, or <see langword="null"/>.</returns>
    /// <exception cref="InvalidOperationException">No idle advance is in progress.</exception>
    public ulong? EndIdleAdvance(bool saved, long now)
    {
        var position = _idleAdvance ?? throw new InvalidOperationException("No idle advance is in progress.");
        _idleAdvance = null;
        if (saved)
        {
            return MarkDurable(position, now);
        }

        // Not durable; the count stays reserved, because a save that failed after its commit may still have stored it.
        if (Processed == position)
        {
            Processed = new Mark(Durable.Lsn, position.Count);
        }

        return null;
    }

    // The status moves only forward, and only to a durable LSN (the target is taken from the durable history).
    private ulong? TakeFeedback()
    {
        if (FeedbackTarget is not { } target || target <= Acknowledged)
        {
            return null;
        }

        Acknowledged = target;
        return target;
    }

    /// <summary>When status updates are due, in the timestamp units of the owner's clock.</summary>
    /// <param name="Interval">An update is due this long after the last one (or after the stream was confirmed).</param>
    /// <param name="DeferredRetry">How soon an update deferred because nothing was received yet is tried again.</param>
    internal readonly record struct StatusSchedule(long Interval, long DeferredRetry);

    /// <summary>A position: an LSN and the committed event count stored with it.</summary>
    /// <param name="Lsn">The LSN.</param>
    /// <param name="Count">The committed event count.</param>
    internal readonly record struct Mark(ulong Lsn, ulong Count);
}
