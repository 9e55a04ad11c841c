namespace Cdc.Checkpoint.Hosting.Consumers;

/// <summary>
/// When a hosted consumer saves its checkpoint through a store that is not the sink's own transaction (a file, memory,
/// any other store): after every <see cref="EveryTransactions"/> transactions and/or every <see cref="Interval"/> (like
/// Debezium's <c>offset.flush.interval.ms</c>), and always when the host stops. Between two saves, a crash redelivers
/// the transactions applied since the last one (at-least-once): make the sink idempotent, or checkpoint every transaction.
/// </summary>
/// <remarks>
/// A consumer whose checkpoint commits in the sink's own transaction (the PostgreSQL table store) saves with every
/// transaction and ignores this policy: there is nothing to batch.
/// </remarks>
public sealed class CheckpointPolicyOptions
{
    /// <summary>Save after this many transactions (key <c>EveryTransactions</c>); 0 turns the count off.</summary>
    /// <value>Default 1 (every transaction); 0 or more.</value>
    public int EveryTransactions { get; set; } = 1;

    /// <summary>Save the latest processed transaction at least this often (key <c>Interval</c>); <see langword="null"/> turns the timer off.</summary>
    /// <value>Default <see langword="null"/>; positive when set.</value>
    public TimeSpan? Interval { get; set; }
}
