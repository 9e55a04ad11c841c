namespace Cdc.Checkpoint.MySql.Validation;

/// <summary>The statements that differ between MySQL 8.0, MySQL 8.2+ (8.4 LTS) and MariaDB.</summary>
internal static class MySqlDialect
{
    /// <summary>MySQL 8.2.0 added <c>SHOW BINARY LOG STATUS</c>; 8.4 removed <c>SHOW MASTER STATUS</c>.</summary>
    public static readonly Version BinaryLogStatusSince = new(8, 2, 0);

    public const string VersionSql = "SELECT @@version, @@version_comment";

    public const string MariaDbVariablesSql =
        "SELECT @@GLOBAL.server_id, @@GLOBAL.log_bin, @@GLOBAL.gtid_binlog_pos, @@GLOBAL.gtid_binlog_state, @@GLOBAL.gtid_strict_mode, @@GLOBAL.gtid_domain_id";

    public const string MySqlVariablesSql =
        "SELECT @@GLOBAL.server_id, @@GLOBAL.server_uuid, @@GLOBAL.log_bin, @@GLOBAL.gtid_mode, @@GLOBAL.gtid_executed, @@GLOBAL.gtid_purged";

    public const string BinaryLogsSql = "SHOW BINARY LOGS";

    public const string BinlogGtidPosSql = "SELECT BINLOG_GTID_POS(@file, @position)";

    /// <summary>The statement that reports the current binlog file and position.</summary>
    public static string BinlogStatusSql(MySqlServerFlavor flavor, Version version) =>
        flavor == MySqlServerFlavor.MySql && version >= BinaryLogStatusSince ? "SHOW BINARY LOG STATUS" : "SHOW MASTER STATUS";
}
