using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Validation;
using Shouldly;
using Xunit;
using static Cdc.Checkpoint.MySql.Tests.Validation.ResumeFactsBuilder;

namespace Cdc.Checkpoint.MySql.Tests.Validation;

/// <summary>
/// The MariaDB rules of the resume decision on constructed facts: domains, strict-mode sequence rules, the oldest
/// binlog's Gtid_list, and BINLOG_GTID_POS of the checkpoint's position. The real-server tests reproduce the main ones.
/// </summary>
public sealed class MariaDbResumeRulesTests
{
    private static MySqlResumeValidationResult Decide(MariaDbOffset checkpoint, MySqlServerFacts server, MySqlResumeValidationOptions? options = null) =>
        MySqlResumeValidator.Decide(checkpoint, server, options);

    [Fact]
    public void Decide_CheckpointInsideTheAvailableBinlog_Resumes()
    {
        var result = Decide(MariaDbCheckpoint("0-1-80"), MariaDbServer("0-1-100", earliest: "0-1-50"));
        result.Verdict.ShouldBe(MySqlResumeVerdict.Resume);
        result.IsRefused.ShouldBeFalse();
    }

    [Fact]
    public void Decide_OldestBinlogStartsAfterCheckpoint_PositionPurgedWithTheRange()
    {
        var result = Decide(MariaDbCheckpoint("0-1-80"), MariaDbServer("0-1-100", earliest: "0-1-90"));
        result.Verdict.ShouldBe(MySqlResumeVerdict.PositionPurged);
        result.Message.ShouldContain("sequence numbers 81..90");
        result.ErrorCode.ShouldBe(CheckpointErrorCode.PositionUnavailable);
    }

    [Fact]
    public void Decide_DomainPurgedThatTheCheckpointNeverSaw_PositionPurged()
    {
        // Domain 1's first transactions are in purged files, and the checkpoint has nothing of domain 1.
        var server = MariaDbServer("0-1-100,1-2-20", earliest: "0-1-50,1-2-10");
        var result = Decide(MariaDbCheckpoint("0-1-95"), server);
        result.Verdict.ShouldBe(MySqlResumeVerdict.PositionPurged);
        result.Message.ShouldContain("domain 1: every transaction up to 1-2-10");

        // Domain 1 that started after the oldest file is fine: all of it is still there.
        Decide(MariaDbCheckpoint("0-1-95"), MariaDbServer("0-1-100,1-2-20", earliest: "0-1-50")).Verdict.ShouldBe(MySqlResumeVerdict.Resume);
    }

    [Fact]
    public void Decide_SequenceBeyondTheServer_CheckpointAhead()
    {
        var result = Decide(MariaDbCheckpoint("0-1-120"), MariaDbServer("0-1-100"));
        result.Verdict.ShouldBe(MySqlResumeVerdict.CheckpointAhead);
        result.Message.ShouldContain("0-1-120 (the server's last in domain 0: 0-1-100)");
    }

    [Fact]
    public void Decide_PromotedReplicaAfterASplit_HistoryDivergedNotAhead()
    {
        // The checkpoint followed server 1 to 0-1-8; this server stopped receiving at 0-1-5 and went on as server 2.
        var server = MariaDbServer("0-2-7", state: "0-1-5,0-2-7", serverId: 2);
        var result = Decide(MariaDbCheckpoint("0-1-8", serverId: 1), server);
        result.Verdict.ShouldBe(MySqlResumeVerdict.HistoryDiverged, result.Message);
        result.Message.ShouldContain("server_id 1's last GTID in domain 0 here is 0-1-5; after it server_id 2 wrote up to 0-2-7");
        result.ErrorCode.ShouldBe(CheckpointErrorCode.HistoryDiverged);

        // Server 1 still wrote last here: the server is merely behind.
        Decide(MariaDbCheckpoint("0-1-8", serverId: 1), MariaDbServer("0-1-7", state: "0-2-5,0-1-7", serverId: 2)).Verdict.ShouldBe(MySqlResumeVerdict.CheckpointAhead);

        // Without strict mode the sequence numbers do not order the history, so only "ahead" can be said.
        var lax = Decide(MariaDbCheckpoint("0-1-8", serverId: 1), MariaDbServer("0-2-7", state: "0-1-5,0-2-7", serverId: 2, strict: false), new MySqlResumeValidationOptions { RequireGtidStrictMode = false });
        lax.Verdict.ShouldBe(MySqlResumeVerdict.CheckpointAhead);
    }

    [Fact]
    public void Decide_SameSequenceWrittenByAnotherServer_HistoryDiverged()
    {
        var server = MariaDbServer("0-1-100", state: "0-1-100,0-2-90", serverId: 1);
        var result = Decide(MariaDbCheckpoint("0-2-100", serverId: 1), server);
        result.Verdict.ShouldBe(MySqlResumeVerdict.HistoryDiverged);
        result.Message.ShouldContain("the same sequence number written by another server");
    }

    [Fact]
    public void Decide_ServersLastGtidInDomainBeforeCheckpoint_HistoryDivergedUnderStrictMode()
    {
        // Server 2 wrote up to 0-2-60 here; the checkpoint claims 0-2-80, which this binlog does not hold.
        var server = MariaDbServer("0-1-100", state: "0-1-100,0-2-60");
        var strict = Decide(MariaDbCheckpoint("0-2-80"), server);
        strict.Verdict.ShouldBe(MySqlResumeVerdict.HistoryDiverged);
        strict.Message.ShouldContain("server_id 2's last GTID in domain 0 here is 0-2-60");

        // Without strict mode sequence numbers do not order a server's transactions, so that rule is skipped.
        var lax = Decide(MariaDbCheckpoint("0-2-80"), MariaDbServer("0-1-100", state: "0-1-100,0-2-60", strict: false), new MySqlResumeValidationOptions { RequireGtidStrictMode = false });
        lax.Verdict.ShouldBe(MySqlResumeVerdict.Resume);
    }

    [Fact]
    public void Decide_StrictModeOff_MisconfiguredByDefault()
    {
        var result = Decide(MariaDbCheckpoint("0-1-80"), MariaDbServer("0-1-100", strict: false));
        result.Verdict.ShouldBe(MySqlResumeVerdict.Misconfigured);
        result.Message.ShouldContain("gtid_strict_mode");
        result.Message.ShouldContain("RequireGtidStrictMode");
    }

    [Fact]
    public void Decide_ServerIdNeverWroteToTheDomain_MismatchForAnotherServersCheckpointDivergedForOurOwn()
    {
        var server = MariaDbServer("0-101-10", serverId: 101);
        var foreign = Decide(MariaDbCheckpoint("0-1-5", serverId: 1), server);
        foreign.Verdict.ShouldBe(MySqlResumeVerdict.ServerMismatch);
        foreign.Message.ShouldContain("checkpoint server_id 1");

        // The checkpoint says it came from this server, but the server never binlogged a GTID of server 1 in domain 0.
        var own = Decide(MariaDbCheckpoint("0-1-5", serverId: 101), server);
        own.Verdict.ShouldBe(MySqlResumeVerdict.HistoryDiverged);
        own.Message.ShouldContain("error 1945");
    }

    [Fact]
    public void Decide_DomainUnknownToTheServer_ServerMismatchUnlessIgnored()
    {
        var server = MariaDbServer("0-1-100", earliest: "0-1-10");
        var checkpoint = MariaDbCheckpoint("0-1-50,7-1-3", serverId: null);

        var refused = Decide(checkpoint, server);
        refused.Verdict.ShouldBe(MySqlResumeVerdict.ServerMismatch);
        refused.Message.ShouldContain("Domain(s) 7");
        refused.Message.ShouldContain("IgnoreMissingDomains");

        var ignored = Decide(checkpoint, server, new MySqlResumeValidationOptions { IgnoreMissingDomains = true });
        ignored.Verdict.ShouldBe(MySqlResumeVerdict.Resume);
        ignored.IgnoredDomains.ToArray().ShouldBe(new uint[] { 7 });
    }

    [Fact]
    public void Decide_DomainUnknownOnTheSameServer_HistoryDiverged()
    {
        var result = Decide(MariaDbCheckpoint("0-1-50,7-1-3", serverId: 1), MariaDbServer("0-1-100"));
        result.Verdict.ShouldBe(MySqlResumeVerdict.HistoryDiverged);
        result.Message.ShouldContain("RESET MASTER");
    }

    [Fact]
    public void Decide_ServerWithoutAnyGtidHistory_CheckpointAhead()
    {
        // Right after RESET MASTER: gtid_binlog_pos and gtid_binlog_state are empty.
        var result = Decide(MariaDbCheckpoint("0-1-50", serverId: 1, binlog: "binlog.000004:900"), MariaDbServer(string.Empty, earliest: string.Empty, files: [("binlog.000001", 329)]));
        result.Verdict.ShouldBe(MySqlResumeVerdict.CheckpointAhead);
        result.Message.ShouldContain("RESET MASTER");
    }

    [Fact]
    public void Decide_BinlogGtidPosDisagreesWithCheckpoint_BinlogReset()
    {
        var files = new[] { ("binlog.000001", 4000UL) };
        var checkpoint = MariaDbCheckpoint("0-1-12", binlog: "binlog.000001:1402");

        var mismatch = Decide(checkpoint, MariaDbServer("0-1-30", files: files, mapping: new BinlogGtidMapping(BinlogPosition.Parse("binlog.000001:1402"), MariaDbGtidPosition.Parse("0-1-5"))));
        mismatch.Verdict.ShouldBe(MySqlResumeVerdict.BinlogReset);
        mismatch.Message.ShouldContain("'0-1-5'");
        mismatch.ErrorCode.ShouldBe(CheckpointErrorCode.HistoryDiverged);

        var notABoundary = Decide(checkpoint, MariaDbServer("0-1-30", files: files, mapping: new BinlogGtidMapping(BinlogPosition.Parse("binlog.000001:1402"), null)));
        notABoundary.Verdict.ShouldBe(MySqlResumeVerdict.BinlogReset);
        notABoundary.Message.ShouldContain("not an event boundary");

        var same = Decide(checkpoint, MariaDbServer("0-1-30", files: files, mapping: new BinlogGtidMapping(BinlogPosition.Parse("binlog.000001:1402"), MariaDbGtidPosition.Parse("0-1-12"))));
        same.Verdict.ShouldBe(MySqlResumeVerdict.Resume);
        same.BinlogPositionUsable.ShouldBeTrue();
    }

    [Fact]
    public void Decide_FileShorterOrNumberingRestartedWhileGtidsPass_BinlogReset()
    {
        var shorter = Decide(MariaDbCheckpoint("0-1-12", binlog: "binlog.000001:5000"), MariaDbServer("0-1-30", files: [("binlog.000001", 4000)]));
        shorter.Verdict.ShouldBe(MySqlResumeVerdict.BinlogReset);
        shorter.Message.ShouldContain("only 4000 bytes");

        var renumbered = Decide(MariaDbCheckpoint("0-1-12", binlog: "binlog.000006:500"), MariaDbServer("0-1-30", files: [("binlog.000001", 4000), ("binlog.000002", 600)]));
        renumbered.Verdict.ShouldBe(MySqlResumeVerdict.BinlogReset);
        renumbered.Message.ShouldContain("numbering started again");
    }

    [Fact]
    public void Decide_BinlogFilePurgedButGtidsAvailable_ResumesByGtidOrRefusesWhenPositionRequired()
    {
        var server = MariaDbServer("0-1-100", earliest: "0-1-50");
        var checkpoint = MariaDbCheckpoint("0-1-80", binlog: "binlog.000002:700");

        var byGtid = Decide(checkpoint, server);
        byGtid.Verdict.ShouldBe(MySqlResumeVerdict.Resume);
        byGtid.BinlogPositionUsable.ShouldBeFalse();

        var byPosition = Decide(checkpoint, server, new MySqlResumeValidationOptions { RequireBinlogPosition = true });
        byPosition.Verdict.ShouldBe(MySqlResumeVerdict.PositionPurged);
    }

    [Fact]
    public void Decide_FailoverCheckpointWithOtherServersBinlog_ResumesByGtidAndIgnoresTheFile()
    {
        // The new primary (server_id 2) binlogged server 1's transactions (log_slave_updates); its binlog.000006 is not
        // the old primary's, so the mapping is not consulted.
        var server = MariaDbServer("0-2-110", state: "0-1-100,0-2-110", serverId: 2, files: [("binlog.000006", 9000)],
            mapping: new BinlogGtidMapping(BinlogPosition.Parse("binlog.000006:700"), MariaDbGtidPosition.Parse("0-2-101")));
        var checkpoint = MariaDbCheckpoint("0-1-90", serverId: 1, binlog: "binlog.000006:700");

        Decide(checkpoint, server).Verdict.ShouldBe(MySqlResumeVerdict.Resume);
        Decide(checkpoint, server, new MySqlResumeValidationOptions { RequireBinlogPosition = true }).Verdict.ShouldBe(MySqlResumeVerdict.ServerMismatch);
    }

    [Fact]
    public void Decide_BinlogOnlyCheckpointNotAtAnEventBoundary_BinlogReset()
    {
        var files = new[] { ("binlog.000001", 4000UL) };
        var checkpoint = new MariaDbOffset(null, BinlogPosition.Parse("binlog.000001:1403"), 1);
        var server = MariaDbServer("0-1-30", files: files, mapping: new BinlogGtidMapping(checkpoint.BinlogPosition!, null));

        Decide(checkpoint, server).Verdict.ShouldBe(MySqlResumeVerdict.BinlogReset);
        Decide(new MariaDbOffset(null, BinlogPosition.Parse("binlog.000001:1403"), 2), server).Verdict.ShouldBe(MySqlResumeVerdict.ServerMismatch);
    }
}
