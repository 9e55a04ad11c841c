using System.Globalization;
using Cdc.Checkpoint.Postgres.Replication;
using Cdc.Checkpoint.Postgres.Store;
using Cdc.Checkpoint.Postgres.Tests.Support;
using Cdc.Checkpoint.Postgres.Validation;
using Cdc.Checkpoint.TestServers;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using NpgsqlTypes;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Validation;

/// <summary>
/// Every resume verdict, reproduced on a real PostgreSQL 15: the slot dropped, dropped and re-created, advanced past
/// the checkpoint, held by another connection, of another plugin or database, invalidated by
/// max_slot_wal_keep_size, a second cluster, a checkpoint ahead of the server, and a timeline switch.
/// </summary>
public sealed class ResumeValidationServerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<PostgresResumeValidationResult> ValidateAsync(
        PgScenario scenario, PostgresOffset? checkpoint, PostgresResumeValidationOptions? options = null, string? slotName = null, string? connectionString = null)
    {
        await using var replication = new LogicalReplicationConnection(connectionString ?? scenario.ReplicationConnectionString);
        await replication.Open(Ct);
        var validator = new PostgresResumeValidator(scenario.DataSource, options);
        return await validator.ValidateAsync(replication, slotName ?? scenario.SlotName, checkpoint, Ct);
    }

    private static async Task<ReplicationSystemIdentification> IdentifyAsync(string replicationConnectionString)
    {
        await using var replication = new LogicalReplicationConnection(replicationConnectionString);
        await replication.Open(Ct);
        return await replication.IdentifySystem(Ct);
    }

    /// <summary>A checkpoint as a consumer would have written it: this server's identity, at <paramref name="lsn"/>.</summary>
    private static async Task<PostgresOffset> CheckpointAtAsync(PgScenario scenario, NpgsqlLogSequenceNumber lsn, string? slotName = null)
    {
        var identity = await IdentifyAsync(scenario.ReplicationConnectionString);
        return new PostgresOffset(lsn, slotName ?? scenario.SlotName, ulong.Parse(identity.SystemId, CultureInfo.InvariantCulture), identity.Timeline, identity.DbName);
    }

    private static void ShouldBeRefused(PostgresResumeValidationResult result, PostgresResumeVerdict verdict, CheckpointErrorCode code, params string[] messageParts)
    {
        result.Verdict.ShouldBe(verdict, result.Message);
        result.Action.ShouldBe(PostgresResumeAction.Refuse);
        result.IsRefused.ShouldBeTrue();
        result.ErrorCode.ShouldBe(code);
        var ex = Should.Throw<CheckpointException>(result.ThrowIfRefused);
        ex.ErrorCode.ShouldBe(code);
        foreach (var part in messageParts)
        {
            ex.Message.ShouldContain(part, Case.Insensitive);
        }
    }

    [Fact]
    public async Task Validate_LegacyRustcdcSlotName_RefusedWithTheReasonAndTheFix()
    {
        await using var scenario = await PgScenario.CreateAsync();
        var legacy = PostgresOffsetCodec.Parse("postgres", """{"lsn":99,"slot_name":"slot-a"}""");

        var ex = await Should.ThrowAsync<CheckpointException>(() => ValidateAsync(scenario, legacy));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
        ex.Message.ShouldContain("'slot-a', which is not a valid PostgreSQL slot name");
        ex.Message.ShouldContain("cdc-checkpoint rewind");
    }

    [Fact]
    public async Task Validate_NoCheckpointNoSlot_FreshStartCreatesTheSlot()
    {
        await using var scenario = await PgScenario.CreateAsync();

        var result = await ValidateAsync(scenario, checkpoint: null);

        result.Verdict.ShouldBe(PostgresResumeVerdict.FreshStart);
        result.Action.ShouldBe(PostgresResumeAction.CreateSlot);
        result.ErrorCode.ShouldBeNull();
        result.Facts.Slot.ShouldBeNull();
        result.Facts.ServerDatabase.ShouldBe(scenario.DatabaseName);
        Should.NotThrow(result.ThrowIfRefused);
    }

    [Fact]
    public async Task Validate_SlotBehindCheckpoint_ResumesAtTheCheckpoint()
    {
        await using var scenario = await PgScenario.CreateAsync();
        await scenario.CreateSlotAsync();
        await scenario.InsertAsync(1, 3);
        var checkpoint = await CheckpointAtAsync(scenario, await scenario.CurrentWalAsync());

        var result = await ValidateAsync(scenario, checkpoint);

        result.Verdict.ShouldBe(PostgresResumeVerdict.Resume, result.Message);
        result.Action.ShouldBe(PostgresResumeAction.StartAtCheckpoint);
        result.StartLsn.ShouldBe(checkpoint.Lsn);
        result.Facts.Slot.ShouldNotBeNull().ConfirmedFlushLsn.ShouldNotBeNull().ShouldBeLessThan(checkpoint.Lsn);
        result.Facts.Checkpoint.ShouldBe(checkpoint);
    }

    [Fact]
    public async Task Validate_SlotDropped_SlotMissingRefusedUnlessRecreateLostSlot()
    {
        await using var scenario = await PgScenario.CreateAsync();
        await scenario.CreateSlotAsync();
        var checkpoint = await CheckpointAtAsync(scenario, (await scenario.SlotAsync())!.ConfirmedFlushLsn!.Value);
        await scenario.ExecAsync("SELECT pg_drop_replication_slot($1)", scenario.SlotName);

        var refused = await ValidateAsync(scenario, checkpoint);
        var accepted = await ValidateAsync(scenario, checkpoint, new PostgresResumeValidationOptions { RecreateLostSlot = true });

        ShouldBeRefused(refused, PostgresResumeVerdict.SlotMissing, CheckpointErrorCode.PositionUnavailable, scenario.SlotName, "does not exist", "RecreateLostSlot");
        accepted.Verdict.ShouldBe(PostgresResumeVerdict.SlotMissing);
        accepted.Action.ShouldBe(PostgresResumeAction.CreateSlot);
        accepted.GapAccepted.ShouldBeTrue();
    }

    [Fact]
    public async Task Validate_SlotDroppedAndRecreatedAfterWrites_SlotAheadMeansEventsLost()
    {
        // DBZ-5739: the slot is dropped and re-created under the same name; the new slot starts at the current WAL and a
        // resume would silently skip everything written in between.
        await using var scenario = await PgScenario.CreateAsync();
        await scenario.CreateSlotAsync();
        var checkpoint = await CheckpointAtAsync(scenario, (await scenario.SlotAsync())!.ConfirmedFlushLsn!.Value);
        await scenario.InsertAsync(1, 5);
        await scenario.ExecAsync("SELECT pg_drop_replication_slot($1)", scenario.SlotName);
        await scenario.CreateSlotAsync();

        var refused = await ValidateAsync(scenario, checkpoint);
        var accepted = await ValidateAsync(scenario, checkpoint, new PostgresResumeValidationOptions { AcceptSlotAhead = true });

        var confirmed = refused.Facts.Slot.ShouldNotBeNull().ConfirmedFlushLsn.ShouldNotBeNull();
        confirmed.ShouldBeGreaterThan(checkpoint.Lsn);
        ShouldBeRefused(refused, PostgresResumeVerdict.SlotAhead, CheckpointErrorCode.PositionUnavailable, "events lost", PostgresOffset.FormatLsn(confirmed), "re-created", "AcceptSlotAhead");
        accepted.Action.ShouldBe(PostgresResumeAction.StartAtSlot);
        accepted.StartLsn.ShouldBe(confirmed);
        accepted.GapAccepted.ShouldBeTrue();
    }

    [Fact]
    public async Task Validate_SlotAdvancedPastCheckpoint_SlotAhead()
    {
        await using var scenario = await PgScenario.CreateAsync();
        await scenario.CreateSlotAsync();
        await scenario.InsertAsync(1, 3);
        var checkpoint = await CheckpointAtAsync(scenario, await scenario.CurrentWalAsync());
        await scenario.InsertAsync(10, 3);
        await scenario.ExecAsync("SELECT pg_replication_slot_advance($1, pg_current_wal_lsn())", scenario.SlotName);

        var result = await ValidateAsync(scenario, checkpoint);

        ShouldBeRefused(result, PostgresResumeVerdict.SlotAhead, CheckpointErrorCode.PositionUnavailable, "pg_replication_slot_advance", PostgresOffset.FormatLsn(checkpoint.Lsn));
        result.Facts.Slot!.ConfirmedFlushLsn!.Value.ShouldBeGreaterThan(checkpoint.Lsn);
    }

    [Fact]
    public async Task Validate_CheckpointAheadOfServer_CheckpointAheadWithoutOptIn()
    {
        await using var scenario = await PgScenario.CreateAsync();
        await scenario.CreateSlotAsync();
        var current = await scenario.CurrentWalAsync();
        var checkpoint = await CheckpointAtAsync(scenario, new NpgsqlLogSequenceNumber((ulong)current + (1UL << 30)));
        var permissive = new PostgresResumeValidationOptions { AcceptSlotAhead = true, RecreateLostSlot = true, AdoptSlotWithoutCheckpoint = true };

        var result = await ValidateAsync(scenario, checkpoint, permissive);

        ShouldBeRefused(result, PostgresResumeVerdict.CheckpointAhead, CheckpointErrorCode.CheckpointAhead, "never wrote", "backup");
        result.Facts.ServerWalPosition.ShouldBeLessThan(checkpoint.Lsn);
    }

    [Fact]
    public async Task Validate_SecondClusterFromAnotherInitdb_SystemMismatch()
    {
        await using var scenario = await PgScenario.CreateAsync();
        await scenario.CreateSlotAsync();
        var checkpoint = await CheckpointAtAsync(scenario, (await scenario.SlotAsync())!.ConfirmedFlushLsn!.Value);

        await using var otherCluster = await PostgresTestServer.StartNewClusterAsync(Ct);
        await using var other = await PgScenario.CreateAsync(otherCluster);
        await other.CreateSlotAsync(scenario.SlotName); // same slot name, same database layout: only the identity differs
        var result = await ValidateAsync(other, checkpoint, new PostgresResumeValidationOptions { AcceptSlotAhead = true }, slotName: scenario.SlotName);

        ShouldBeRefused(result, PostgresResumeVerdict.SystemMismatch, CheckpointErrorCode.ServerMismatch, checkpoint.SystemIdentifier!.Value.ToString(CultureInfo.InvariantCulture), "initdb");
        result.Facts.ServerSystemIdentifier.ShouldNotBe(checkpoint.SystemIdentifier!.Value);
    }

    [Fact]
    public async Task Validate_SlotStreamedByAnotherConnection_SlotInUseIsTransient()
    {
        await using var scenario = await PgScenario.CreateAsync();
        await scenario.CreateSlotAsync();
        var checkpoint = await CheckpointAtAsync(scenario, (await scenario.SlotAsync())!.ConfirmedFlushLsn!.Value);

        await using var holder = new LogicalReplicationConnection(scenario.ReplicationConnectionString);
        await holder.Open(Ct);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var stream = holder.StartReplication(new PgOutputReplicationSlot(scenario.SlotName), new PgOutputReplicationOptions("pub", PgOutputProtocolVersion.V1), stop.Token)
            .GetAsyncEnumerator(stop.Token);
        var pending = stream.MoveNextAsync().AsTask();
        await WaitUntilAsync(async () => (await scenario.SlotAsync())!.ActivePid == holder.ProcessID);

        var result = await ValidateAsync(scenario, checkpoint);

        ShouldBeRefused(result, PostgresResumeVerdict.SlotInUse, CheckpointErrorCode.InUse, holder.ProcessID.ToString(CultureInfo.InvariantCulture), "pg_terminate_backend");
        result.ToException().IsTransient.ShouldBeTrue();
        result.Facts.Slot!.ActivePid.ShouldBe(holder.ProcessID);

        await stop.CancelAsync();
        try
        {
            await pending;
        }
        catch (OperationCanceledException)
        {
            // The holder is being stopped.
        }

        await stream.DisposeAsync();
    }

    [Fact]
    public async Task Validate_SlotOfAnotherPlugin_WrongPlugin()
    {
        await using var scenario = await PgScenario.CreateAsync();
        await scenario.CreateSlotAsync(plugin: "test_decoding");
        var checkpoint = await CheckpointAtAsync(scenario, (await scenario.SlotAsync())!.ConfirmedFlushLsn!.Value);

        var withCheckpoint = await ValidateAsync(scenario, checkpoint);
        var withoutCheckpoint = await ValidateAsync(scenario, null, new PostgresResumeValidationOptions { AdoptSlotWithoutCheckpoint = true });

        ShouldBeRefused(withCheckpoint, PostgresResumeVerdict.WrongPlugin, CheckpointErrorCode.Misconfigured, "test_decoding", "pgoutput");
        ShouldBeRefused(withoutCheckpoint, PostgresResumeVerdict.WrongPlugin, CheckpointErrorCode.Misconfigured, "test_decoding");
    }

    [Fact]
    public async Task Validate_SlotOfAnotherDatabase_WrongDatabase()
    {
        await using var scenario = await PgScenario.CreateAsync();
        await using var elsewhere = await PgScenario.CreateAsync(prefix: "elsewhere");
        await elsewhere.CreateSlotAsync(scenario.SlotName);
        var checkpoint = await CheckpointAtAsync(scenario, await scenario.CurrentWalAsync());

        var slotElsewhere = await ValidateAsync(scenario, checkpoint);
        var checkpointElsewhere = await ValidateAsync(elsewhere, checkpoint, slotName: scenario.SlotName);

        ShouldBeRefused(slotElsewhere, PostgresResumeVerdict.WrongDatabase, CheckpointErrorCode.Misconfigured, elsewhere.DatabaseName, scenario.DatabaseName);
        ShouldBeRefused(checkpointElsewhere, PostgresResumeVerdict.WrongDatabase, CheckpointErrorCode.Misconfigured, "belongs to database", scenario.DatabaseName);
    }

    [Fact]
    public async Task Validate_SlotWithoutCheckpoint_RefusedUnlessAdopted()
    {
        await using var scenario = await PgScenario.CreateAsync();
        await scenario.CreateSlotAsync();
        var confirmed = (await scenario.SlotAsync())!.ConfirmedFlushLsn!.Value;

        var refused = await ValidateAsync(scenario, null);
        var adopted = await ValidateAsync(scenario, null, new PostgresResumeValidationOptions { AdoptSlotWithoutCheckpoint = true });

        ShouldBeRefused(refused, PostgresResumeVerdict.SlotWithoutCheckpoint, CheckpointErrorCode.Misconfigured, "no checkpoint", "AdoptSlotWithoutCheckpoint");
        adopted.Action.ShouldBe(PostgresResumeAction.StartAtSlot);
        adopted.StartLsn.ShouldBe(confirmed);
    }

    [Fact]
    public async Task Validate_SlotInvalidatedByMaxSlotWalKeepSize_SlotInvalidated()
    {
        await using var cluster = await PostgresTestServer.StartNewClusterAsync(Ct);
        await using var scenario = await PgScenario.CreateAsync(cluster);
        await scenario.ExecAsync("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
        await scenario.ExecAsync("SELECT pg_reload_conf()");
        await scenario.CreateSlotAsync();
        var checkpoint = await CheckpointAtAsync(scenario, (await scenario.SlotAsync())!.ConfirmedFlushLsn!.Value);
        var healthy = (await PostgresSlotHealth.ReadAsync(scenario.DataSource, scenario.SlotName, Ct)).ShouldNotBeNull();
        healthy.WalStatus.ShouldBe(ReplicationSlotWalStatus.Reserved);
        healthy.SafeWalSize.ShouldNotBeNull().ShouldBeGreaterThan(0); // limited by max_slot_wal_keep_size (null when unlimited)
        healthy.Active.ShouldBeFalse();
        await WaitUntilAsync(async () =>
        {
            for (var i = 0; i < 4; i++)
            {
                await scenario.InsertAsync(100 + (i * 10) + Random.Shared.Next(1_000_000), 1);
                await scenario.ExecAsync("SELECT pg_switch_wal()");
            }

            await scenario.ExecAsync("CHECKPOINT");
            return (await scenario.SlotAsync())!.WalStatus == "lost";
        });

        var refused = await ValidateAsync(scenario, checkpoint);
        var recreate = await ValidateAsync(scenario, checkpoint, new PostgresResumeValidationOptions { RecreateLostSlot = true });

        ShouldBeRefused(refused, PostgresResumeVerdict.SlotInvalidated, CheckpointErrorCode.PositionUnavailable, "max_slot_wal_keep_size", "pg_drop_replication_slot");
        refused.Facts.Slot!.RestartLsn.ShouldBeNull();
        recreate.Action.ShouldBe(PostgresResumeAction.RecreateSlot);
        var lost = (await PostgresSlotHealth.ReadAsync(scenario.DataSource, scenario.SlotName, Ct)).ShouldNotBeNull();
        lost.WalStatus.ShouldBe(ReplicationSlotWalStatus.Lost);
        lost.RestartLsn.ShouldBeNull();
        lost.RetainedWalBytes.ShouldBe(0);
    }

    [Fact]
    public async Task Validate_AfterTimelineSwitch_ResumesBeforeTheSwitchPointAndRefusesPastIt()
    {
        await using var cluster = await PostgresTestServer.StartNewClusterAsync(Ct);
        await using (var scenario = await PgScenario.CreateAsync(cluster))
        {
            await scenario.CreateSlotAsync();
            await scenario.InsertAsync(1, 3);
            var before = await CheckpointAtAsync(scenario, await scenario.CurrentWalAsync());
            before.Timeline.ShouldBe(1u);

            // Archive recovery that ends when pg_wal runs out promotes to a new timeline, like a failover.
            File.AppendAllText(Path.Combine(cluster.DataDirectory!, "postgresql.conf"), "restore_command = 'false'\n");
            File.WriteAllText(Path.Combine(cluster.DataDirectory!, "recovery.signal"), string.Empty);
            await cluster.RestartAsync(cancellationToken: Ct);
            scenario.DataSource.Clear();
            await WaitUntilAsync(async () => !await scenario.ScalarAsync<bool>("SELECT pg_is_in_recovery()"));
            await scenario.InsertAsync(10, 3);
            var identity = await IdentifyAsync(scenario.ReplicationConnectionString);
            identity.Timeline.ShouldBe(2u);

            var resume = await ValidateAsync(scenario, before);
            var switchPoint = resume.Facts.TimelineSwitchPoint.ShouldNotBeNull();
            var pastSwitch = before.WithLsn(new NpgsqlLogSequenceNumber((ulong)switchPoint + 8));
            var diverged = await ValidateAsync(scenario, pastSwitch);
            var unknownTimeline = await ValidateAsync(scenario, new PostgresOffset(before.Lsn, before.SlotName, before.SystemIdentifier, 3, before.Database));

            resume.Verdict.ShouldBe(PostgresResumeVerdict.ResumeOnNewTimeline, resume.Message);
            resume.Action.ShouldBe(PostgresResumeAction.StartAtCheckpoint);
            switchPoint.ShouldBeGreaterThanOrEqualTo(before.Lsn);
            ShouldBeRefused(diverged, PostgresResumeVerdict.TimelineDiverged, CheckpointErrorCode.HistoryDiverged, "timeline 1", PostgresOffset.FormatLsn(switchPoint));
            ShouldBeRefused(unknownTimeline, PostgresResumeVerdict.TimelineDiverged, CheckpointErrorCode.HistoryDiverged, "timeline 3");

            // A session resuming that checkpoint re-records it on the new timeline, as an audited rewrite.
            var store = new PostgresCheckpointStore(scenario.DataSource, "timeline");
            await store.CreateSchemaAsync(Ct);
            await store.SaveAsync(before, 5, Ct);
            var options = new PostgresReplicationSessionOptions { SlotName = scenario.SlotName, PublicationNames = ["pub"] };
            await using (var session = await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, store, options, cancellationToken: Ct))
            {
                session.Validation.Verdict.ShouldBe(PostgresResumeVerdict.ResumeOnNewTimeline);
                session.StartPosition.Offset.Timeline.ShouldBe(2u);
            }

            var moved = (PostgresOffset)(await store.LoadAsync("postgres", Ct))!.Offset;
            moved.Lsn.ShouldBe(before.Lsn);
            moved.Timeline.ShouldBe(2u);
            (await scenario.ScalarAsync<string>("SELECT reason FROM cdc_checkpoint_audit WHERE name = 'timeline'")).ShouldStartWith("timeline switch 1 -> 2");
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("The server did not reach the expected state within 30 s.");
            }

            await Task.Delay(50, Ct);
        }
    }
}
