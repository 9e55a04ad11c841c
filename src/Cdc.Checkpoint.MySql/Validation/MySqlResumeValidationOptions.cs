namespace Cdc.Checkpoint.MySql.Validation;

/// <summary>
/// The resume policy of <see cref="MySqlResumeValidator"/>. The defaults fail closed: every verdict other than
/// <see cref="MySqlResumeVerdict.Resume"/> and <see cref="MySqlResumeVerdict.FreshStart"/> is refused with a
/// <see cref="CheckpointException"/>. Each opt-in below is explicit, documented in <c>docs/mysql.md</c>, and logged as a
/// warning every time it changes a verdict.
/// </summary>
public sealed class MySqlResumeValidationOptions
{
    /// <summary>The default policy (every property at its default).</summary>
    public static MySqlResumeValidationOptions Default { get; } = new();

    /// <summary>
    /// Accept <see cref="MySqlResumeVerdict.PositionPurged"/>: the validation result is not refused (its
    /// <see cref="MySqlResumeValidationResult.GapAccepted"/> is <see langword="true"/>) and the consumer continues from
    /// the oldest position the server still has, losing the purged transactions. Use only when those changes are
    /// re-imported some other way (a new snapshot of the affected tables).
    /// </summary>
    /// <value>Default <see langword="false"/>.</value>
    public bool AcceptPurgedTransactions { get; init; }

    /// <summary>
    /// MariaDB: ignore GTID domains of the checkpoint that the server has never binlogged, instead of reporting
    /// <see cref="MySqlResumeVerdict.ServerMismatch"/>. Set it after removing a retired domain from the server with
    /// <c>FLUSH BINARY LOGS DELETE_DOMAIN_ID=(…)</c>; the ignored domains are listed in
    /// <see cref="MySqlResumeValidationResult.IgnoredDomains"/>.
    /// </summary>
    /// <value>Default <see langword="false"/>.</value>
    public bool IgnoreMissingDomains { get; init; }

    /// <summary>
    /// MariaDB: require <c>gtid_strict_mode=ON</c> for a checkpoint with a GTID position. Without strict mode, MariaDB may
    /// binlog a smaller sequence number after a larger one in the same domain, so "the checkpoint's GTID is in the
    /// server's history" cannot be proved from the GTID state; with this set to <see langword="false"/>, the
    /// sequence-number rules that rely on strict mode are skipped and only the weaker checks run.
    /// </summary>
    /// <value>Default <see langword="true"/>.</value>
    public bool RequireGtidStrictMode { get; init; } = true;

    /// <summary>
    /// Require the checkpoint's binlog file and position to be usable on this server, for consumers that resume by file
    /// and position (such as a <c>SHOW BINLOG EVENTS</c> poller) rather than by GTID. A GTID checkpoint whose binlog file
    /// was purged is then <see cref="MySqlResumeVerdict.PositionPurged"/>, and one whose binlog position was recorded on
    /// another server is <see cref="MySqlResumeVerdict.ServerMismatch"/>.
    /// </summary>
    /// <value>Default <see langword="false"/> (resume by GTID when the checkpoint has GTIDs).</value>
    public bool RequireBinlogPosition { get; init; }
}
