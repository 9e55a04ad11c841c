namespace Cdc.Checkpoint;

/// <summary>
/// What went wrong, as a stable code a caller can switch on. Every <see cref="CheckpointException"/> carries one.
/// </summary>
/// <remarks>Numeric values are stable across releases; new codes are only appended.</remarks>
public enum CheckpointErrorCode
{
    /// <summary>A checkpoint file or record exists but cannot be decoded (bad JSON, bad binary, truncated, checksum mismatch).</summary>
    Corrupt = 1,

    /// <summary>A record declares a format version this library cannot read, or declares none.</summary>
    UnsupportedFormatVersion = 2,

    /// <summary>A checkpoint file is readable or writable by group or other users; fix with <c>chmod 600</c>.</summary>
    InsecurePermissions = 3,

    /// <summary>Another live process owns the checkpoint directory or name.</summary>
    LeaseHeld = 4,

    /// <summary>A save would move progress backwards (lower event count, lower LSN, GTID set that is not a superset).</summary>
    OffsetRegression = 5,

    /// <summary>A save repeats the event count of the stored record with a different offset.</summary>
    ConflictingOffset = 6,

    /// <summary>A save's offset is not comparable with the stored one (another slot, server or history).</summary>
    OffsetDiverged = 7,

    /// <summary>One checkpoint directory holds records of more than one source family (for example postgres and mysql).</summary>
    MixedSourceFamilies = 8,

    /// <summary>The checkpoint directory does not exist or is not a directory.</summary>
    DirectoryNotFound = 9,

    /// <summary>A path inside the checkpoint directory is a symbolic link, which is never followed.</summary>
    SymbolicLinkRefused = 10,

    /// <summary>A record is larger than the configured size cap.</summary>
    RecordTooLarge = 11,

    /// <summary>A name that becomes part of a path (source type, checkpoint name) is not allowed.</summary>
    InvalidName = 12,

    /// <summary>Writing, flushing (fsync) or renaming failed; the previous checkpoint is unchanged unless stated otherwise.</summary>
    WriteFailed = 13,

    /// <summary>The checkpoint belongs to a different server, cluster or consumer identity.</summary>
    ServerMismatch = 14,

    /// <summary>The position recorded in the checkpoint is no longer available on the server (slot dropped, WAL or binlog purged).</summary>
    PositionUnavailable = 15,

    /// <summary>The checkpoint is ahead of what the server has ever produced.</summary>
    CheckpointAhead = 16,

    /// <summary>The server's history has diverged from the checkpoint (another timeline, a reset, a failover).</summary>
    HistoryDiverged = 17,

    /// <summary>A fencing epoch is stale: a newer owner has taken over the checkpoint.</summary>
    StaleEpoch = 18,

    /// <summary>A resource (slot, replication connection) is in use by another process.</summary>
    InUse = 19,

    /// <summary>The server or its configuration cannot serve this checkpoint (wrong plugin, wrong database, wal_level).</summary>
    Misconfigured = 20,

    /// <summary>An identity bound to a checkpoint (consumer, region) does not match the caller's.</summary>
    IdentityMismatch = 21,

    /// <summary>
    /// The server ended the stream or the connection broke (walsender terminated, replication timeout, server restart).
    /// Transient: open a new session; it resumes from the durable checkpoint.
    /// </summary>
    ConnectionLost = 29,
}
