using System.Collections.Immutable;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Validation;

namespace Cdc.Checkpoint.MySql.Tests.Validation;

/// <summary>Server facts as MySQL 8.0/8.4 and MariaDB report them, built by hand for the pure decision function.</summary>
internal static class ResumeFactsBuilder
{
    public const string A = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    public const string B = "4e11fa47-71ca-11e1-9e33-c80aa9429562";
    public const string C = "5e11fa47-71ca-11e1-9e33-c80aa9429562";

    public static readonly Guid UuidA = Guid.Parse(A);
    public static readonly Guid UuidB = Guid.Parse(B);
    public static readonly Guid UuidC = Guid.Parse(C);

    /// <summary>A MySQL server: gtid_executed and gtid_purged exactly as MySQL prints them (upper case and newlines allowed).</summary>
    public static MySqlServerFacts MySqlServer(
        string executed,
        string purged = "",
        string gtidMode = "ON",
        Guid? uuid = null,
        uint serverId = 1,
        string version = "8.4.0",
        bool logBin = true,
        params (string Name, ulong Size)[] files) =>
        new()
        {
            Flavor = MySqlServerFlavor.MySql,
            Version = MySqlServerFacts.ParseVersion(version).Version,
            VersionText = version,
            ServerId = serverId,
            ServerUuid = uuid ?? UuidA,
            BinaryLoggingEnabled = logBin,
            GtidMode = gtidMode,
            GtidExecuted = GtidSet.Parse(executed),
            GtidPurged = GtidSet.Parse(purged),
            BinlogFiles = Files(files, "mysql-bin"),
            CurrentBinlogPosition = files.Length == 0 ? new BinlogPosition("mysql-bin.000007", 900) : new BinlogPosition(files[^1].Name, files[^1].Size),
        };

    /// <summary>A MariaDB server with gtid_strict_mode on by default.</summary>
    public static MySqlServerFacts MariaDbServer(
        string binlogPos,
        string? state = null,
        string? earliest = "",
        bool? strict = true,
        uint serverId = 1,
        BinlogGtidMapping? mapping = null,
        params (string Name, ulong Size)[] files) =>
        new()
        {
            Flavor = MySqlServerFlavor.MariaDb,
            Version = new Version(10, 11, 19),
            VersionText = "10.11.19-MariaDB-0+deb12u1-log",
            ServerId = serverId,
            BinaryLoggingEnabled = true,
            GtidBinlogPosition = MariaDbGtidPosition.Parse(binlogPos),
            GtidBinlogState = MySqlResumeValidator.ParseGtidList(state ?? binlogPos),
            GtidStrictMode = strict,
            GtidDomainId = 0,
            EarliestGtidPosition = earliest is null ? null : MariaDbGtidPosition.Parse(earliest),
            BinlogFiles = Files(files, "binlog"),
            CurrentBinlogPosition = files.Length == 0 ? new BinlogPosition("binlog.000007", 900) : new BinlogPosition(files[^1].Name, files[^1].Size),
            CheckpointBinlogMapping = mapping,
        };

    public static MySqlOffset MySqlCheckpoint(string gtids, Guid? uuid = null, uint? serverId = null, string? binlog = null) =>
        new(GtidSet.Parse(gtids), binlog is null ? null : BinlogPosition.Parse(binlog), uuid, serverId);

    public static MariaDbOffset MariaDbCheckpoint(string position, uint? serverId = 1, string? binlog = null) =>
        new(MariaDbGtidPosition.Parse(position), binlog is null ? null : BinlogPosition.Parse(binlog), serverId);

    private static ImmutableArray<BinlogFileInfo> Files((string Name, ulong Size)[] files, string baseName) =>
        files.Length == 0
            ? [new($"{baseName}.000005", 5000), new($"{baseName}.000006", 5000), new($"{baseName}.000007", 900)]
            : [.. files.Select(f => new BinlogFileInfo(f.Name, f.Size))];
}
