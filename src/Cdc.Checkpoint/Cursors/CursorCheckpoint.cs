namespace Cdc.Checkpoint.Cursors;

/// <summary>
/// The durable position of a pull cursor: the last delivered position, whether anything was delivered yet, and the
/// identity of the consumer the checkpoint belongs to.
/// </summary>
/// <remarks>
/// <see cref="Started"/> exists because position 0 is a real position: a fresh cursor (<see cref="NotStarted"/>,
/// <c>Started = false</c>) still has to deliver position 0, while a cursor that delivered position 0
/// (<c>At(0, …)</c>) resumes at 1. Progress is ordered as "not started" &lt; "at 0" &lt; "at 1" &lt; … .
/// Immutable and thread-safe.
/// </remarks>
public sealed record CursorCheckpoint
{
    /// <summary>The format version of cursor files this library writes.</summary>
    public const int CurrentFormatVersion = 1;

    /// <summary>The longest consumer identity, in UTF-16 code units.</summary>
    public const int MaxIdentityLength = 1024;

    private CursorCheckpoint(ulong position, bool started, string consumerIdentity)
    {
        Position = position;
        Started = started;
        ConsumerIdentity = consumerIdentity;
    }

    /// <summary>The last delivered position; 0 and meaningless while <see cref="Started"/> is <see langword="false"/>.</summary>
    public ulong Position { get; }

    /// <summary>Whether the cursor has delivered at least one position.</summary>
    public bool Started { get; }

    /// <summary>The consumer this checkpoint belongs to; a load with another identity fails closed.</summary>
    public string ConsumerIdentity { get; }

    /// <summary>When the checkpoint was saved; <see langword="null"/> until saved.</summary>
    public DateTimeOffset? SavedAt { get; init; }

    /// <summary>The file format version it was read from (<see cref="CurrentFormatVersion"/> for new checkpoints).</summary>
    public int FormatVersion { get; init; } = CurrentFormatVersion;

    /// <summary>The next position to deliver: 0 before the first delivery, <see cref="Position"/> + 1 after; <see langword="null"/> once <see cref="ulong.MaxValue"/> was delivered.</summary>
    public ulong? NextPosition => !Started ? 0 : Position == ulong.MaxValue ? null : Position + 1;

    /// <summary>A cursor of <paramref name="consumerIdentity"/> that has delivered nothing yet.</summary>
    /// <param name="consumerIdentity">The consumer identity.</param>
    /// <returns>The checkpoint.</returns>
    /// <exception cref="ArgumentException">The identity is empty, white space or longer than <see cref="MaxIdentityLength"/>.</exception>
    public static CursorCheckpoint NotStarted(string consumerIdentity) => new(0, started: false, ValidateIdentity(consumerIdentity));

    /// <summary>A cursor of <paramref name="consumerIdentity"/> that has delivered everything up to and including <paramref name="position"/>.</summary>
    /// <param name="position">The last delivered position.</param>
    /// <param name="consumerIdentity">The consumer identity.</param>
    /// <returns>The checkpoint.</returns>
    /// <exception cref="ArgumentException">The identity is empty, white space or longer than <see cref="MaxIdentityLength"/>.</exception>
    public static CursorCheckpoint At(ulong position, string consumerIdentity) => new(position, started: true, ValidateIdentity(consumerIdentity));

    /// <summary>Whether <paramref name="position"/> has already been delivered.</summary>
    /// <param name="position">A position.</param>
    /// <returns><see langword="true"/> when started and <paramref name="position"/> is at or before <see cref="Position"/>.</returns>
    public bool HasDelivered(ulong position) => Started && position <= Position;

    /// <summary>The same consumer, having delivered up to <paramref name="position"/>.</summary>
    /// <param name="position">The last delivered position.</param>
    /// <returns>A started checkpoint (not yet saved).</returns>
    public CursorCheckpoint AdvanceTo(ulong position) => new(position, started: true, ConsumerIdentity);

    /// <summary>Compares progress: negative when this is behind <paramref name="other"/>, 0 when equal, positive when ahead.</summary>
    /// <param name="other">Another checkpoint.</param>
    /// <returns>The order of progress (identity, save time and format are ignored).</returns>
    public int CompareProgress(CursorCheckpoint other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Started != other.Started ? Started.CompareTo(other.Started) : Position.CompareTo(other.Position);
    }

    /// <summary>"not started" or "position N", for messages.</summary>
    /// <returns>The description.</returns>
    public string DescribePosition() => Started ? $"position {Position}" : "not started";

    /// <inheritdoc/>
    public override string ToString() => $"cursor of '{ConsumerIdentity}' {DescribePosition()}";

    internal static string ValidateIdentity(string consumerIdentity, string paramName = "consumerIdentity")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(consumerIdentity, paramName);
        if (consumerIdentity.Length > MaxIdentityLength)
        {
            throw new ArgumentException($"The consumer identity is {consumerIdentity.Length} characters long; at most {MaxIdentityLength} are allowed.", paramName);
        }

        return consumerIdentity;
    }
}
