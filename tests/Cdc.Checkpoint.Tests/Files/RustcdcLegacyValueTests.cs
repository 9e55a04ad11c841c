using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using NpgsqlTypes;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Files;

/// <summary>
/// rustcdc version 1 records as rustcdc wrote them: slot names and GTID text it never checked stay readable and
/// migratable exactly as written (rustcdc's own test values: slot "slot-a", MySQL gtid "1-2-3" and "gtid-1").
/// </summary>
public sealed class RustcdcLegacyValueTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static FileCheckpointOptions Options => new() { Codecs = OffsetCodecRegistry.Empty.WithPostgres().WithMySql() };

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Load_DocumentedV1ExampleWithSlotNameSlotA_ReadsAsWrittenAndMigratesToV3()
    {
        var example = RecordIntegrityTests.DocumentedRecords().Single(e => e.Contains("\"checkpoint_format_version\": 1", StringComparison.Ordinal));
        example.ShouldContain("\"slot_name\": \"slot-a\"");
        _dir.Write("checkpoint_postgres.json", example);
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);

        var offset = (await checkpoint.LoadOffsetAsync<PostgresOffset>(cancellationToken: Ct)).ShouldNotBeNull();
        offset.SlotName.ShouldBe("slot-a");
        offset.HasValidSlotName.ShouldBeFalse();
        offset.Lsn.ShouldBe(new NpgsqlLogSequenceNumber(99));

        (await checkpoint.UpgradeAsync(cancellationToken: Ct)).ShouldHaveSingleItem().ToVersion.ShouldBe(3);
        var migrated = (await checkpoint.LoadAsync("postgres", Ct)).ShouldNotBeNull();
        migrated.FormatVersion.ShouldBe(3);
        migrated.CommittedEventCount.ShouldBe(11UL);
        migrated.Offset.ShouldBe(offset);
        File.ReadAllText(_dir.File("checkpoint_postgres.json.v1.bak")).ShouldBe(example);
    }

    [Fact]
    public void PostgresOffset_CreatedInCode_StillRequiresAValidSlotName()
    {
        Should.Throw<ArgumentException>(() => new PostgresOffset(new NpgsqlLogSequenceNumber(1), "slot-a"));
        var stored = (PostgresOffset)PostgresOffsetCodec.Parse("postgres", """{"lsn":"0/1","slot_name":"slot-a"}""");
        stored.WithLsn(new NpgsqlLogSequenceNumber(2)).SlotName.ShouldBe("slot-a");
        Should.Throw<FormatException>(() => PostgresOffsetCodec.Parse("postgres", """{"lsn":"0/1","slot_name":""}"""));
    }

    [Theory]
    [InlineData("0-1-100")]
    [InlineData("1-2-3")]
    [InlineData("gtid-1")]
    public async Task Load_V1MySqlRecordWithNonMySqlGtid_KeptAsWrittenAndMigratedAsIs(string gtid)
    {
        var offsetJson = $$"""{"gtid":"{{gtid}}","binlog_file":"mysql-bin.000001","binlog_pos":8}""";
        _dir.Write("checkpoint_mysql.json", $$"""{"checkpoint_format_version":1,"source_type":"mysql","committed_event_count":7,"offset":{{offsetJson}}}""");
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);

        var record = (await checkpoint.LoadAsync("mysql", Ct)).ShouldNotBeNull();
        record.Offset.ShouldBeOfType<GenericOffset>().ToJsonString().ShouldBe(offsetJson);
        var typed = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.LoadOffsetAsync<MySqlOffset>(cancellationToken: Ct));
        typed.ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
        typed.Message.ShouldContain("legacy rustcdc value");

        await checkpoint.UpgradeAsync(cancellationToken: Ct);
        var migrated = (await checkpoint.LoadAsync("mysql", Ct)).ShouldNotBeNull();
        migrated.FormatVersion.ShouldBe(3);
        migrated.CommittedEventCount.ShouldBe(7UL);
        migrated.Offset.ToJsonString().ShouldBe(offsetJson);
    }

    [Fact]
    public void Validate_LegacyMySqlRecordHoldingAMariaDbGtid_IsJudgedAsAMariaDbPosition()
    {
        var legacy = GenericOffset.Parse("mysql", """{"gtid":"0-1-100","binlog_file":"mysql-bin.000001","binlog_pos":8}""");
        var interpreted = MySql.Serialization.RustCdcV1.Interpret(legacy).ShouldBeOfType<MariaDbOffset>();
        interpreted.GtidPosition.ShouldBe(MariaDbGtidPosition.Parse("0-1-100"));
        interpreted.BinlogPosition.ShouldBe(BinlogPosition.Parse("mysql-bin.000001:8"));

        var opaque = GenericOffset.Parse("mysql", """{"gtid":"gtid-1","binlog_file":"mysql-bin.000001","binlog_pos":8}""");
        var ex = Should.Throw<CheckpointException>(() => MySql.Serialization.RustCdcV1.Interpret(opaque));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Misconfigured);
        ex.Message.ShouldContain("'gtid-1' is neither a MySQL GTID set nor a MariaDB GTID position");

        // Everything else passes through unchanged.
        var kafka = GenericOffset.Parse("kafka", """{"gtid":"x"}""");
        MySql.Serialization.RustCdcV1.Interpret(kafka).ShouldBeSameAs(kafka);
    }
}
