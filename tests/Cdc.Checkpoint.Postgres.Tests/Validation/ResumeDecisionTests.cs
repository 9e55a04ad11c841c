using System.Text;
using Cdc.Checkpoint.Postgres.Validation;
using FsCheck;
using FsCheck.Fluent;
using NpgsqlTypes;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Validation;

/// <summary>The verdict rules on their own (no server): order of the checks, opt-ins, and the fail-closed property.</summary>
public sealed class ResumeDecisionTests
{
    private const ulong System = 7_300_000_000_000_000_001UL;

    private static NpgsqlLogSequenceNumber Lsn(ulong value) => new(value);

    private static ReplicationSlotFacts Slot(ulong? confirmed = 1000, ulong? restart = 900, int? activePid = null, string walStatus = "reserved", string plugin = "pgoutput", string database = "app", string type = "logical") =>
        new()
        {
            SlotName = "s",
            SlotType = type,
            Plugin = plugin,
            Database = database,
            ActivePid = activePid,
            ConfirmedFlushLsn = confirmed is { } c ? Lsn(c) : null,
            RestartLsn = restart is { } r ? Lsn(r) : null,
            WalStatus = walStatus,
        };

    private static PostgresResumeFacts Facts(PostgresOffset? checkpoint, ReplicationSlotFacts? slot, uint timeline = 1, ulong wal = 5000, NpgsqlLogSequenceNumber? switchPoint = null) =>
        new()
        {
            SlotName = "s",
            Checkpoint = checkpoint,
            ServerSystemIdentifier = System,
            ServerTimeline = timeline,
            ServerWalPosition = Lsn(wal),
            ServerDatabase = "app",
            Slot = slot,
            TimelineSwitchPoint = switchPoint,
        };

    private static PostgresOffset Checkpoint(ulong lsn = 2000, ulong? system = System, uint? timeline = 1, string? database = "app") =>
        new(Lsn(lsn), "s", system, timeline, database);

    private static PostgresResumeValidationResult Decide(PostgresResumeFacts facts, PostgresResumeValidationOptions? options = null) =>
        PostgresResumeValidator.Decide(facts, options ?? new PostgresResumeValidationOptions());

    public static TheoryData<string, PostgresResumeVerdict, CheckpointErrorCode?> Cases => new()
    {
        { "resume", PostgresResumeVerdict.Resume, null },
        { "slot equal to checkpoint", PostgresResumeVerdict.Resume, null },
        { "legacy checkpoint without identity", PostgresResumeVerdict.Resume, null },
        { "fresh", PostgresResumeVerdict.FreshStart, null },
        { "slot without checkpoint", PostgresResumeVerdict.SlotWithoutCheckpoint, CheckpointErrorCode.Misconfigured },
        { "missing", PostgresResumeVerdict.SlotMissing, CheckpointErrorCode.PositionUnavailable },
        { "ahead", PostgresResumeVerdict.SlotAhead, CheckpointErrorCode.PositionUnavailable },
        { "checkpoint ahead", PostgresResumeVerdict.CheckpointAhead, CheckpointErrorCode.CheckpointAhead },
        { "other system", PostgresResumeVerdict.SystemMismatch, CheckpointErrorCode.ServerMismatch },
        { "other system and ahead", PostgresResumeVerdict.SystemMismatch, CheckpointErrorCode.ServerMismatch },
        { "lost", PostgresResumeVerdict.SlotInvalidated, CheckpointErrorCode.PositionUnavailable },
        { "no restart_lsn", PostgresResumeVerdict.SlotInvalidated, CheckpointErrorCode.PositionUnavailable },
        { "in use", PostgresResumeVerdict.SlotInUse, CheckpointErrorCode.InUse },
        { "physical", PostgresResumeVerdict.WrongPlugin, CheckpointErrorCode.Misconfigured },
        { "test_decoding", PostgresResumeVerdict.WrongPlugin, CheckpointErrorCode.Misconfigured },
        { "slot database", PostgresResumeVerdict.WrongDatabase, CheckpointErrorCode.Misconfigured },
        { "checkpoint database", PostgresResumeVerdict.WrongDatabase, CheckpointErrorCode.Misconfigured },
        { "new timeline before switch", PostgresResumeVerdict.ResumeOnNewTimeline, null },
        { "new timeline at switch", PostgresResumeVerdict.ResumeOnNewTimeline, null },
        { "new timeline past switch", PostgresResumeVerdict.TimelineDiverged, CheckpointErrorCode.HistoryDiverged },
        { "timeline not in history", PostgresResumeVerdict.TimelineDiverged, CheckpointErrorCode.HistoryDiverged },
        { "checkpoint timeline newer", PostgresResumeVerdict.TimelineDiverged, CheckpointErrorCode.HistoryDiverged },
    };

    private static PostgresResumeFacts Scenario(string name) => name switch
    {
        "resume" => Facts(Checkpoint(), Slot()),
        "slot equal to checkpoint" => Facts(Checkpoint(1000), Slot()),
        "legacy checkpoint without identity" => Facts(Checkpoint(system: null, timeline: null, database: null), Slot()),
        "fresh" => Facts(null, null),
        "slot without checkpoint" => Facts(null, Slot()),
        "missing" => Facts(Checkpoint(), null),
        "ahead" => Facts(Checkpoint(), Slot(confirmed: 3000)),
        "checkpoint ahead" => Facts(Checkpoint(6000), Slot()),
        "other system" => Facts(Checkpoint(system: 42), Slot()),
        "other system and ahead" => Facts(Checkpoint(lsn: 9000, system: 42), Slot(confirmed: 9999)),
        "lost" => Facts(Checkpoint(), Slot(walStatus: "lost")),
        "no restart_lsn" => Facts(Checkpoint(), Slot(restart: null)),
        "in use" => Facts(Checkpoint(), Slot(activePid: 4242)),
        "physical" => Facts(Checkpoint(), Slot(type: "physical", plugin: null!, database: null!)),
        "test_decoding" => Facts(Checkpoint(), Slot(plugin: "test_decoding")),
        "slot database" => Facts(Checkpoint(), Slot(database: "other")),
        "checkpoint database" => Facts(Checkpoint(database: "other"), Slot()),
        "new timeline before switch" => Facts(Checkpoint(), Slot(), timeline: 2, switchPoint: Lsn(2500)),
        "new timeline at switch" => Facts(Checkpoint(), Slot(), timeline: 2, switchPoint: Lsn(2000)),
        "new timeline past switch" => Facts(Checkpoint(), Slot(), timeline: 2, switchPoint: Lsn(1999)),
        "timeline not in history" => Facts(Checkpoint(), Slot(), timeline: 3),
        "checkpoint timeline newer" => Facts(Checkpoint(timeline: 4), Slot(), timeline: 2),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decide_Scenario_GivesTheDocumentedVerdictAndCode(string scenario, PostgresResumeVerdict verdict, CheckpointErrorCode? code)
    {
        var result = Decide(Scenario(scenario));

        result.Verdict.ShouldBe(verdict, result.Message);
        result.ErrorCode.ShouldBe(code);
        result.IsRefused.ShouldBe(code is not null);
        (result.Message.Contains("'s'", StringComparison.Ordinal) || result.Message.Contains("slot=s ", StringComparison.Ordinal)).ShouldBeTrue(result.Message);
    }

    [Fact]
    public void Decide_OptInsAcceptOnlyTheirOwnVerdict()
    {
        var ahead = Facts(Checkpoint(), Slot(confirmed: 3000));
        var missing = Facts(Checkpoint(), null);
        var lost = Facts(Checkpoint(), Slot(walStatus: "lost"));
        var orphan = Facts(null, Slot());

        Decide(ahead, new() { AcceptSlotAhead = true }).ShouldSatisfyAllConditions(
            r => r.Action.ShouldBe(PostgresResumeAction.StartAtSlot), r => r.StartLsn.ShouldBe(Lsn(3000)), r => r.GapAccepted.ShouldBeTrue());
        Decide(ahead, new() { RecreateLostSlot = true, AdoptSlotWithoutCheckpoint = true }).IsRefused.ShouldBeTrue();
        Decide(missing, new() { RecreateLostSlot = true }).Action.ShouldBe(PostgresResumeAction.CreateSlot);
        Decide(missing, new() { AcceptSlotAhead = true }).IsRefused.ShouldBeTrue();
        Decide(lost, new() { RecreateLostSlot = true }).Action.ShouldBe(PostgresResumeAction.RecreateSlot);
        Decide(lost, new() { AcceptSlotAhead = true }).IsRefused.ShouldBeTrue();
        Decide(orphan, new() { AdoptSlotWithoutCheckpoint = true }).ShouldSatisfyAllConditions(
            r => r.Action.ShouldBe(PostgresResumeAction.StartAtSlot), r => r.StartLsn.ShouldBe(Lsn(1000)));
        Decide(orphan, new() { AcceptSlotAhead = true, RecreateLostSlot = true }).IsRefused.ShouldBeTrue();
    }

    [Fact]
    public void Decide_TimelineChangedAndHistoryUnreadable_RefusesAndSaysWhy()
    {
        var facts = new PostgresResumeFacts
        {
            SlotName = "s",
            Checkpoint = Checkpoint(),
            ServerSystemIdentifier = System,
            ServerTimeline = 2,
            ServerWalPosition = Lsn(5000),
            ServerDatabase = "app",
            Slot = Slot(),
            TimelineHistoryProblem = "permission denied for function pg_read_binary_file",
        };

        var result = Decide(facts);

        result.Verdict.ShouldBe(PostgresResumeVerdict.TimelineDiverged);
        result.Message.ShouldContain("permission denied");
    }

    [Fact]
    public void Decide_AnyFacts_NeverStartsPastTheCheckpointOrOnAnUnsafeSlotWithoutAnOptIn()
    {
        var lsn = Gen.Choose(0, 10_000).Select(v => (ulong)v);
        var facts =
            from checkpointLsn in lsn
            from hasCheckpoint in Gen.Frequency((4, Gen.Constant(true)), (1, Gen.Constant(false)))
            from system in Gen.Elements(System, 42UL)
            from timeline in Gen.Elements<uint?>(1, 2, null)
            from serverTimeline in Gen.Elements(1u, 2u)
            from switchPoint in Gen.OneOf(Gen.Constant<ulong?>(null), lsn.Select(v => (ulong?)v))
            from hasSlot in Gen.Frequency((4, Gen.Constant(true)), (1, Gen.Constant(false)))
            from confirmed in lsn
            from invalid in Gen.Frequency((5, Gen.Constant(false)), (1, Gen.Constant(true)))
            from active in Gen.Frequency((5, Gen.Constant<int?>(null)), (1, Gen.Constant<int?>(77)))
            from wal in lsn
            select new PostgresResumeFacts
            {
                SlotName = "s",
                Checkpoint = hasCheckpoint ? new PostgresOffset(Lsn(checkpointLsn), "s", system, timeline, "app") : null,
                ServerSystemIdentifier = System,
                ServerTimeline = serverTimeline,
                ServerWalPosition = Lsn(wal),
                ServerDatabase = "app",
                Slot = hasSlot ? Slot(confirmed: confirmed, restart: invalid ? null : 0, activePid: active) : null,
                TimelineSwitchPoint = switchPoint is { } p ? Lsn(p) : null,
            };

        Prop.ForAll(Arb.From(facts), f =>
        {
            var result = Decide(f);
            var checkpoint = f.Checkpoint;
            if (result.IsRefused)
            {
                return result.ErrorCode is not null;
            }

            var safe = result.Action switch
            {
                PostgresResumeAction.StartAtCheckpoint =>
                    checkpoint is not null
                    && result.StartLsn == checkpoint.Lsn
                    && checkpoint.Lsn <= f.ServerWalPosition
                    && f.Slot is { ActivePid: null, RestartLsn: not null } slot
                    && slot.ConfirmedFlushLsn <= checkpoint.Lsn
                    && (checkpoint.SystemIdentifier is null || checkpoint.SystemIdentifier == f.ServerSystemIdentifier)
                    && (checkpoint.Timeline is null || checkpoint.Timeline == f.ServerTimeline
                        || (f.TimelineSwitchPoint is { } sp && checkpoint.Lsn <= sp && checkpoint.Timeline < f.ServerTimeline)),
                PostgresResumeAction.CreateSlot => checkpoint is null && f.Slot is null,
                _ => false,
            };
            return safe && result.ErrorCode is null;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void TimelineHistory_ServerFormat_ParsesSwitchPointsAndRefusesGarbage()
    {
        var history = TimelineHistory.Parse(Encoding.UTF8.GetBytes("1\t0/15131F8\tno recovery target specified\n\n2\t0/3000000\tbefore 2025-01-01\n"));

        history.SwitchPointOf(1).ShouldBe(PostgresOffset.ParseLsn("0/15131F8"));
        history.SwitchPointOf(2).ShouldBe(PostgresOffset.ParseLsn("0/3000000"));
        history.SwitchPointOf(3).ShouldBeNull();
        Should.Throw<FormatException>(() => TimelineHistory.Parse(Encoding.UTF8.GetBytes("1\tnot-an-lsn\treason\n"))).Message.ShouldContain("not-an-lsn");
        Should.Throw<FormatException>(() => TimelineHistory.Parse(Encoding.UTF8.GetBytes("0\t0/1\treason\n")));
    }
}
