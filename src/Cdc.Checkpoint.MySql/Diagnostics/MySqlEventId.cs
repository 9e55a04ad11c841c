namespace Cdc.Checkpoint.MySql.Diagnostics;

/// <summary>
/// Event ids of the log messages of Cdc.Checkpoint.MySql, in the MySQL range 5000–5099: resume validation 5000–5019,
/// the table store 5040–5059.
/// </summary>
public static class MySqlEventId
{
    /// <summary>A resume validation passed (or found a fresh start); the verdict and the server facts are logged.</summary>
    public const int ResumeValidated = 5000;

    /// <summary>A resume validation refused to resume (fail closed); the verdict, the facts and the operator's action are logged.</summary>
    public const int ResumeRefused = 5001;

    /// <summary>An explicit opt-in accepted a gap: transactions between the checkpoint and the oldest available binlog are lost.</summary>
    public const int GapAccepted = 5002;

    /// <summary>The server's flavour, version, identity and binlog state were read.</summary>
    public const int ServerFactsRead = 5003;

    /// <summary>Checkpoint domains unknown to the server were ignored by the <c>IgnoreMissingDomains</c> opt-in.</summary>
    public const int DomainsIgnored = 5004;

    /// <summary>A binlog-position checkpoint carries no server identity, so it cannot be checked against the server's.</summary>
    public const int IdentityUnverified = 5005;

    /// <summary>The table store's tables were created or found present.</summary>
    public const int StoreSchemaCreated = 5040;

    /// <summary>A fencing epoch was acquired for a checkpoint name.</summary>
    public const int StoreEpochAcquired = 5041;

    /// <summary>A checkpoint row was saved.</summary>
    public const int StoreSaved = 5042;

    /// <summary>A save was refused by a progress guard.</summary>
    public const int StoreSaveRefused = 5043;

    /// <summary>A save was refused because a newer owner holds the checkpoint name (stale fencing epoch).</summary>
    public const int StoreStaleEpoch = 5044;

    /// <summary>A checkpoint row was rewound explicitly; the reason is logged and written to the audit table.</summary>
    public const int StoreRewound = 5045;

    /// <summary>A checkpoint row was loaded.</summary>
    public const int StoreLoaded = 5046;
}
