using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Validation;
using Shouldly;
using Xunit;
using static Cdc.Checkpoint.MySql.Tests.Validation.ResumeFactsBuilder;

namespace Cdc.Checkpoint.MySql.Tests.Validation;

/// <summary>
/// The MySQL rules of the resume decision, on facts shaped like MySQL 8.0/8.4 reports them (UUID GTID sets, tagged
/// GTIDs, gtid_executed with new lines): a MariaDB test server cannot produce any of these.
/// </summary>
public sealed class MySqlResumeRulesTests
{
    private static MySqlResumeValidationResult Decide(Offsets.CheckpointOffset? checkpoint, MySqlServerFacts server, MySqlResumeValidationOptions? options = null) =>
        MySqlResumeValidator.Decide(checkpoint, server, options);

    [Fact]
    public void Decide_ContainedAndNeededNotPurged_Resumes()
    {
        // gtid_executed as MySQL prints it: upper case, a comma and a new line between sources.
        var server = MySqlServer($"{A.ToUpperInvariant()}:1-100,\n{B}:1-20", purged: $"{A}:1-50");
        var result = Decide(MySqlCheckpoint($"{A}:1-60,{B}:1-20", UuidA), server);

        result.Verdict.ShouldBe(MySqlResumeVerdict.Resume);
        result.IsRefused.ShouldBeFalse();
        result.ErrorCode.ShouldBeNull();
        result.PurgedGtids.ShouldBeNull();
        result.Message.ShouldContain("40 transaction(s) still to stream");
        Should.NotThrow(result.ThrowIfRefused);
    }

    [Fact]
    public void Decide_NeededTransactionsPurged_PositionPurgedListsExactlyTheGap()
    {
        var server = MySqlServer($"{A}:1-100,{B}:1-20", purged: $"{A}:1-70,{B}:1-5");
        var result = Decide(MySqlCheckpoint($"{A}:1-60,{B}:1-20", UuidA), server);

        result.Verdict.ShouldBe(MySqlResumeVerdict.PositionPurged);
        result.IsRefused.ShouldBeTrue();
        result.PurgedGtids.ShouldBe(GtidSet.Parse($"{A}:61-70"));
        result.Message.ShouldContain($"{A}:61-70");
        result.Message.ShouldContain("AcceptPurgedTransactions");
        var ex = Should.Throw<CheckpointException>(result.ThrowIfRefused);
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.PositionUnavailable);
        ex.Message.ShouldBe(result.Message);
    }

    [Fact]
    public void Decide_PurgedButOptedIn_GapAcceptedNotRefused()
    {
        var server = MySqlServer($"{A}:1-100", purged: $"{A}:1-70");
        var result = Decide(MySqlCheckpoint($"{A}:1-60", UuidA), server, new MySqlResumeValidationOptions { AcceptPurgedTransactions = true });

        result.Verdict.ShouldBe(MySqlResumeVerdict.PositionPurged);
        result.IsRefused.ShouldBeFalse();
        result.GapAccepted.ShouldBeTrue();
        result.ErrorCode.ShouldBe(CheckpointErrorCode.PositionUnavailable);
        Should.NotThrow(result.ThrowIfRefused);
    }

    [Fact]
    public void Decide_CheckpointHasTransactionsBeyondExecuted_CheckpointAhead()
    {
        var server = MySqlServer($"{A}:1-100");
        var result = Decide(MySqlCheckpoint($"{A}:1-120", UuidA), server);

        result.Verdict.ShouldBe(MySqlResumeVerdict.CheckpointAhead);
        result.UnknownGtids.ShouldBe(GtidSet.Parse($"{A}:101-120"));
        result.ToException().ErrorCode.ShouldBe(CheckpointErrorCode.CheckpointAhead);
    }

    [Fact]
    public void Decide_CheckpointHasHoleBelowExecutedMax_HistoryDiverged()
    {
        // The server executed 40 and 42-100 of A, never 41, but the checkpoint has 41: an errant transaction or a
        // failover to a server that missed it. Not contained, and not merely ahead.
        var server = MySqlServer($"{A}:1-40:42-100");
        var result = Decide(MySqlCheckpoint($"{A}:1-41", UuidA), server);

        result.Verdict.ShouldBe(MySqlResumeVerdict.HistoryDiverged);
        result.UnknownGtids.ShouldBe(GtidSet.Parse($"{A}:41"));
        result.Message.ShouldContain($"{A}:41");
        result.ErrorCode.ShouldBe(CheckpointErrorCode.HistoryDiverged);
    }

    [Fact]
    public void Decide_IncomparableSets_HistoryDivergedWhenTheCheckpointHasAnOlderTransactionTheServerLacks()
    {
        // Each set holds a transaction the other lacks (GtidSet.CompareTo says Diverged).
        var server = MySqlServer($"{A}:1-50,{B}:1-10");
        var checkpoint = MySqlCheckpoint($"{A}:1-49,{B}:1-5:8", UuidA);
        checkpoint.GtidSet!.CompareTo(server.GtidExecuted!).ShouldBe(Offsets.OffsetOrder.Before);
        Decide(checkpoint, server).Verdict.ShouldBe(MySqlResumeVerdict.Resume);

        var diverged = MySqlCheckpoint($"{A}:1-51,{B}:3", UuidA);
        var serverWithHole = MySqlServer($"{A}:1-50,{B}:1-2:4-10");
        diverged.GtidSet!.CompareTo(serverWithHole.GtidExecuted!).ShouldBe(Offsets.OffsetOrder.Diverged);
        var result = Decide(diverged, serverWithHole);
        result.Verdict.ShouldBe(MySqlResumeVerdict.HistoryDiverged);
        result.UnknownGtids.ShouldBe(GtidSet.Parse($"{A}:51,{B}:3"));
    }

    [Fact]
    public void Decide_CheckpointHasSourceTheServerNeverSaw_AheadWhenOtherSourcesMatch()
    {
        // A replica that has not received source C yet: nothing below a known maximum is missing.
        var server = MySqlServer($"{A}:1-20");
        var result = Decide(MySqlCheckpoint($"{A}:1-10,{C}:1-5", UuidA), server);

        result.Verdict.ShouldBe(MySqlResumeVerdict.CheckpointAhead);
        result.UnknownGtids.ShouldBe(GtidSet.Parse($"{C}:1-5"));
    }

    [Fact]
    public void Decide_NoSourceInCommonWithAnotherServer_ServerMismatch()
    {
        var server = MySqlServer($"{A}:1-100", uuid: UuidA);
        var result = Decide(MySqlCheckpoint($"{C}:1-5", UuidC, serverId: 9), server);

        result.Verdict.ShouldBe(MySqlResumeVerdict.ServerMismatch);
        result.Message.ShouldContain(C);
        result.ErrorCode.ShouldBe(CheckpointErrorCode.ServerMismatch);
    }

    [Fact]
    public void Decide_SourceKnownOnlyAsPurged_CountsAsShared()
    {
        // The server knows source B only from gtid_purged (its binlogs were purged after a backup restore).
        var server = MySqlServer($"{A}:1-100,{B}:1-30", purged: $"{B}:1-30");
        Decide(MySqlCheckpoint($"{B}:1-30", UuidB), server).Verdict.ShouldBe(MySqlResumeVerdict.Resume);
    }

    [Fact]
    public void Decide_SameServerAfterGtidReset_CheckpointAheadNotMismatch()
    {
        // RESET BINARY LOGS AND GTIDS: gtid_executed is empty, but the server UUID is the checkpoint's.
        var server = MySqlServer(string.Empty, uuid: UuidA);
        var result = Decide(MySqlCheckpoint($"{A}:1-100", UuidA), server);

        result.Verdict.ShouldBe(MySqlResumeVerdict.CheckpointAhead);
        result.Message.ShouldContain("RESET");
    }

    [Fact]
    public void Decide_SameServerAfterResetWithGtidsReissued_BinlogResetFromTheFileNumbering()
    {
        // After the reset the server wrote A:1-150 again and is at mysql-bin.000002: the checkpoint's A:1-100 is
        // "contained", but its binlog file is beyond the newest one, so those numbers are other transactions.
        var server = MySqlServer($"{A}:1-150", uuid: UuidA, files: [("mysql-bin.000001", 9000), ("mysql-bin.000002", 300)]);
        var result = Decide(MySqlCheckpoint($"{A}:1-100", UuidA, serverId: 1, binlog: "mysql-bin.000009:4000"), server);

        result.Verdict.ShouldBe(MySqlResumeVerdict.BinlogReset);
        result.ErrorCode.ShouldBe(CheckpointErrorCode.HistoryDiverged);
        result.Message.ShouldContain("mysql-bin.000002");
    }

    [Fact]
    public void Decide_TaggedGtids_ContainmentAndPurgeAreExact()
    {
        // MySQL 8.3+/8.4 tagged GTIDs: uuid:tag:n, with tags compared case-insensitively.
        var server = MySqlServer($"{A}:1-100:Batch:1-10", purged: $"{A}:1-10:batch:1-7");
        var resumed = Decide(MySqlCheckpoint($"{A}:1-100:batch:1-8", UuidA), server);
        resumed.Verdict.ShouldBe(MySqlResumeVerdict.Resume);

        var purged = Decide(MySqlCheckpoint($"{A}:1-100:batch:1-5", UuidA), server);
        purged.Verdict.ShouldBe(MySqlResumeVerdict.PositionPurged);
        purged.PurgedGtids.ShouldBe(GtidSet.Parse($"{A}:batch:6-7"));

        var ahead = Decide(MySqlCheckpoint($"{A}:1-100:batch:1-10:other:1", UuidA), server);
        ahead.Verdict.ShouldBe(MySqlResumeVerdict.CheckpointAhead);
        ahead.UnknownGtids.ShouldBe(GtidSet.Parse($"{A}:other:1"));
    }

    [Fact]
    public void Decide_EmptyCheckpointOnServerThatPurgedNothing_Resumes()
    {
        Decide(MySqlCheckpoint(string.Empty, UuidA), MySqlServer($"{A}:1-5")).Verdict.ShouldBe(MySqlResumeVerdict.Resume);
        var purged = Decide(MySqlCheckpoint(string.Empty, UuidA), MySqlServer($"{A}:1-5", purged: $"{A}:1-2"));
        purged.Verdict.ShouldBe(MySqlResumeVerdict.PositionPurged);
        purged.PurgedGtids.ShouldBe(GtidSet.Parse($"{A}:1-2"));
    }

    [Theory]
    [InlineData("OFF")]
    [InlineData("OFF_PERMISSIVE")]
    [InlineData("ON_PERMISSIVE")]
    public void Decide_GtidCheckpointWithoutGtidModeOn_Misconfigured(string mode)
    {
        var result = Decide(MySqlCheckpoint($"{A}:1-5", UuidA), MySqlServer($"{A}:1-5", gtidMode: mode));
        result.Verdict.ShouldBe(MySqlResumeVerdict.Misconfigured);
        result.Message.ShouldContain(mode);
        result.ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
    }

    [Fact]
    public void Decide_BinaryLoggingOff_MisconfiguredAlsoForAFreshStart()
    {
        var server = MySqlServer($"{A}:1-5", logBin: false);
        Decide(MySqlCheckpoint($"{A}:1-5", UuidA), server).Verdict.ShouldBe(MySqlResumeVerdict.Misconfigured);
        var fresh = Decide(null, server);
        fresh.Verdict.ShouldBe(MySqlResumeVerdict.Misconfigured);
        fresh.IsRefused.ShouldBeTrue();
        fresh.Message.ShouldContain("log_bin");
    }

    [Fact]
    public void Decide_NoCheckpoint_FreshStartIsNotRefused()
    {
        var result = Decide(null, MySqlServer($"{A}:1-5"));
        result.Verdict.ShouldBe(MySqlResumeVerdict.FreshStart);
        result.IsRefused.ShouldBeFalse();
        result.GapAccepted.ShouldBeFalse();
        result.Checkpoint.ShouldBeNull();
    }

    [Fact]
    public void Decide_FlavourMismatch_ServerMismatchBothWays()
    {
        Decide(MySqlCheckpoint($"{A}:1-5", UuidA), MariaDbServer("0-1-5")).Verdict.ShouldBe(MySqlResumeVerdict.ServerMismatch);
        Decide(MariaDbCheckpoint("0-1-5"), MySqlServer($"{A}:1-5")).Verdict.ShouldBe(MySqlResumeVerdict.ServerMismatch);
    }

    [Fact]
    public void Decide_BinlogOnlyFromAnotherServer_ServerMismatchByUuidOrId()
    {
        var server = MySqlServer(string.Empty, gtidMode: "OFF", uuid: UuidA, serverId: 1);
        var byUuid = Decide(new MySqlOffset(null, BinlogPosition.Parse("mysql-bin.000006:100"), UuidB, 1), server);
        byUuid.Verdict.ShouldBe(MySqlResumeVerdict.ServerMismatch);
        byUuid.Message.ShouldContain(B);

        var byId = Decide(new MySqlOffset(null, BinlogPosition.Parse("mysql-bin.000006:100"), null, 2), server);
        byId.Verdict.ShouldBe(MySqlResumeVerdict.ServerMismatch);
        byId.Message.ShouldContain("server_id 2");
    }

    [Theory]
    [InlineData("mysql-bin.000006:100", MySqlResumeVerdict.Resume)]
    [InlineData("mysql-bin.000007:900", MySqlResumeVerdict.Resume)]
    [InlineData("mysql-bin.000002:100", MySqlResumeVerdict.PositionPurged)]
    [InlineData("mysql-bin.000009:4", MySqlResumeVerdict.CheckpointAhead)]
    [InlineData("mysql-bin.000007:901", MySqlResumeVerdict.CheckpointAhead)]
    [InlineData("mysql-bin.000006:5001", MySqlResumeVerdict.CheckpointAhead)]
    [InlineData("binlog.000006:100", MySqlResumeVerdict.ServerMismatch)]
    public void Decide_BinlogOnlyCheckpoint_FileAndPositionRules(string binlog, MySqlResumeVerdict expected)
    {
        // Files mysql-bin.000005 (5000 bytes), .000006 (5000), .000007 (900, current).
        var server = MySqlServer(string.Empty, gtidMode: "OFF", uuid: UuidA, serverId: 1);
        var result = Decide(new MySqlOffset(null, BinlogPosition.Parse(binlog), UuidA, 1), server);

        result.Verdict.ShouldBe(expected);
        result.BinlogPositionUsable.ShouldBe(expected == MySqlResumeVerdict.Resume);
    }

    [Fact]
    public void Decide_GtidCheckpointWithPurgedBinlogFile_ResumesByGtidUnlessPositionRequired()
    {
        var server = MySqlServer($"{A}:1-100", uuid: UuidA);
        var checkpoint = MySqlCheckpoint($"{A}:1-90", UuidA, 1, binlog: "mysql-bin.000003:120");

        var byGtid = Decide(checkpoint, server);
        byGtid.Verdict.ShouldBe(MySqlResumeVerdict.Resume);
        byGtid.BinlogPositionUsable.ShouldBeFalse();

        var byPosition = Decide(checkpoint, server, new MySqlResumeValidationOptions { RequireBinlogPosition = true });
        byPosition.Verdict.ShouldBe(MySqlResumeVerdict.PositionPurged);
        byPosition.Message.ShouldContain("mysql-bin.000003");
    }

    [Fact]
    public void Decide_GtidCheckpointFromAnotherServerRequiringPosition_ServerMismatchElseResumeByGtid()
    {
        // A failover: the new primary (UUID B) executed the old primary's (A) transactions.
        var server = MySqlServer($"{A}:1-100,{B}:1-3", uuid: UuidB, serverId: 2);
        var checkpoint = MySqlCheckpoint($"{A}:1-90", UuidA, 1, binlog: "mysql-bin.000006:120");

        Decide(checkpoint, server).Verdict.ShouldBe(MySqlResumeVerdict.Resume);
        var required = Decide(checkpoint, server, new MySqlResumeValidationOptions { RequireBinlogPosition = true });
        required.Verdict.ShouldBe(MySqlResumeVerdict.ServerMismatch);
        required.Message.ShouldContain("another server");
    }

    [Fact]
    public void Decide_RequirePositionButCheckpointHasNone_Misconfigured()
    {
        var result = Decide(MySqlCheckpoint($"{A}:1-90", UuidA), MySqlServer($"{A}:1-100"), new MySqlResumeValidationOptions { RequireBinlogPosition = true });
        result.Verdict.ShouldBe(MySqlResumeVerdict.Misconfigured);
        result.Message.ShouldContain("RequireBinlogPosition");
    }

    [Fact]
    public void Decide_OtherOffsetKind_ThrowsArgumentException()
    {
        Should.Throw<ArgumentException>(() => Decide(new ConformanceOffset(1), MySqlServer($"{A}:1-5")))
            .Message.ShouldContain("MySqlOffset and MariaDbOffset");
    }

    [Theory]
    [InlineData(MySqlResumeVerdict.Resume, null)]
    [InlineData(MySqlResumeVerdict.FreshStart, null)]
    [InlineData(MySqlResumeVerdict.PositionPurged, CheckpointErrorCode.PositionUnavailable)]
    [InlineData(MySqlResumeVerdict.ServerMismatch, CheckpointErrorCode.ServerMismatch)]
    [InlineData(MySqlResumeVerdict.CheckpointAhead, CheckpointErrorCode.CheckpointAhead)]
    [InlineData(MySqlResumeVerdict.HistoryDiverged, CheckpointErrorCode.HistoryDiverged)]
    [InlineData(MySqlResumeVerdict.BinlogReset, CheckpointErrorCode.HistoryDiverged)]
    [InlineData(MySqlResumeVerdict.Misconfigured, CheckpointErrorCode.Misconfigured)]
    public void ErrorCode_EveryVerdict_MapsToItsCheckpointErrorCode(MySqlResumeVerdict verdict, CheckpointErrorCode? expected)
    {
        var result = new MySqlResumeValidationResult(verdict, expected is not null, null, MySqlServer($"{A}:1"), "message");
        result.ErrorCode.ShouldBe(expected);
        result.ToException().ErrorCode.ShouldBe(expected ?? CheckpointErrorCode.Misconfigured);
    }
}
