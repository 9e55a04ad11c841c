namespace Cdc.Checkpoint;

/// <summary>
/// The one exception type of Cdc.Checkpoint: a checkpoint could not be read, written, trusted or resumed.
/// The message names the thing involved and what the operator can do about it.
/// </summary>
/// <remarks>
/// Caller mistakes (a null argument, a disposed object) are reported with the usual CLR exceptions instead,
/// and <see cref="OperationCanceledException"/> is never wrapped.
/// </remarks>
public sealed class CheckpointException : Exception
{
    /// <summary>Creates an exception with a code and a message.</summary>
    /// <param name="errorCode">The error code.</param>
    /// <param name="message">What happened, naming the file or server and the fix.</param>
    /// <param name="innerException">The underlying cause, if any.</param>
    public CheckpointException(CheckpointErrorCode errorCode, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        ErrorCode = errorCode;
    }

    /// <summary>Creates an exception with <see cref="CheckpointErrorCode.Corrupt"/>.</summary>
    public CheckpointException()
        : this(CheckpointErrorCode.Corrupt, "checkpoint error")
    {
    }

    /// <summary>Creates an exception with <see cref="CheckpointErrorCode.Corrupt"/>.</summary>
    /// <param name="message">The message.</param>
    public CheckpointException(string message)
        : this(CheckpointErrorCode.Corrupt, message)
    {
    }

    /// <summary>Creates an exception with <see cref="CheckpointErrorCode.Corrupt"/>.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public CheckpointException(string message, Exception innerException)
        : this(CheckpointErrorCode.Corrupt, message, innerException)
    {
    }

    /// <summary>The error code.</summary>
    public CheckpointErrorCode ErrorCode { get; }

    /// <summary>
    /// <see langword="true"/> when retrying the same operation later may succeed without anyone changing anything
    /// (another owner may go away, a slot may become free, file descriptors may be released, a provider reports a
    /// deadlock, a lock-wait timeout or a lost connection as the cause of a <see cref="CheckpointErrorCode.WriteFailed"/>).
    /// Data errors, other I/O errors and refusals are never transient.
    /// </summary>
    public bool IsTransient => TransientCause
        || ErrorCode is CheckpointErrorCode.LeaseHeld or CheckpointErrorCode.InUse
            or CheckpointErrorCode.ResourceExhausted or CheckpointErrorCode.ConnectionLost;

    /// <summary>Set by the table-store core (<c>TableStoreErrors</c>) when the database reports a failure a retry may clear.</summary>
    internal bool TransientCause { get; init; }

    /// <summary>The path of the file or directory involved, when there is one.</summary>
    public string? Path { get; init; }
}
