using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres.Replication;
using Cdc.Checkpoint.Postgres.Tests.Support;
using FsCheck;
using FsCheck.Fluent;
using NpgsqlTypes;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Replication;

/// <summary>
/// The acknowledger's I/O without a server: only durable LSNs reach the connection, never backwards, lag, idle advance,
/// the Npgsql workarounds. The stream events are applied to its state the way the session applies them.
/// </summary>
public sealed class AcknowledgerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly PostgresOffset Start = new(new NpgsqlLogSequenceNumber(1000), "ack_slot", 99, 1, "app");

    private static NpgsqlLogSequenceNumber Lsn(ulong value) => new(value);

    // session: the acknowledgement of a PostgresReplicationSession (its status timer's interval), else a standalone one.
    private static ReplicationAcknowledger Create(
        FakeFeedback feedback, RecordingStore store, int lag = 0, TimeProvider? time = null, ulong count = 10, long idleMinimum = 0, bool session = false, TimeSpan? statusInterval = null) =>
        new(new AcknowledgementDriver(
            feedback,
            store,
            Start,
            count,
            new ReplicationAcknowledgerOptions { AcknowledgeLag = lag, IdleAdvanceMinimumBytes = idleMinimum },
            null,
            time ?? new FakeTimeProvider(),
            session ? statusInterval ?? TimeSpan.FromSeconds(10) : null));

    // The stream events, as PostgresReplicationSession reports them.
    internal static ValueTask ConfirmAsync(ReplicationAcknowledger ack) => ack.Driver.ConfirmStreamingAsync(CancellationToken.None);

    internal static ValueTask BeginAsync(ReplicationAcknowledger ack, CancellationToken cancellationToken) => ack.Driver.BeginTransactionAsync(cancellationToken);

    internal static void Commit(ReplicationAcknowledger ack, NpgsqlLogSequenceNumber lsn) => ack.Driver.Commit(lsn, DateTime.UtcNow);

    [Fact]
    public async Task MarkProcessed_CountGrowsByEventsAndAtLeastOne_AndNeverGoesBackwards()
    {
        await using var ack = Create(new FakeFeedback(), new RecordingStore());

        var first = ack.MarkProcessed(Lsn(1100), 5);
        var empty = ack.MarkProcessed(Lsn(1200), 0);

        first.CommittedEventCount.ShouldBe(15UL);
        first.Offset.ShouldBe(Start.WithLsn(Lsn(1100)));
        empty.CommittedEventCount.ShouldBe(16UL);
        Should.Throw<ArgumentOutOfRangeException>(() => ack.MarkProcessed(Lsn(1200), 1)).Message.ShouldContain("0/4B0");
        Should.Throw<ArgumentOutOfRangeException>(() => ack.MarkProcessed(Lsn(1150), 1));
        ack.Processed.ShouldBe(empty);
    }

    [Fact]
    public async Task MarkDurableAsync_PositionNotProcessed_ThrowsAndAcknowledgesNothing()
    {
        var feedback = new FakeFeedback();
        await using var ack = Create(feedback, new RecordingStore());
        ack.MarkProcessed(Lsn(1100), 1);

        var ex = await Should.ThrowAsync<ArgumentException>(async () => await ack.MarkDurableAsync(new CheckpointPosition(Start.WithLsn(Lsn(1200)), 12), Ct));

        ex.Message.ShouldContain("past the last processed");
        feedback.Statuses.ShouldBeEmpty();
        ack.Durable.Lsn.ShouldBe(Start.Lsn);
    }

    [Fact]
    public async Task MarkDurableAsync_DurablePositions_AcknowledgedInOrderAndNeverBackwards()
    {
        var feedback = new FakeFeedback();
        await using var ack = Create(feedback, new RecordingStore());
        var p1 = ack.MarkProcessed(Lsn(1100), 1);
        var p2 = ack.MarkProcessed(Lsn(1200), 1);

        await ack.MarkDurableAsync(p2, Ct);
        await ack.MarkDurableAsync(p1, Ct); // late report of an older position: ignored
        await ack.MarkDurableAsync(p2, Ct); // repeat: ignored

        feedback.Statuses.ShouldBe([Lsn(1200)]);
        feedback.Sends.ShouldBe(1);
        ack.Acknowledged.ShouldBe(Lsn(1200));
        ack.Durable.ShouldBe(p2);
    }

    [Fact]
    public async Task MarkDurableAsync_StreamHasReceivedNothingYet_SetsTheStatusButSendsOnlyOnceDataArrived()
    {
        // Npgsql 10 is not ready for a status update between START_REPLICATION and the first message from the server.
        var feedback = new FakeFeedback { LastReceivedLsn = default };
        await using var ack = Create(feedback, new RecordingStore());
        await ConfirmAsync(ack);
        var p1 = ack.MarkProcessed(Lsn(1100), 1);

        await ack.MarkDurableAsync(p1, Ct);

        feedback.Statuses.ShouldBe([Start.Lsn, Lsn(1100)]);
        feedback.SendAttempts.ShouldBe(0);
        ack.Acknowledged.ShouldBe(Lsn(1100));

        feedback.LastReceivedLsn = Lsn(1300);
        var p2 = ack.MarkProcessed(Lsn(1200), 1);
        await ack.MarkDurableAsync(p2, Ct);

        feedback.Statuses.ShouldBe([Start.Lsn, Lsn(1100), Lsn(1200)]);
        feedback.Sends.ShouldBe(1);
    }

    [Fact]
    public async Task MarkDurableAsync_SendFailsWithNpgsqlsNullReference_NoFurtherSendIsAttemptedButStatusesStillSet()
    {
        // Npgsql 10 throws NullReferenceException when its stream ends during an update, and keeps its feedback lock.
        var feedback = new FakeFeedback { SendFailure = new NullReferenceException() };
        await using var ack = Create(feedback, new RecordingStore());
        var p1 = ack.MarkProcessed(Lsn(1100), 1);
        var p2 = ack.MarkProcessed(Lsn(1200), 1);

        await ack.MarkDurableAsync(p1, Ct);
        feedback.SendFailure = null;
        await ack.MarkDurableAsync(p2, Ct);

        feedback.SendAttempts.ShouldBe(1);
        feedback.Sends.ShouldBe(0);
        feedback.Statuses.ShouldBe([Lsn(1100), Lsn(1200)]);
        ack.Acknowledged.ShouldBe(Lsn(1200));
    }

    [Fact]
    public async Task MarkDurableAsync_SessionStreamNotConfirmedOrStopped_SetsTheStatusButSendsNothing()
    {
        var feedback = new FakeFeedback();
        await using var ack = Create(feedback, new RecordingStore(), session: true);
        Commit(ack, Lsn(1100));
        Commit(ack, Lsn(1200));

        await ack.MarkDurableAsync(ack.MarkProcessed(Lsn(1100), 1), Ct);
        await ConfirmAsync(ack); // 1100 is already set: nothing new to send
        ack.Driver.StopStreaming();
        await ack.MarkDurableAsync(ack.MarkProcessed(Lsn(1200), 1), Ct);

        feedback.Statuses.ShouldBe([Lsn(1100), Lsn(1200)]);
        feedback.SendAttempts.ShouldBe(0);
        ack.GetStatus().Streaming.ShouldBeFalse();
    }

    [Fact]
    public async Task MarkDurableAsync_WithLagTwo_AcknowledgesTheCheckpointTwoSavesOlder()
    {
        var feedback = new FakeFeedback();
        await using var ack = Create(feedback, new RecordingStore(), lag: 2);
        await ConfirmAsync(ack);
        feedback.Statuses.ShouldBeEmpty(); // only the start checkpoint is known: nothing two saves older yet

        foreach (var lsn in new ulong[] { 1100, 1200, 1300, 1400 })
        {
            await ack.MarkDurableAsync(ack.MarkProcessed(Lsn(lsn), 1), Ct);
        }

        feedback.Statuses.ShouldBe([Lsn(1000), Lsn(1100), Lsn(1200)]);
    }

    [Fact]
    public async Task ConfirmStreaming_NoLag_AcknowledgesTheStartCheckpoint()
    {
        var feedback = new FakeFeedback();
        await using var ack = Create(feedback, new RecordingStore());

        await ConfirmAsync(ack);

        feedback.Statuses.ShouldBe([Start.Lsn]);
    }

    [Fact]
    public async Task CheckpointAsync_SavesTheLatestProcessedPositionThenAcknowledgesIt()
    {
        var feedback = new FakeFeedback();
        var store = new RecordingStore();
        await using var ack = Create(feedback, store);
        ack.MarkProcessed(Lsn(1100), 2);
        var latest = ack.MarkProcessed(Lsn(1200), 3);

        (await ack.CheckpointAsync(Ct)).ShouldBeTrue();
        (await ack.CheckpointAsync(Ct)).ShouldBeFalse();

        store.Saved.ShouldBe([(latest.Offset, 15UL)]);
        feedback.Statuses.ShouldBe([Lsn(1200)]);
        ack.Durable.ShouldBe(latest);
    }

    [Fact]
    public async Task CheckpointAsync_StoreFails_NothingAcknowledgedAndDurableUnchanged()
    {
        var feedback = new FakeFeedback();
        var store = new RecordingStore { FailWith = new CheckpointException(CheckpointErrorCode.WriteFailed, "disk full") };
        await using var ack = Create(feedback, store);
        ack.MarkProcessed(Lsn(1100), 2);

        (await Should.ThrowAsync<CheckpointException>(async () => await ack.CheckpointAsync(Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.WriteFailed);

        feedback.Statuses.ShouldBeEmpty();
        ack.Durable.Lsn.ShouldBe(Start.Lsn);
    }

    [Fact]
    public async Task AcknowledgeAsync_ConnectionNotStreaming_StatusStillSetForTheNextUpdate()
    {
        var feedback = new FakeFeedback { Streaming = false };
        await using var ack = Create(feedback, new RecordingStore());

        await ack.MarkDurableAsync(ack.MarkProcessed(Lsn(1100), 1), Ct);

        feedback.Statuses.ShouldBe([Lsn(1100)]);
        feedback.Sends.ShouldBe(0);
    }

    [Fact]
    public async Task TryIdleAdvanceAsync_NothingInFlight_SavesTheKeepaliveWalEndThenAcknowledgesIt()
    {
        var feedback = new FakeFeedback();
        var store = new RecordingStore();
        await using var ack = Create(feedback, store);
        feedback.LastReceivedLsn = Lsn(5000);

        (await ack.TryIdleAdvanceAsync(Ct)).ShouldBeFalse(); // the stream is not confirmed yet
        await ConfirmAsync(ack);
        (await ack.TryIdleAdvanceAsync(Ct)).ShouldBeTrue();

        store.Saved.ShouldBe([(Start.WithLsn(Lsn(5000)), 11UL)]);
        feedback.Statuses.ShouldBe([Lsn(1000), Lsn(5000)]);
        ack.Durable.ShouldBe(new CheckpointPosition(Start.WithLsn(Lsn(5000)), 11));
        (await ack.TryIdleAdvanceAsync(Ct)).ShouldBeFalse(); // nothing new from the server
    }

    [Fact]
    public async Task TryIdleAdvanceAsync_LessNewWalThanTheMinimum_RestsUntilMoreArrives()
    {
        var feedback = new FakeFeedback();
        var store = new RecordingStore();
        await using var ack = Create(feedback, store, idleMinimum: 4096);
        await ConfirmAsync(ack);

        feedback.LastReceivedLsn = Lsn(1000 + 4095); // e.g. the WAL of our own last save
        (await ack.TryIdleAdvanceAsync(Ct)).ShouldBeFalse();
        store.Saved.ShouldBeEmpty();

        feedback.LastReceivedLsn = Lsn(1000 + 4096);
        (await ack.TryIdleAdvanceAsync(Ct)).ShouldBeTrue();
        store.Saved.ShouldBe([(Start.WithLsn(Lsn(5096)), 11UL)]);
    }

    [Fact]
    public void IdleAdvanceMinimumBytes_DefaultAndNegative_ChosenByTheStoreAndThrows()
    {
        new ReplicationAcknowledgerOptions().IdleAdvanceMinimumBytes.ShouldBeNull();
        ReplicationAcknowledgerOptions.DefaultIdleAdvanceMinimumBytes.ShouldBe(64 * 1024);
        Should.Throw<ArgumentOutOfRangeException>(() => new ReplicationAcknowledgerOptions { IdleAdvanceMinimumBytes = -1 });
    }

    [Fact]
    public async Task TryIdleAdvanceAsync_TransactionInFlightOrNotDurable_DoesNothing()
    {
        var feedback = new FakeFeedback();
        var store = new RecordingStore();
        await using var ack = Create(feedback, store);
        await ConfirmAsync(ack);

        await BeginAsync(ack, Ct);
        feedback.LastReceivedLsn = Lsn(1500);
        (await ack.TryIdleAdvanceAsync(Ct)).ShouldBeFalse(); // in a transaction

        Commit(ack, Lsn(1600));
        feedback.LastReceivedLsn = Lsn(1700);
        (await ack.TryIdleAdvanceAsync(Ct)).ShouldBeFalse(); // received, not processed

        ack.MarkProcessed(Lsn(1600), 1);
        (await ack.TryIdleAdvanceAsync(Ct)).ShouldBeFalse(); // processed, not durable

        await ack.CheckpointAsync(Ct);
        (await ack.TryIdleAdvanceAsync(Ct)).ShouldBeTrue();

        store.Saved.Select(s => s.Offset.Lsn).ShouldBe([Lsn(1600), Lsn(1700)]);
    }

    [Fact]
    public async Task BeginTransaction_WhileIdleAdvanceIsSaving_WaitsUntilTheSaveHasFinished()
    {
        var feedback = new FakeFeedback { LastReceivedLsn = Lsn(3000) };
        var store = new RecordingStore { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        await using var ack = Create(feedback, store);
        await ConfirmAsync(ack);

        var idle = ack.TryIdleAdvanceAsync(Ct).AsTask();
        await store.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        var begin = BeginAsync(ack, Ct).AsTask();
        await Task.Yield();
        begin.IsCompleted.ShouldBeFalse();

        store.Gate.SetResult();
        (await idle).ShouldBeTrue();
        await begin.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        Commit(ack, Lsn(3500));
        ack.MarkProcessed(Lsn(3500), 2).CommittedEventCount.ShouldBe(13UL); // after the idle advance's 11
    }

    [Fact]
    public async Task TryIdleAdvanceAsync_SaveFails_NotDurableAndTheReservedCountIsNeverReused()
    {
        var feedback = new FakeFeedback { LastReceivedLsn = Lsn(3000) };
        var store = new RecordingStore { FailWith = new CheckpointException(CheckpointErrorCode.WriteFailed, "server gone") };
        await using var ack = Create(feedback, store);
        await ConfirmAsync(ack);

        (await ack.TryIdleAdvanceAsync(Ct)).ShouldBeFalse();

        ack.Durable.Lsn.ShouldBe(Start.Lsn);
        feedback.Statuses.ShouldBe([Start.Lsn]);
        Commit(ack, Lsn(3500));
        ack.MarkProcessed(Lsn(3500), 1).CommittedEventCount.ShouldBe(12UL);
    }

    [Fact]
    public async Task IdleAdvanceTimer_IntervalElapses_PerformsAnIdleAdvance()
    {
        var time = new FakeTimeProvider();
        var feedback = new FakeFeedback { LastReceivedLsn = Lsn(4000) };
        var store = new RecordingStore();
        await using var ack = Create(feedback, store, time: time);
        await ConfirmAsync(ack);
        var timer = new SessionTimer(ack.Driver.IdleAdvanceTickAsync, () => TimeSpan.FromSeconds(10), time);

        time.Advance(TimeSpan.FromSeconds(9));
        store.Saved.ShouldBeEmpty();
        time.Advance(TimeSpan.FromSeconds(1));
        await store.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        await WaitForAsync(() => ack.Acknowledged == Lsn(4000));
        await timer.DisposeAsync();
        feedback.LastReceivedLsn = Lsn(9000);
        time.Advance(TimeSpan.FromSeconds(30));

        store.Saved.ShouldBe([(Start.WithLsn(Lsn(4000)), 11UL)]); // nothing after the stop
    }

    [Fact]
    public async Task SessionTimer_RunStillInFlight_NoSecondRunAndDisposeCancelsAndWaitsForIt()
    {
        var time = new FakeTimeProvider();
        var runs = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = false;
        var timer = new SessionTimer(
            async cancellationToken =>
            {
                Interlocked.Increment(ref runs);
                try
                {
                    await release.Task.WaitAsync(cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    cancelled = true;
                    throw;
                }
            },
            () => TimeSpan.FromSeconds(1),
            time);

        time.Advance(TimeSpan.FromSeconds(1));
        for (var i = 0; i < 5; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1)); // the first run is still waiting: no second one
        }

        Volatile.Read(ref runs).ShouldBe(1);
        await timer.DisposeAsync();
        cancelled.ShouldBeTrue();
        time.Advance(TimeSpan.FromSeconds(10));
        Volatile.Read(ref runs).ShouldBe(1);
    }

    // The session's status timer, wired as PostgresReplicationSession wires it.
    private static SessionTimer StatusTimer(ReplicationAcknowledger ack, TimeProvider time) =>
        new(_ => ack.Driver.SendDueStatusAsync(), ack.Driver.TimeUntilStatusDue, time);

    [Fact]
    public async Task StatusTimer_ConsumerBusy_SendsAnUpdateEachIntervalCarryingOnlyTheDurableCheckpoint()
    {
        var time = new FakeTimeProvider();
        var feedback = new FakeFeedback();
        await using var ack = Create(feedback, new RecordingStore(), time: time, session: true, statusInterval: TimeSpan.FromSeconds(1));
        Commit(ack, Lsn(1100));
        await ConfirmAsync(ack);
        ack.MarkProcessed(Lsn(1100), 1); // processed, never saved: the updates must not carry it
        await using var timer = StatusTimer(ack, time);
        feedback.Sends.ShouldBe(1); // the start checkpoint, at confirmation

        time.Advance(TimeSpan.FromMilliseconds(999));
        feedback.Sends.ShouldBe(1);
        time.Advance(TimeSpan.FromMilliseconds(1));
        await WaitForAsync(() => feedback.Sends == 2);
        time.Advance(TimeSpan.FromSeconds(1));
        await WaitForAsync(() => feedback.Sends == 3);

        feedback.Statuses.ShouldBe([Start.Lsn]); // each update repeats the status set, the durable start
        ack.Acknowledged.ShouldBe(Start.Lsn);
    }

    [Fact]
    public async Task StatusTimer_AcknowledgementSentMeanwhile_NextUpdateAnIntervalAfterIt()
    {
        var time = new FakeTimeProvider();
        var feedback = new FakeFeedback();
        await using var ack = Create(feedback, new RecordingStore(), time: time, session: true, statusInterval: TimeSpan.FromSeconds(1));
        Commit(ack, Lsn(1100));
        await ConfirmAsync(ack);
        await using var timer = StatusTimer(ack, time);

        time.Advance(TimeSpan.FromMilliseconds(600));
        ack.MarkProcessed(Lsn(1100), 1);
        (await ack.CheckpointAsync(Ct)).ShouldBeTrue(); // acknowledged at 600 ms
        feedback.Sends.ShouldBe(2);
        time.Advance(TimeSpan.FromMilliseconds(400)); // 1000 ms: the old due time, not due any more
        await Task.Yield();
        feedback.Sends.ShouldBe(2);
        time.Advance(TimeSpan.FromMilliseconds(600)); // 1600 ms
        await WaitForAsync(() => feedback.Sends == 3);

        feedback.Statuses.ShouldBe([Start.Lsn, Lsn(1100)]);
    }

    [Fact]
    public async Task StatusTimer_NothingReceivedAtConfirmation_DeferredUpdateSentSoonAfterDataArrives()
    {
        // Npgsql 10 is not ready for an update before the stream has received something: the update waits, and the
        // status timer retries after StatusIntervals.DeferredRetry rather than a whole interval.
        var time = new FakeTimeProvider();
        var feedback = new FakeFeedback { LastReceivedLsn = default };
        await using var ack = Create(feedback, new RecordingStore(), time: time, session: true, statusInterval: TimeSpan.FromSeconds(10));
        await ConfirmAsync(ack);
        await using var timer = StatusTimer(ack, time);
        feedback.Statuses.ShouldBe([Start.Lsn]);

        time.Advance(StatusIntervals.DeferredRetry);
        await Task.Yield();
        feedback.SendAttempts.ShouldBe(0); // still nothing received: deferred again
        feedback.LastReceivedLsn = Lsn(1500);
        time.Advance(StatusIntervals.DeferredRetry);
        await WaitForAsync(() => feedback.Sends == 1);

        time.Advance(TimeSpan.FromSeconds(9));
        feedback.Sends.ShouldBe(1); // then the interval again
    }

    [Fact]
    public async Task StatusTimer_StreamStopped_SendsNothingMore()
    {
        var time = new FakeTimeProvider();
        var feedback = new FakeFeedback();
        await using var ack = Create(feedback, new RecordingStore(), time: time, session: true, statusInterval: TimeSpan.FromSeconds(1));
        await ConfirmAsync(ack);
        var timer = StatusTimer(ack, time);

        ack.Driver.StopStreaming();
        time.Advance(TimeSpan.FromSeconds(1));
        await timer.DisposeAsync();
        await ack.Driver.WaitForSendsAsync();
        time.Advance(TimeSpan.FromSeconds(10));

        feedback.SendAttempts.ShouldBe(1); // the confirmation's only
        ack.Driver.TimeUntilStatusDue().ShouldBe(Timeout.InfiniteTimeSpan);
    }

    [Fact]
    public async Task Acknowledger_AnySequenceOfOperations_ReportsOnlySavedPositionsInIncreasingOrder()
    {
        // 0: receive+process a transaction, 1: checkpoint, 2: keepalive moves the WAL end, 3: idle advance,
        // 4: report a processed position as durable (as a transactional sink would after its commit)
        var operations = Gen.ListOf(Gen.Choose(0, 4)).Select(l => l.ToArray());
        Prop.ForAll(Arb.From(operations), ops =>
        {
            var feedback = new FakeFeedback();
            var store = new RecordingStore();
            var lag = ops.Length % 3;
            var ack = Create(feedback, store, lag: lag);
            ConfirmAsync(ack).AsTask().GetAwaiter().GetResult();
            ulong wal = 1000;
            var savedBeforeStatus = new HashSet<NpgsqlLogSequenceNumber> { Start.Lsn };
            foreach (var op in ops)
            {
                switch (op)
                {
                    case 0:
                        wal += 100;
                        BeginAsync(ack, CancellationToken.None).AsTask().GetAwaiter().GetResult();
                        Commit(ack, Lsn(wal));
                        ack.MarkProcessed(Lsn(wal), 2);
                        break;
                    case 1:
                        ack.CheckpointAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();
                        break;
                    case 2:
                        wal += 50;
                        feedback.LastReceivedLsn = Lsn(wal);
                        break;
                    case 3:
                        ack.TryIdleAdvanceAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();
                        break;
                    default:
                        var processed = ack.Processed;
                        store.SaveAsync(processed.Offset, processed.CommittedEventCount, CancellationToken.None).AsTask().GetAwaiter().GetResult();
                        ack.MarkDurableAsync(processed, CancellationToken.None).AsTask().GetAwaiter().GetResult();
                        break;
                }

                foreach (var saved in store.Saved)
                {
                    savedBeforeStatus.Add(saved.Offset.Lsn);
                }

                if (feedback.Statuses.Any(s => !savedBeforeStatus.Contains(s)) || ack.Acknowledged > ack.Durable.Lsn)
                {
                    return false;
                }
            }

            ack.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return feedback.Statuses.Zip(feedback.Statuses.Skip(1)).All(p => p.First < p.Second)
                && store.Saved.Zip(store.Saved.Skip(1)).All(p => p.First.Count < p.Second.Count && p.First.Offset.Lsn < p.Second.Offset.Lsn);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public async Task MarkProcessed_SessionOwned_PastTheLastReceivedCommitIsRefused()
    {
        await using var ack = Create(new FakeFeedback(), new RecordingStore(), session: true);

        Commit(ack, Lsn(1500));

        Should.Throw<ArgumentOutOfRangeException>(() => ack.MarkProcessed(Lsn(1600), 1)).Message.ShouldContain("past the last commit received");
        ack.MarkProcessed(Lsn(1500), 1).Lsn.ShouldBe(Lsn(1500));
    }

    [Fact]
    public async Task MarkProcessed_Standalone_TheCallerRunsTheStreamSoNothingIsCheckedAgainstReceipt()
    {
        await using var ack = Create(new FakeFeedback(), new RecordingStore(), session: false);

        ack.MarkProcessed(Lsn(1600), 1).Lsn.ShouldBe(Lsn(1600));
        (await ack.TryIdleAdvanceAsync(Ct)).ShouldBeFalse(); // no idle advance beside a stream the caller runs
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        for (var i = 0; i < 1000 && !condition(); i++)
        {
            await Task.Delay(10, Ct);
        }

        condition().ShouldBeTrue();
    }

    internal sealed class FakeFeedback : IReplicationFeedback
    {
        private readonly Lock _gate = new();

        /// <summary>Non-zero by default: a stream that has received data from the server.</summary>
        public NpgsqlLogSequenceNumber LastReceivedLsn { get; set; } = new(1);

        /// <summary>Thrown by every send when set (Npgsql's failures).</summary>
        public Exception? SendFailure { get; set; }

        public int SendAttempts { get; private set; }

        public List<NpgsqlLogSequenceNumber> Statuses { get; } = [];

        public int Sends { get; private set; }

        public bool Streaming { get; init; } = true;

        public void SetReplicationStatus(NpgsqlLogSequenceNumber lsn)
        {
            lock (_gate)
            {
                Statuses.Add(lsn);
            }
        }

        public Task SendStatusUpdateAsync(CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                SendAttempts++;
            }

            if (!Streaming)
            {
                throw new InvalidOperationException("Status update can only be sent during replication");
            }

            if (SendFailure is not null)
            {
                throw SendFailure;
            }

            lock (_gate)
            {
                Sends++;
            }

            return Task.CompletedTask;
        }
    }

    /// <summary>An in-memory store that records saves, and can block or fail them.</summary>
    internal sealed class RecordingStore : ICheckpointStore
    {
        private readonly InMemoryCheckpoint _inner = new();

        public List<(PostgresOffset Offset, ulong Count)> Saved { get; } = [];

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource? Gate { get; init; }

        public Exception? FailWith { get; init; }

        public async ValueTask SaveAsync(CheckpointOffset offset, ulong committedEventCount, CancellationToken cancellationToken = default)
        {
            Entered.TrySetResult();
            if (Gate is not null)
            {
                await Gate.Task.WaitAsync(cancellationToken);
            }

            if (FailWith is not null)
            {
                throw FailWith;
            }

            await _inner.SaveAsync(offset, committedEventCount, cancellationToken);
            lock (Saved)
            {
                if (Saved.Count == 0 || !Saved[^1].Offset.Equals(offset))
                {
                    Saved.Add(((PostgresOffset)offset, committedEventCount));
                }
            }
        }

        public ValueTask<CheckpointRecord?> LoadAsync(string sourceType, CancellationToken cancellationToken = default) => _inner.LoadAsync(sourceType, cancellationToken);

        public ValueTask RewindAsync(CheckpointOffset offset, ulong committedEventCount, string reason, CancellationToken cancellationToken = default) =>
            _inner.RewindAsync(offset, committedEventCount, reason, cancellationToken);
    }
}
