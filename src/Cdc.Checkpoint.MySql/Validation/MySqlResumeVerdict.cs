namespace Cdc.Checkpoint.MySql.Validation;

/// <summary>
/// What a resume validation found when it compared a checkpointed <see cref="MySqlOffset"/> or
/// <see cref="MariaDbOffset"/> with the live server. <c>docs/mysql.md</c> has the operator's action for each verdict.
/// </summary>
/// <remarks>Numeric values are stable; new verdicts are only appended.</remarks>
public enum MySqlResumeVerdict
{
    /// <summary>Safe: every transaction after the checkpoint is still in the server's binlog, and the checkpoint belongs to the server's history.</summary>
    Resume = 0,

    /// <summary>No checkpoint: a fresh start (from the server's current position, or from a snapshot).</summary>
    FreshStart = 1,

    /// <summary>
    /// Transactions the consumer still needs are gone: GTIDs in <c>gtid_purged</c> (MySQL), domains whose oldest
    /// binlog starts after the checkpoint (MariaDB), or the checkpoint's binlog file was purged. Error code
    /// <see cref="CheckpointErrorCode.PositionUnavailable"/>.
    /// </summary>
    PositionPurged = 2,

    /// <summary>
    /// The checkpoint was not taken on this server or its replication topology: other server UUID or server id, GTIDs
    /// of sources or MariaDB domains the server has never seen, another binlog file series, or the other flavour.
    /// Error code <see cref="CheckpointErrorCode.ServerMismatch"/>.
    /// </summary>
    ServerMismatch = 3,

    /// <summary>
    /// The checkpoint holds transactions the server has not executed yet, with nothing in between missing: a server
    /// restored from an older backup, a lagging replica, or a reset binlog. Error code
    /// <see cref="CheckpointErrorCode.CheckpointAhead"/>.
    /// </summary>
    CheckpointAhead = 4,

    /// <summary>
    /// The server's history and the checkpoint's disagree: the same MariaDB sequence number written by different
    /// servers, a MariaDB GTID the server never binlogged although it has later ones (strict-mode rules), or a MySQL
    /// GTID set that is not contained in <c>gtid_executed</c> with holes. Error code
    /// <see cref="CheckpointErrorCode.HistoryDiverged"/>.
    /// </summary>
    HistoryDiverged = 5,

    /// <summary>
    /// The checkpoint's binlog file exists, but at the checkpoint's position it is not the same binlog: MariaDB's
    /// <c>BINLOG_GTID_POS</c> maps the position to another GTID position (or to none), or the file is shorter than the
    /// position. The binlog was reset (<c>RESET MASTER</c>) and the file name reused. Error code
    /// <see cref="CheckpointErrorCode.HistoryDiverged"/>.
    /// </summary>
    BinlogReset = 6,

    /// <summary>
    /// The server cannot serve this checkpoint as configured: binary logging off, <c>gtid_mode</c> not <c>ON</c> for a
    /// GTID checkpoint, or MariaDB <c>gtid_strict_mode</c> off while the policy requires it. Error code
    /// <see cref="CheckpointErrorCode.Misconfigured"/>.
    /// </summary>
    Misconfigured = 7,
}
