using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using Cdc.Checkpoint.TestServers;
using Npgsql;
using Npgsql.Replication;
using NpgsqlTypes;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Integration;

/// <summary>
/// Real PostgreSQL 15: the throwaway servers the integration tests run on, and the offset's text rules checked
/// against the server's own parser. These tests fail (never skip) when no server can be started.
/// </summary>
public sealed class ThrowawayServerTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static async Task<ReplicationSystemIdentification> IdentifyAsync(PostgresTestServer server)
    {
        await using var replication = new LogicalReplicationConnection(server.ReplicationConnectionString);
        await replication.Open(Token);
        return await replication.IdentifySystem(Token);
    }

    [Fact]
    public async Task IdentifySystem_SharedServer_ReportsSystemTimelineAndPosition()
    {
        var server = await PostgresTestServer.GetAsync(Token);

        var identity = await IdentifyAsync(server);

        ulong.Parse(identity.SystemId).ShouldNotBe(0UL);
        identity.Timeline.ShouldBeGreaterThanOrEqualTo(1u);
        ((ulong)identity.XLogPos).ShouldBeGreaterThan(0UL);
        identity.DbName.ShouldBe(server.Database);
    }

    [Fact]
    public async Task IdentifySystem_SharedServer_AgreesWithControlDataAndBuildsAnOffset()
    {
        var server = await PostgresTestServer.GetAsync(Token);
        var identity = await IdentifyAsync(server);
        await using var connection = new NpgsqlConnection(server.ConnectionString);
        await connection.OpenAsync(Token);
        await using var command = new NpgsqlCommand("SELECT system_identifier::text, pg_current_wal_lsn()::text FROM pg_control_system()", connection);
        await using var reader = await command.ExecuteReaderAsync(Token);
        (await reader.ReadAsync(Token)).ShouldBeTrue();
        var controlSystemId = reader.GetString(0);
        var currentLsn = PostgresOffset.ParseLsn(reader.GetString(1));

        var offset = new PostgresOffset(identity.XLogPos, "cdc_slot", ulong.Parse(identity.SystemId), identity.Timeline, identity.DbName);

        controlSystemId.ShouldBe(identity.SystemId);
        currentLsn.ShouldBeGreaterThanOrEqualTo(identity.XLogPos);
        PostgresOffsetCodec.Parse("postgres", offset.ToJsonString()).ShouldBe(offset);
        offset.WithLsn(currentLsn).CompareTo(offset).ShouldBe(currentLsn == identity.XLogPos ? OffsetOrder.Same : OffsetOrder.After);
    }

    [Fact]
    public async Task StartNewClusterAsync_SecondCluster_HasDifferentSystemIdentifier()
    {
        var shared = await PostgresTestServer.GetAsync(Token);
        await using var second = await PostgresTestServer.StartNewClusterAsync(Token);

        var first = await IdentifyAsync(shared);
        var other = await IdentifyAsync(second);

        other.SystemId.ShouldNotBe(first.SystemId);
        second.ConnectionString.ShouldNotBe(shared.ConnectionString);
        var a = new PostgresOffset(first.XLogPos, "same_slot", ulong.Parse(first.SystemId), first.Timeline);
        var b = new PostgresOffset(other.XLogPos, "same_slot", ulong.Parse(other.SystemId), other.Timeline);
        a.CompareTo(b).ShouldBe(OffsetOrder.Diverged);
    }

    [Fact]
    public async Task RestartAsync_NewCluster_KeepsPortAndIdentityAndDisposeRemovesIt()
    {
        var cluster = await PostgresTestServer.StartNewClusterAsync(Token);
        string dataDirectory;
        await using (cluster)
        {
            dataDirectory = cluster.DataDirectory.ShouldNotBeNull();
            var before = await IdentifyAsync(cluster);

            await cluster.RestartAsync(immediate: true, Token);
            var after = await IdentifyAsync(cluster);

            after.SystemId.ShouldBe(before.SystemId);
            after.Timeline.ShouldBe(before.Timeline);
            after.XLogPos.ShouldBeGreaterThanOrEqualTo(before.XLogPos);
            cluster.ReadLogTail().ShouldContain("database system is ready to accept connections");
        }

        Directory.Exists(dataDirectory).ShouldBeFalse();
        await using var connection = new NpgsqlConnection(cluster.ConnectionString);
        await Should.ThrowAsync<NpgsqlException>(() => connection.OpenAsync(Token));
    }

    [Fact]
    public async Task CreateDatabaseAsync_SharedServer_GivesAnEmptyDatabaseOfItsOwn()
    {
        var server = await PostgresTestServer.GetAsync(Token);

        var connectionString = await server.CreateDatabaseAsync("offsets", Token);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(Token);
        await using var command = new NpgsqlCommand("SELECT current_database(), count(*) FROM pg_publication", connection);
        await using var reader = await command.ExecuteReaderAsync(Token);
        (await reader.ReadAsync(Token)).ShouldBeTrue();

        reader.GetString(0).ShouldStartWith("offsets_");
        reader.GetInt64(1).ShouldBe(0);
    }

    public static TheoryData<string> LsnTexts => new()
    {
        "0/0", "0/16B3748", "0/16b3748", "16/B374D848", "FFFFFFFF/FFFFFFFF", "ffffffff/ffffffff", "00000000/00000001", "aBcD/eF01",
        "", " ", "1", "1/", "/1", "/", "G/0", "0/G", "1/2/3", "100000000/0", "0/100000000", "000000000/0",
        " 0/0", "0/0 ", "0 /0", "0/ 0", "\t0/0", "0/0\n", "+1/0", "-1/0", "0x1/0", "1.5/0", "0\\0", "０/０",
    };

    [Theory]
    [MemberData(nameof(LsnTexts))]
    public async Task ParseLsn_AnyText_AgreesWithServerPgLsnInput(string text)
    {
        var server = await PostgresTestServer.GetAsync(Token);
        await using var connection = new NpgsqlConnection(server.ConnectionString);
        await connection.OpenAsync(Token);
        await using var command = new NpgsqlCommand("SELECT CAST($1 AS pg_lsn)::text", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = text, NpgsqlDbType = NpgsqlDbType.Text });

        string? serverText;
        try
        {
            serverText = (string?)await command.ExecuteScalarAsync(Token);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InvalidTextRepresentation)
        {
            serverText = null;
        }

        if (serverText is null)
        {
            Should.Throw<FormatException>(() => PostgresOffset.ParseLsn(text));
        }
        else
        {
            PostgresOffset.FormatLsn(PostgresOffset.ParseLsn(text)).ShouldBe(serverText);
        }
    }

    [Fact]
    public async Task IsValidSlotName_AnyName_AcceptsExactlyWhatTheServerStoresUnchanged()
    {
        // The server truncates a longer name to 63 bytes without an error (the argument is cast to `name`), so the
        // slot it creates is not the one asked for: "accepted" here means created under exactly the given name.
        var server = await PostgresTestServer.GetAsync(Token);
        await using var connection = new NpgsqlConnection(server.ConnectionString);
        await connection.OpenAsync(Token);
        var unique = Guid.NewGuid().ToString("N")[..10];
        string[] names =
        [
            $"t{unique}", $"_{unique}", $"9{unique}", ("m" + unique).PadRight(63, 'x'),
            "", ("l" + unique).PadRight(64, 'x'), $"Upper{unique}", $"dash-{unique}", $"space {unique}", $"dot.{unique}", $"é{unique}",
        ];

        foreach (var name in names)
        {
            bool storedUnchanged;
            try
            {
                string created;
                await using (var create = new NpgsqlCommand("SELECT slot_name::text FROM pg_create_physical_replication_slot($1)", connection))
                {
                    create.Parameters.Add(new NpgsqlParameter { Value = name });
                    created = (string)(await create.ExecuteScalarAsync(Token))!;
                }

                storedUnchanged = created == name;
                await using var drop = new NpgsqlCommand("SELECT pg_drop_replication_slot($1)", connection);
                drop.Parameters.Add(new NpgsqlParameter { Value = created });
                await drop.ExecuteNonQueryAsync(Token);
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InvalidName)
            {
                storedUnchanged = false;
            }

            PostgresOffset.IsValidSlotName(name).ShouldBe(storedUnchanged, $"slot name '{name}'");
        }
    }
}
