namespace Cdc.Checkpoint.MySql.Validation;

/// <summary>Which server family a connection reaches; decided from <c>@@version</c> and <c>@@version_comment</c>.</summary>
public enum MySqlServerFlavor
{
    /// <summary>Oracle MySQL (and compatible builds such as Percona Server): UUID GTID sets, <c>gtid_executed</c>.</summary>
    MySql = 0,

    /// <summary>MariaDB: <c>domain-server-sequence</c> GTIDs, <c>gtid_binlog_pos</c>, <c>BINLOG_GTID_POS</c>.</summary>
    MariaDb = 1,
}
