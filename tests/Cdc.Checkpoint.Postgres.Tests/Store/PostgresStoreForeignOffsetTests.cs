using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres.Store;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Store;

/// <summary>
/// A binlog consumer whose sink is PostgreSQL keeps its MySQL or MariaDB offset in the PostgreSQL table store, in the
/// sink's transaction: those offsets must come back exactly as saved (the codecs read the current offset JSON shape,
/// not the rustcdc v1 shape that format version 1 means to them).
/// </summary>
public sealed class PostgresStoreForeignOffsetTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly OffsetCodecRegistry Codecs = OffsetCodecRegistry.Empty.WithPostgres().WithMySql();

    public static TheoryData<string> Offsets => new()
    {
        "mysql",
        "mysql-binlog-only",
        "mariadb",
    };

    private static CheckpointOffset Create(string kind) => kind switch
    {
        "mysql" => new MySqlOffset(
            GtidSet.Parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-77,4f22ab58-71ca-11e1-9e33-c80aa9429562:1-5:7"),
            new BinlogPosition("binlog.000042", 1_234),
            Guid.Parse("3e11fa47-71ca-11e1-9e33-c80aa9429562"),
            serverId: 7,
            skipEvents: 2,
            skipRows: 1),
        "mysql-binlog-only" => new MySqlOffset(null, new BinlogPosition("mysql-bin.000003", 4)),
        "mariadb" => new MariaDbOffset(MariaDbGtidPosition.Parse("0-1-100,1-2-7"), new BinlogPosition("mariadb-bin.000009", 385), serverId: 1),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    [Theory]
    [MemberData(nameof(Offsets))]
    public async Task SaveThenLoad_MySqlFamilyOffset_ComesBackEqual(string kind)
    {
        var dataSource = await StoreDatabase.GetAsync();
        var store = new PostgresCheckpointStore(dataSource, "foreign-" + Guid.NewGuid().ToString("N")[..12], new PostgresCheckpointStoreOptions { Codecs = Codecs });
        var offset = Create(kind);

        await store.SaveAsync(offset, 42, Ct);
        var loaded = (await store.LoadAsync(offset.SourceType, Ct)).ShouldNotBeNull();

        loaded.Offset.ShouldBe(offset);
        loaded.Offset.GetType().ShouldBe(offset.GetType());
        loaded.CommittedEventCount.ShouldBe(42UL);
    }
}
