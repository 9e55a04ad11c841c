using NpgsqlTypes;

namespace Cdc.Checkpoint.Postgres.Validation;

/// <summary>What the consumer does after a resume validation.</summary>
public enum PostgresResumeAction
{
    /// <summary>Nothing: resuming is refused; <see cref="PostgresResumeValidationResult.ThrowIfRefused"/> throws.</summary>
    Refuse = 0,

    /// <summary>Start replication at the checkpoint's LSN (<see cref="PostgresResumeValidationResult.StartLsn"/>).</summary>
    StartAtCheckpoint = 1,

    /// <summary>Create the slot and start at its consistent point (fresh start, or a missing slot by opt-in).</summary>
    CreateSlot = 2,

    /// <summary>Drop the invalidated slot, create it again and start at its consistent point (by opt-in).</summary>
    RecreateSlot = 3,

    /// <summary>Start at the slot's <c>confirmed_flush_lsn</c> (<see cref="PostgresResumeValidationResult.StartLsn"/>), by opt-in.</summary>
    StartAtSlot = 4,
}

/// <summary>
/// The outcome of a resume validation: the <see cref="Verdict"/>, what to do about it under the configured policy
/// (<see cref="Action"/>), the facts behind it, and a message for the operator.
/// </summary>
/// <remarks>Immutable.</remarks>
public sealed class PostgresResumeValidationResult
{
    internal PostgresResumeValidationResult(
        PostgresResumeVerdict verdict,
        PostgresResumeAction action,
        PostgresResumeFacts facts,
        NpgsqlLogSequenceNumber? startLsn,
        string message,
        CheckpointErrorCode? errorCode)
    {
        Verdict = verdict;
        Action = action;
        Facts = facts;
        StartLsn = startLsn;
        Message = message;
        ErrorCode = errorCode;
    }

    /// <summary>What the validation found.</summary>
    public PostgresResumeVerdict Verdict { get; }

    /// <summary>What the consumer does about it under the configured <see cref="PostgresResumeValidationOptions"/>.</summary>
    public PostgresResumeAction Action { get; }

    /// <summary>The server, slot and checkpoint facts the verdict is based on.</summary>
    public PostgresResumeFacts Facts { get; }

    /// <summary>Where replication starts for <see cref="PostgresResumeAction.StartAtCheckpoint"/> and <see cref="PostgresResumeAction.StartAtSlot"/>; otherwise <see langword="null"/>.</summary>
    public NpgsqlLogSequenceNumber? StartLsn { get; }

    /// <summary>What happened and what the operator can do, naming the slot, the server and the positions.</summary>
    public string Message { get; }

    /// <summary>The error code of an unsafe verdict (also when an opt-in accepted it); <see langword="null"/> for safe verdicts.</summary>
    public CheckpointErrorCode? ErrorCode { get; }

    /// <summary><see langword="true"/> when resuming is refused.</summary>
    public bool IsRefused => Action == PostgresResumeAction.Refuse;

    /// <summary>
    /// <see langword="true"/> when an opt-in accepted an unsafe verdict: changes between the checkpoint (or a lost one)
    /// and the new start are not delivered.
    /// </summary>
    public bool GapAccepted => Action != PostgresResumeAction.Refuse && ErrorCode is not null;

    /// <summary>Throws the <see cref="CheckpointException"/> of a refused verdict; does nothing otherwise.</summary>
    /// <exception cref="CheckpointException">Resuming is refused; <see cref="CheckpointException.ErrorCode"/> is <see cref="ErrorCode"/>.</exception>
    public void ThrowIfRefused()
    {
        if (IsRefused)
        {
            throw ToException();
        }
    }

    /// <summary>The exception that reports this verdict.</summary>
    /// <returns>A <see cref="CheckpointException"/> with <see cref="ErrorCode"/> (or <see cref="CheckpointErrorCode.Misconfigured"/>) and <see cref="Message"/>.</returns>
    public CheckpointException ToException() => new(ErrorCode ?? CheckpointErrorCode.Misconfigured, Message);

    /// <inheritdoc />
    public override string ToString() => $"{Verdict} ({Action}): {Message}";
}
