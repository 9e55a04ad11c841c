namespace Cdc.Checkpoint.Postgres.Diagnostics;

/// <summary>
/// Event ids of the log messages of Cdc.Checkpoint.Postgres, in the PostgreSQL range 4000–4099: resume validation
/// 4000–4019, acknowledgement 4020–4039, the table store 4040–4059.
/// </summary>
public static class PostgresEventId
{
    /// <summary>A resume validation passed; the verdict and its facts are logged.</summary>
    public const int ResumeValidated = 4000;

    /// <summary>A resume validation refused to resume (fail closed); the verdict, facts and operator action are logged.</summary>
    public const int ResumeRefused = 4001;

    /// <summary>An explicit opt-in accepted a gap in the change stream (events between the checkpoint and the new start are lost).</summary>
    public const int GapAccepted = 4002;

    /// <summary>A replication slot was created at a fresh start (or re-created by opt-in); its consistent point is logged.</summary>
    public const int SlotCreated = 4003;

    /// <summary>The check right after <c>START_REPLICATION</c> confirmed that the slot is held by this session and has not moved.</summary>
    public const int RecheckPassed = 4004;

    /// <summary>The check right after <c>START_REPLICATION</c> found that the slot changed since the validation.</summary>
    public const int RecheckFailed = 4005;

    /// <summary>The checkpoint was moved to the server's new timeline after the history showed it lies before the fork point.</summary>
    public const int TimelineSwitchRecorded = 4006;

    /// <summary>An existing slot without a checkpoint was adopted by opt-in.</summary>
    public const int SlotAdopted = 4007;

    /// <summary>A transaction the checkpoint already covers was received again and skipped.</summary>
    public const int TransactionSkipped = 4008;

    /// <summary>A cancelled stream did not end in time, so its walsender was terminated from SQL (PostgreSQL ignores a cancel that arrives before START_REPLICATION runs).</summary>
    public const int WalSenderTerminated = 4009;

    /// <summary>Terminating the walsender of a stream that did not end failed.</summary>
    public const int WalSenderTerminateFailed = 4010;

    /// <summary>The standby status interval of a session was chosen (from the option, or derived from <c>wal_sender_timeout</c>).</summary>
    public const int StatusIntervalChosen = 4011;

    /// <summary>The server ended a session's stream, or its connection broke; the session surfaces it as a transient <c>ConnectionLost</c>.</summary>
    public const int StreamEnded = 4012;

    /// <summary>A durable LSN was reported to the server as flushed and applied.</summary>
    public const int Acknowledged = 4020;

    /// <summary>Reporting an LSN to the server failed; it is reported again with the next status update.</summary>
    public const int AcknowledgeFailed = 4021;

    /// <summary>With nothing in flight, the server's WAL end from a keepalive was checkpointed and acknowledged.</summary>
    public const int IdleAdvanced = 4022;

    /// <summary>An idle advance could not be checkpointed; the slot stays where it was.</summary>
    public const int IdleAdvanceFailed = 4023;

    /// <summary>A processed position was checkpointed by the acknowledger.</summary>
    public const int PositionCheckpointed = 4024;

    /// <summary>An acknowledgement was not sent yet because the replication stream has received nothing so far; the status goes with Npgsql's first update.</summary>
    public const int AcknowledgeDeferred = 4025;

    /// <summary>The table store's tables were created or found present.</summary>
    public const int StoreSchemaCreated = 4040;

    /// <summary>A fencing epoch was acquired for a checkpoint name.</summary>
    public const int StoreEpochAcquired = 4041;

    /// <summary>A checkpoint row was saved.</summary>
    public const int StoreSaved = 4042;

    /// <summary>A save was refused by a progress guard.</summary>
    public const int StoreSaveRefused = 4043;

    /// <summary>A save was refused because a newer owner holds the checkpoint name (stale fencing epoch).</summary>
    public const int StoreStaleEpoch = 4044;

    /// <summary>A checkpoint row was rewound explicitly; the reason is logged and written to the audit table.</summary>
    public const int StoreRewound = 4045;

    /// <summary>A checkpoint row was loaded.</summary>
    public const int StoreLoaded = 4046;
}
