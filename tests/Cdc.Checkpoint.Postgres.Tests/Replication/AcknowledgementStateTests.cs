using Cdc.Checkpoint.Postgres.Replication;
using FsCheck;
using FsCheck.Fluent;
using Shouldly;
using Xunit;
using Mark = Cdc.Checkpoint.Postgres.Replication.AcknowledgementState.Mark;
using Send = Cdc.Checkpoint.Postgres.Replication.AcknowledgementState.Send;

namespace Cdc.Checkpoint.Postgres.Tests.Replication;

/// <summary>
/// The acknowledgement rules as pure state, without Npgsql, a store or a clock: table-driven cases for each decision,
/// and a property over any sequence of stream events for the invariants (feedback never ahead of durable, never
/// backwards, a transaction in flight never acknowledged, counts always growing).
/// </summary>
public sealed class AcknowledgementStateTests
{
    private static readonly Mark Start = new(1000, 10);

    private static AcknowledgementState Create(int lag = 0, ulong idleMinimum = 0, bool session = true) =>
        new("slot", Start, lag, idleMinimum, session, now: 0);

    [Fact]
    public void Constructor_StartCheckpoint_IsProcessedDurableAndReceivedButNotYetAcknowledged()
    {
        var state = Create();

        state.Processed.ShouldBe(Start);
        state.Durable.ShouldBe(Start);
        state.Received.ShouldBe(Start.Lsn);
        state.Acknowledged.ShouldBe(0UL);
        state.Streaming.ShouldBeFalse();
        state.PendingSave.ShouldBeNull();
        state.FeedbackTarget.ShouldBe(Start.Lsn);
    }

    // received: the last commit received before MarkProcessed (session-owned only); expected count or the error text.
    public static TheoryData<string, bool, ulong, ulong, ulong, string> MarkProcessedCases => new()
    {
        { "events add to the count", true, 1100, 1100, 5, "15" },
        { "a transaction without events counts 1", true, 1100, 1100, 0, "11" },
        { "standalone: receipt is not checked", false, 1000, 5000, 1, "11" },
        { "the start position again", true, 1100, 1000, 1, "not after the last processed position 0/3E8" },
        { "behind the start", true, 1100, 900, 1, "not after" },
        { "session: not received yet", true, 1100, 1200, 1, "past the last commit received on slot slot (0/44C)" },
    };

    [Theory]
    [MemberData(nameof(MarkProcessedCases))]
    public void MarkProcessed_Cases(string name, bool session, ulong received, ulong lsn, ulong events, string expected)
    {
        var state = Create(session: session);
        state.Commit(received);

        if (ulong.TryParse(expected, out var count))
        {
            state.MarkProcessed(lsn, events).ShouldBe(new Mark(lsn, count), name);
            state.PendingSave.ShouldBe(new Mark(lsn, count));
        }
        else
        {
            Should.Throw<ArgumentOutOfRangeException>(() => state.MarkProcessed(lsn, events)).Message.ShouldContain(expected, Case.Insensitive, name);
            state.Processed.ShouldBe(Start);
        }
    }

    [Fact]
    public void MarkDurable_PositionAheadOfProcessed_ThrowsAndChangesNothing()
    {
        var state = Create();
        state.Commit(1200);
        state.MarkProcessed(1100, 1);

        Should.Throw<ArgumentException>(() => state.MarkDurable(new Mark(1200, 12), now: 5)).Message.ShouldContain("past the last processed position 0/44C");

        state.Durable.ShouldBe(Start);
        state.Acknowledged.ShouldBe(0UL);
        state.DurableAt.ShouldBe(0);
    }

    [Fact]
    public void MarkDurable_OlderOrRepeated_IsIgnoredAndNeverMovesBackwards()
    {
        var state = Create();
        state.Commit(1200);
        var p1 = state.MarkProcessed(1100, 1);
        var p2 = state.MarkProcessed(1200, 1);

        state.MarkDurable(p2, now: 7).ShouldBe(1200UL);
        state.MarkDurable(p1, now: 8).ShouldBeNull();
        state.MarkDurable(p2, now: 9).ShouldBeNull();

        state.Durable.ShouldBe(p2);
        state.DurableAt.ShouldBe(7);
        state.Acknowledged.ShouldBe(1200UL);
    }

    // lag, durable LSNs reported in order → the status set after each (0 = unchanged)
    public static TheoryData<int, ulong[], ulong[]> LagCases => new()
    {
        { 0, [1100, 1200, 1300], [1100, 1200, 1300] },
        { 1, [1100, 1200, 1300], [1000, 1100, 1200] },
        { 2, [1100, 1200, 1300, 1400], [0, 1000, 1100, 1200] },
        { 3, [1100, 1200], [0, 0] },
    };

    [Theory]
    [MemberData(nameof(LagCases))]
    public void MarkDurable_WithAcknowledgeLag_ReportsTheCheckpointLagSavesOlder(int lag, ulong[] durable, ulong[] expected)
    {
        var state = Create(lag: lag);
        var reported = new List<ulong>();
        foreach (var lsn in durable)
        {
            state.Commit(lsn);
            reported.Add(state.MarkDurable(state.MarkProcessed(lsn, 1), now: 0) ?? 0);
            (state.Acknowledged <= state.Durable.Lsn).ShouldBeTrue();
        }

        reported.ShouldBe(expected);
    }

    [Fact]
    public void ConfirmStreaming_AcknowledgesTheStartOnceAndStopStreamingHoldsSends()
    {
        var state = Create();

        state.DecideSend(lastReceived: 5000, now: 0).ShouldBe(Send.Held); // not confirmed yet
        state.ConfirmStreaming(now: 0).ShouldBe(Start.Lsn);
        state.ConfirmStreaming(now: 0).ShouldBeNull(); // already reported
        state.DecideSend(lastReceived: 5000, now: 0).ShouldBe(Send.Now);
        state.StopStreaming();
        state.DecideSend(lastReceived: 5000, now: 0).ShouldBe(Send.Held);
        state.ConfirmStreaming(now: 0).ShouldBeNull(); // a confirmation racing the stop: the stop wins
        state.Streaming.ShouldBeFalse();
    }

    // session-owned, streaming, feedback broken, last received → decision
    public static TheoryData<bool, bool, bool, ulong, string> SendCases => new()
    {
        { true, true, false, 5000, nameof(Send.Now) },
        { true, true, false, 0, nameof(Send.Deferred) }, // Npgsql: nothing received on the stream yet
        { true, false, false, 5000, nameof(Send.Held) }, // no stream
        { true, true, true, 5000, nameof(Send.Held) }, // Npgsql's feedback lock is lost
        { false, false, false, 5000, nameof(Send.Now) }, // beside the caller's own stream
        { false, false, false, 0, nameof(Send.Deferred) },
        { false, false, true, 5000, nameof(Send.Held) },
    };

    [Theory]
    [MemberData(nameof(SendCases))]
    public void DecideSend_Cases(bool session, bool streaming, bool broken, ulong lastReceived, string expected)
    {
        var state = Create(session: session);
        if (streaming)
        {
            state.ConfirmStreaming(now: 0);
        }

        if (broken)
        {
            state.FeedbackBroken();
        }

        state.DecideSend(lastReceived, now: 0).ShouldBe(Enum.Parse<Send>(expected));
    }

    // Status due times on a schedule of interval 1000 and deferred retry 100 (timestamp units). Events: confirm@t,
    // sent@t (an update reached Npgsql), defer@t (an acknowledgement found nothing received yet), tick0@t (the status
    // timer at t with nothing received), stop, broken. Then: the due time, and what a tick at tickAt decides.
    public static TheoryData<string, string, long?, long, ulong, string> DueCases => new()
    {
        { "not confirmed: none due", "", null, 5000, 1, nameof(Send.Held) },
        { "confirmed: due one interval later", "confirm@0", 1000, 999, 1, nameof(Send.NotDue) },
        { "at the due time: send", "confirm@0", 1000, 1000, 1, nameof(Send.Now) },
        { "late tick: send", "confirm@0", 1000, 4000, 1, nameof(Send.Now) },
        { "an update sent restarts the interval", "confirm@0; sent@700", 1700, 1000, 1, nameof(Send.NotDue) },
        { "deferred: tried again after the retry", "confirm@0; defer@50", 150, 150, 1, nameof(Send.Now) },
        { "deferred, still nothing received", "confirm@0; defer@50", 150, 150, 0, nameof(Send.Deferred) },
        { "deferred, before the retry", "confirm@0; defer@50", 150, 149, 1, nameof(Send.NotDue) },
        { "a deferring tick moves the retry", "confirm@0; tick0@1000", 1100, 1100, 1, nameof(Send.Now) },
        { "deferred late in the interval: the retry counts", "confirm@0; defer@950", 1050, 1000, 1, nameof(Send.NotDue) },
        { "deferred, then sent: the interval again", "confirm@0; defer@50; sent@200", 1200, 1199, 1, nameof(Send.NotDue) },
        { "stream stopped: none due", "confirm@0; stop", null, 5000, 1, nameof(Send.Held) },
        { "feedback broken: none due", "confirm@0; broken", null, 5000, 1, nameof(Send.Held) },
        { "confirmed after the stop: the stop wins", "confirm@0; stop; confirm@3000", null, 4000, 1, nameof(Send.Held) },
    };

    [Theory]
    [MemberData(nameof(DueCases))]
    public void StatusDueAt_Cases(string name, string events, long? due, long tickAt, ulong received, string decision)
    {
        var state = new AcknowledgementState("slot", Start, 0, 0, sessionOwned: true, now: 0, new AcknowledgementState.StatusSchedule(Interval: 1000, DeferredRetry: 100));
        foreach (var e in events.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var at = e.Contains('@', StringComparison.Ordinal) ? long.Parse(e[(e.IndexOf('@', StringComparison.Ordinal) + 1)..], System.Globalization.CultureInfo.InvariantCulture) : 0;
            switch (e.Split('@')[0])
            {
                case "confirm": state.ConfirmStreaming(at); break;
                case "sent": state.StatusSent(at); break;
                case "defer": state.DecideSend(lastReceived: 0, at).ShouldBe(Send.Deferred, name); break;
                case "tick0": state.DecideScheduledSend(lastReceived: 0, at).ShouldBe(Send.Deferred, name); break;
                case "stop": state.StopStreaming(); break;
                case "broken": state.FeedbackBroken(); break;
                default: throw new ArgumentException($"Unknown event '{e}'.", nameof(events));
            }
        }

        state.StatusDueAt.ShouldBe(due, name);
        state.DecideScheduledSend(received, tickAt).ShouldBe(Enum.Parse<Send>(decision), name);
    }

    [Fact]
    public void StatusDueAt_AnySequenceOfTicks_NextUpdateAlwaysInTheFutureAndAtMostAnIntervalAway()
    {
        // 0: the clock moves, 1: a tick with nothing received, 2: a tick with data received (a Now is sent at once),
        // 3: an acknowledgement sent, 4: an acknowledgement deferred, 5: the stream stops (or a confirmation races the stop)
        var operations = Gen.ListOf(Gen.Choose(0, 5)).Select(l => l.ToArray());
        Prop.ForAll(Arb.From(operations), ops =>
        {
            var state = new AcknowledgementState("slot", Start, 0, 0, sessionOwned: true, now: 0, new AcknowledgementState.StatusSchedule(Interval: 1000, DeferredRetry: 100));
            long now = 0;
            state.ConfirmStreaming(now);
            foreach (var op in ops)
            {
                switch (op)
                {
                    case 0:
                        now += 37 * (1 + (ops.Length % 5));
                        break;
                    case 1 or 2:
                        if (state.DecideScheduledSend(lastReceived: op == 1 ? 0UL : 1UL, now) == Send.Now)
                        {
                            state.StatusSent(now);
                        }

                        break;
                    case 3 when state.DecideSend(lastReceived: 1, now) == Send.Now:
                        state.StatusSent(now);
                        break;
                    case 4:
                        state.DecideSend(lastReceived: 0, now);
                        break;
                    case 5:
                        if (state.Streaming)
                        {
                            state.StopStreaming();
                        }
                        else
                        {
                            state.ConfirmStreaming(now);
                        }

                        break;
                }

                // After any decision the next update is ahead of the clock (a timer re-armed now never spins), and never
                // more than an interval away; without a stream none is due.
                var due = state.StatusDueAt;
                var tickDecided = op is 1 or 2 or 3 or 4 || (op == 5 && state.Streaming);
                if (!state.Streaming ? due is not null : due is not { } d || d > now + 1000 || (tickDecided && d <= now))
                {
                    return false;
                }
            }

            return true;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void StatusDueAt_WithoutSchedule_NeverDueAndAcknowledgementsStillSent()
    {
        // A session without a schedule does not exist; a standalone acknowledger leaves the periodic updates to Npgsql.
        var state = Create(session: false);

        state.StatusDueAt.ShouldBeNull();
        state.DecideScheduledSend(lastReceived: 5000, now: 1_000_000).ShouldBe(Send.Held);
        state.DecideSend(lastReceived: 5000, now: 0).ShouldBe(Send.Now);
    }

    // What blocks an idle advance to WAL end 5000 (minimum 4000 bytes past the durable 1000), one condition per row.
    public static TheoryData<string, bool> IdleAdvanceCases => new()
    {
        { "allowed", true },
        { "not streaming", false },
        { "transaction in flight", false },
        { "received, not processed", false },
        { "processed, not durable", false },
        { "another advance saving", false },
        { "settle: only our own write's WAL", false },
        { "wal end not past durable", false },
    };

    [Theory]
    [MemberData(nameof(IdleAdvanceCases))]
    public void TryBeginIdleAdvance_Cases(string condition, bool allowed)
    {
        var state = Create(idleMinimum: 4000);
        ulong walEnd = 5000;
        if (condition != "not streaming")
        {
            state.ConfirmStreaming(now: 0);
        }

        switch (condition)
        {
            case "transaction in flight":
                state.TryBeginTransaction().ShouldBeTrue();
                break;
            case "received, not processed":
                state.TryBeginTransaction();
                state.Commit(1100);
                break;
            case "processed, not durable":
                state.TryBeginTransaction();
                state.Commit(1100);
                state.MarkProcessed(1100, 1);
                break;
            case "another advance saving":
                state.TryBeginIdleAdvance(walEnd).ShouldNotBeNull();
                walEnd = 9000;
                break;
            case "settle: only our own write's WAL":
                walEnd = Start.Lsn + 3999;
                break;
            case "wal end not past durable":
                walEnd = Start.Lsn;
                break;
        }

        var position = state.TryBeginIdleAdvance(walEnd);

        if (allowed)
        {
            position.ShouldBe(new Mark(walEnd, Start.Count + 1));
            state.IdleAdvancing.ShouldBeTrue();
        }
        else
        {
            position.ShouldBeNull(condition);
        }
    }

    [Fact]
    public void TryBeginIdleAdvance_ExactlyTheMinimum_IsAllowed()
    {
        var state = Create(idleMinimum: 4096);
        state.ConfirmStreaming(now: 0);

        state.TryBeginIdleAdvance(Start.Lsn + 4096).ShouldBe(new Mark(Start.Lsn + 4096, 11));
    }

    [Fact]
    public void EndIdleAdvance_Saved_IsDurableAndReported()
    {
        var state = Create();
        state.ConfirmStreaming(now: 0);
        state.TryBeginIdleAdvance(5000);

        state.TryBeginTransaction().ShouldBeFalse(); // a transaction waits for the advance
        state.EndIdleAdvance(saved: true, now: 3).ShouldBe(5000UL);

        state.Durable.ShouldBe(new Mark(5000, 11));
        state.DurableAt.ShouldBe(3);
        state.Acknowledged.ShouldBe(5000UL);
        state.TryBeginTransaction().ShouldBeTrue();
        state.Commit(5500);
        state.MarkProcessed(5500, 2).Count.ShouldBe(13UL);
    }

    [Fact]
    public void EndIdleAdvance_SaveFailed_NotDurableAndTheReservedCountIsNeverReused()
    {
        var state = Create();
        state.ConfirmStreaming(now: 0);
        state.TryBeginIdleAdvance(5000);

        state.EndIdleAdvance(saved: false, now: 3).ShouldBeNull();

        state.Durable.ShouldBe(Start);
        state.Processed.ShouldBe(new Mark(Start.Lsn, 11));
        state.PendingSave.ShouldBeNull();
        state.Acknowledged.ShouldBe(Start.Lsn);
        state.Commit(3500);
        state.MarkProcessed(3500, 1).Count.ShouldBe(12UL);
        Should.Throw<InvalidOperationException>(() => state.EndIdleAdvance(saved: true, now: 4));
    }

    [Fact]
    public void LagBytesAndServerWalEnd_UseTheNewerOfTheHintAndTheLastReceived()
    {
        var state = Create();
        state.SetServerWalHint(3000);
        state.SetServerWalHint(2000); // never backwards

        state.ServerWalEnd(lastReceived: 0).ShouldBe(3000UL);
        state.LagBytes(lastReceived: 0).ShouldBe(2000);
        state.ServerWalEnd(lastReceived: 4000).ShouldBe(4000UL);
        state.LagBytes(lastReceived: 500).ShouldBe(2000);
        state.Commit(3000);
        state.MarkDurable(state.MarkProcessed(3000, 1), now: 0);
        state.LagBytes(lastReceived: 0).ShouldBe(0);
    }

    [Fact]
    public void RecordCommitTimestamp_ClockBehindTheServer_LagIsZero()
    {
        var state = Create();
        var committed = new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

        state.RecordCommitTimestamp(committed, committed.AddSeconds(2)).ShouldBe(TimeSpan.FromSeconds(2));
        state.RecordCommitTimestamp(committed, committed.AddSeconds(-1)).ShouldBe(TimeSpan.Zero);
        state.LastCommitTimestamp.ShouldBe(committed);
        state.SourceLag.ShouldBe(TimeSpan.Zero);
    }

    [Fact]
    public void FormatLsn_AsPostgresPrintsIt() =>
        AcknowledgementState.FormatLsn(0x16_B374D848UL).ShouldBe("16/B374D848");

    [Fact]
    public void AnySequenceOfStreamEvents_KeepsEveryInvariant()
    {
        // 0: a transaction begins, 1: it commits (or nothing in flight: a keepalive), 2: the consumer processes the last
        // commit, 3: it saves (durable), 4: a keepalive or data message moves the server's WAL end, 5: idle advance
        // begins, 6: the advance's save ends (odd step: saved; even: failed), 7: the stream stops (or a confirmation races the stop)
        var operations = Gen.ListOf(Gen.Choose(0, 7)).Select(l => l.ToArray());
        Prop.ForAll(Arb.From(operations), Arb.From(Gen.Choose(0, 3)), Arb.From(Gen.Choose(0, 2)), (ops, lag, minimum) =>
        {
            var state = Create(lag: lag, idleMinimum: (ulong)minimum * 100);
            state.ConfirmStreaming(now: 0);
            ulong wal = Start.Lsn;
            ulong walEnd = 0;
            ulong? inFlight = null; // the end LSN of the transaction in flight
            ulong lastCommit = Start.Lsn;
            var acknowledged = state.Acknowledged;
            var durable = state.Durable;
            var processed = state.Processed;
            var step = 0;
            foreach (var op in ops)
            {
                step++;
                switch (op)
                {
                    case 0 when inFlight is null:
                        if (state.TryBeginTransaction())
                        {
                            wal += 100;
                            inFlight = wal; // commits after every keepalive sent before it (the server decodes in order)
                        }
                        else if (!state.IdleAdvancing)
                        {
                            return false; // only an idle advance may hold a transaction back
                        }

                        break;
                    case 1 when inFlight is { } end:
                        state.Commit(end);
                        lastCommit = end;
                        inFlight = null;
                        break;
                    case 2 when lastCommit > state.Processed.Lsn:
                        state.MarkProcessed(lastCommit, (ulong)step % 3);
                        break;
                    case 3 when state.PendingSave is { } pending && !state.IdleAdvancing:
                        state.MarkDurable(pending, now: step);
                        break;
                    case 4:
                        wal += 50;
                        walEnd = wal; // also during a transaction: data messages carry the server's WAL end
                        break;
                    case 5:
                        state.TryBeginIdleAdvance(walEnd);
                        break;
                    case 6 when state.IdleAdvancing:
                        state.EndIdleAdvance(saved: step % 2 == 1, now: step);
                        break;
                    case 7:
                        if (state.Streaming)
                        {
                            state.StopStreaming();
                        }
                        else
                        {
                            state.ConfirmStreaming(now: 0);
                        }

                        break;
                }

                var ok = state.Acknowledged <= state.Durable.Lsn
                    && state.Durable.Lsn <= state.Processed.Lsn
                    && state.Acknowledged >= acknowledged
                    && state.Durable.Lsn >= durable.Lsn && state.Durable.Count >= durable.Count
                    && (state.Durable == durable || (state.Durable.Lsn > durable.Lsn && state.Durable.Count > durable.Count))
                    && (state.Processed == processed || state.Processed.Count > processed.Count
                        || (state.Processed.Lsn == state.Durable.Lsn && state.Processed.Count == processed.Count)) // a failed idle advance keeps its count
                    && (inFlight is not { } open || (state.Acknowledged < open && state.Processed.Lsn < open))
                    && state.InTransaction == (inFlight is not null);
                if (!ok)
                {
                    return false;
                }

                acknowledged = state.Acknowledged;
                durable = state.Durable;
                processed = state.Processed;
            }

            return true;
        }).QuickCheckThrowOnFailure();
    }
}
