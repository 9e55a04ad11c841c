using System.Collections.Immutable;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.MySql.Validation;

/// <summary>
/// The outcome of a resume validation: the <see cref="Verdict"/>, whether resuming is refused under the policy, the
/// server facts and the transaction sets behind it, and a message for the operator.
/// </summary>
/// <remarks>Immutable and thread-safe.</remarks>
public sealed record MySqlResumeValidationResult
{
    internal MySqlResumeValidationResult(
        MySqlResumeVerdict verdict,
        bool isRefused,
        CheckpointOffset? checkpoint,
        MySqlServerFacts server,
        string message)
    {
        Verdict = verdict;
        IsRefused = isRefused;
        Checkpoint = checkpoint;
        Server = server;
        Message = message;
    }

    /// <summary>What the validation found.</summary>
    public MySqlResumeVerdict Verdict { get; }

    /// <summary><see langword="true"/> when resuming is refused: <see cref="ThrowIfRefused"/> throws.</summary>
    public bool IsRefused { get; }

    /// <summary>
    /// <see langword="true"/> when an opt-in (<see cref="MySqlResumeValidationOptions.AcceptPurgedTransactions"/>) let an
    /// unsafe verdict through: transactions between the checkpoint and the oldest available binlog are not delivered.
    /// </summary>
    public bool GapAccepted => !IsRefused && ErrorCode is not null;

    /// <summary>The checkpoint that was validated, or <see langword="null"/> for a fresh start.</summary>
    public CheckpointOffset? Checkpoint { get; }

    /// <summary>The server facts the verdict is based on.</summary>
    public MySqlServerFacts Server { get; }

    /// <summary>What happened and what the operator can do, naming the server and the positions.</summary>
    public string Message { get; }

    /// <summary>The error code of an unsafe verdict (also when an opt-in accepted it); <see langword="null"/> for safe verdicts.</summary>
    public CheckpointErrorCode? ErrorCode => Verdict switch
    {
        MySqlResumeVerdict.Resume or MySqlResumeVerdict.FreshStart => null,
        MySqlResumeVerdict.PositionPurged => CheckpointErrorCode.PositionUnavailable,
        MySqlResumeVerdict.ServerMismatch => CheckpointErrorCode.ServerMismatch,
        MySqlResumeVerdict.CheckpointAhead => CheckpointErrorCode.CheckpointAhead,
        MySqlResumeVerdict.HistoryDiverged or MySqlResumeVerdict.BinlogReset => CheckpointErrorCode.HistoryDiverged,
        _ => CheckpointErrorCode.Misconfigured,
    };

    /// <summary>MySQL: transactions the consumer still needs that are in <c>gtid_purged</c> (the gap).</summary>
    public GtidSet? PurgedGtids { get; init; }

    /// <summary>MySQL: transactions in the checkpoint that the server has not executed (checkpoint − <c>gtid_executed</c>).</summary>
    public GtidSet? UnknownGtids { get; init; }

    /// <summary>MariaDB: checkpoint domains ignored under <see cref="MySqlResumeValidationOptions.IgnoreMissingDomains"/>.</summary>
    /// <value>Default empty.</value>
    public ImmutableArray<uint> IgnoredDomains { get; init; } = [];

    /// <summary>
    /// Whether the checkpoint's binlog file and position can be used on this server (the file still exists, the position
    /// is inside it, and it was recorded on this server). A GTID checkpoint may resume by GTID when this is
    /// <see langword="false"/>.
    /// </summary>
    public bool BinlogPositionUsable { get; init; }

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
    public override string ToString() => $"{Verdict}{(IsRefused ? " (refused)" : GapAccepted ? " (gap accepted)" : string.Empty)}: {Message}";
}
