using Cdc.Checkpoint.Postgres.Diagnostics;
using Microsoft.Extensions.Logging;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Postgres.Replication;

/// <summary>
/// Tells the server what a logical replication consumer has durably checkpointed, and nothing more: the LSNs it
/// reports through <c>SetReplicationStatus</c> and a status update are always durable checkpoints, never ahead of the
/// checkpoint and never backwards.
/// </summary>
/// <remarks>
/// <para>
/// The consumer calls <see cref="MarkProcessed(CommitMessage, ulong)"/> at each commit boundary (no I/O). That returns
/// the <see cref="CheckpointPosition"/> to checkpoint. Then either <see cref="CheckpointAsync"/> saves the latest
/// processed position through the <see cref="ICheckpointStore"/> and acknowledges it, or the consumer saves the
/// position itself — for example in the same database transaction as its sink rows — and reports it with
/// <see cref="MarkDurableAsync"/>. Only then is the LSN sent to the server (optionally
/// <see cref="ReplicationAcknowledgerOptions.AcknowledgeLag"/> checkpoints later).
/// </para>
/// <para>
/// Keepalives that request a reply are answered by Npgsql itself with the status set here, so they too never carry
/// more than the durable checkpoint. Inside a <see cref="PostgresReplicationSession"/> this is the session's own
/// acknowledgement: the session drives the stream's lifecycle, the periodic status updates and the idle advance
/// (<see cref="ReplicationAcknowledgerOptions.IdleAdvanceInterval"/>, <see cref="TryIdleAdvanceAsync"/>). Beside a
/// stream the caller runs itself, Npgsql's <c>WalReceiverStatusInterval</c> timer sends the periodic updates.
/// </para>
/// <para>
/// The committed event count of a position grows by the transaction's event count, and by 1 for a transaction without
/// events and for an idle advance: the progress guards of every store require a new position to come with a higher
/// count.
/// </para>
/// <para>Thread-safe: the idle advance runs on a timer while the consumer marks and saves positions.</para>
/// </remarks>
public sealed class ReplicationAcknowledger : IAsyncDisposable
{
    // Everything is done by the driver, which the session shares: this class adds only the public contract.
    private readonly AcknowledgementDriver _driver;

    /// <summary>Creates an acknowledger for a replication connection, starting from a durable checkpoint.</summary>
    /// <param name="connection">The replication connection the consumer streams on.</param>
    /// <param name="store">The store <see cref="CheckpointAsync"/> and the idle advance save positions to.</param>
    /// <param name="checkpoint">
    /// The durable checkpoint the stream starts at; new positions are built from it (same slot, system identifier,
    /// timeline and database) with <see cref="PostgresOffset.WithLsn"/>.
    /// </param>
    /// <param name="committedEventCount">The committed event count stored with <paramref name="checkpoint"/>.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <param name="loggerFactory">Logger factory; no logging when <see langword="null"/>.</param>
    /// <param name="timeProvider">Clock for checkpoint age and the source lag; the system clock when <see langword="null"/>.</param>
    public ReplicationAcknowledger(
        LogicalReplicationConnection connection,
        ICheckpointStore store,
        PostgresOffset checkpoint,
        ulong committedEventCount,
        ReplicationAcknowledgerOptions? options = null,
        ILoggerFactory? loggerFactory = null,
        TimeProvider? timeProvider = null)
        : this(new AcknowledgementDriver(
            new NpgsqlReplicationFeedback(connection ?? throw new ArgumentNullException(nameof(connection))),
            store,
            checkpoint,
            committedEventCount,
            options,
            loggerFactory,
            timeProvider,
            sessionStatusInterval: null))
    {
    }

    internal ReplicationAcknowledger(AcknowledgementDriver driver)
    {
        _driver = driver;
        PostgresMetrics.Register(this);
    }

    /// <summary>The slot the acknowledger reports for.</summary>
    public string SlotName => _driver.SlotName;

    /// <summary>The latest position marked processed (possibly not durable yet).</summary>
    public CheckpointPosition Processed => _driver.Processed;

    /// <summary>The latest durable position.</summary>
    public CheckpointPosition Durable => _driver.Durable;

    /// <summary>The LSN last reported to the server as flushed and applied; 0 before the first report.</summary>
    public NpgsqlLogSequenceNumber Acknowledged => _driver.Acknowledged;

    /// <summary>The server's WAL end as last seen (keepalives, message ends, or the WAL position at validation).</summary>
    public NpgsqlLogSequenceNumber ServerWalEnd => _driver.ServerWalEnd;

    /// <summary>Bytes of WAL between the server's WAL end and the durable checkpoint (0 when caught up).</summary>
    /// <remarks>Thread-safe, no I/O. Also the <c>cdc.checkpoint.lag</c> gauge.</remarks>
    public long LagBytes => _driver.LagBytes;

    /// <summary>Time since the last durable checkpoint (or since the acknowledger was created), on the injected clock.</summary>
    /// <remarks>Thread-safe, no I/O. Also the <c>cdc.checkpoint.age</c> gauge.</remarks>
    public TimeSpan CheckpointAge => _driver.CheckpointAge;

    /// <summary>The driver the session shares (and tests reach).</summary>
    internal AcknowledgementDriver Driver => _driver;

    /// <summary>Takes a consistent snapshot of the positions, lag and age (no I/O).</summary>
    /// <returns>The status; <see cref="PostgresReplicationStatus.Verdict"/> is <see langword="null"/> (a session adds it).</returns>
    /// <remarks>Thread-safe; callable after disposal (it then shows the last state).</remarks>
    public PostgresReplicationStatus GetStatus() => _driver.GetStatus(verdict: null);

    /// <summary>Marks a transaction processed: its changes are applied (not necessarily durably).</summary>
    /// <param name="commit">The transaction's commit message.</param>
    /// <param name="eventCount">How many changes of the transaction the consumer applied.</param>
    /// <returns>The position to checkpoint.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The commit is not after the last processed position, or (in a session) was not received.</exception>
    public CheckpointPosition MarkProcessed(CommitMessage commit, ulong eventCount) => _driver.MarkProcessed(commit, eventCount);

    /// <summary>Marks the transaction that ends at <paramref name="transactionEndLsn"/> processed (no I/O).</summary>
    /// <param name="transactionEndLsn">The transaction's end LSN (<see cref="CommitMessage.TransactionEndLsn"/>).</param>
    /// <param name="eventCount">How many changes of the transaction the consumer applied.</param>
    /// <returns>The position to checkpoint: <paramref name="transactionEndLsn"/> and the grown event count.</returns>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <paramref name="transactionEndLsn"/> is not after the last processed position (never backwards), or, in a
    /// session, is past the last commit received (never ahead).
    /// </exception>
    public CheckpointPosition MarkProcessed(NpgsqlLogSequenceNumber transactionEndLsn, ulong eventCount) => _driver.MarkProcessed(transactionEndLsn, eventCount);

    /// <summary>
    /// Saves the latest processed position through the store (if it is not durable yet), then acknowledges it.
    /// </summary>
    /// <param name="cancellationToken">Cancels the save before it is written.</param>
    /// <returns><see langword="true"/> when a position was saved; <see langword="false"/> when everything processed was already durable.</returns>
    /// <exception cref="CheckpointException">The store refused or failed the save; nothing is acknowledged.</exception>
    public ValueTask<bool> CheckpointAsync(CancellationToken cancellationToken = default) => _driver.CheckpointAsync(cancellationToken);

    /// <summary>
    /// Reports that <paramref name="position"/> is durably checkpointed (the caller saved it, for example in its sink's
    /// transaction, and that transaction committed), and acknowledges it to the server subject to
    /// <see cref="ReplicationAcknowledgerOptions.AcknowledgeLag"/>.
    /// </summary>
    /// <param name="position">A position returned by <see cref="MarkProcessed(NpgsqlLogSequenceNumber, ulong)"/>.</param>
    /// <param name="cancellationToken">Cancels sending the status update (the status is still set and goes with the next update).</param>
    /// <returns>A task that completes when the status update is sent (not when the server has applied it).</returns>
    /// <exception cref="ArgumentException"><paramref name="position"/> was never marked processed: acknowledging it would be ahead.</exception>
    public ValueTask MarkDurableAsync(CheckpointPosition position, CancellationToken cancellationToken = default) => _driver.MarkDurableAsync(position, cancellationToken);

    /// <summary>
    /// Performs one idle advance if the conditions hold: the stream is confirmed (inside a session), no transaction is
    /// in flight, every received commit is processed and durable, and the server's last reported WAL end is more than
    /// <see cref="ReplicationAcknowledgerOptions.IdleAdvanceMinimumBytes"/> past the durable checkpoint. The WAL end is
    /// then saved through the store (event count + 1) and acknowledged.
    /// </summary>
    /// <param name="cancellationToken">Cancels the save.</param>
    /// <returns><see langword="true"/> when the checkpoint advanced.</returns>
    /// <remarks>
    /// Safe because the server decodes WAL in order: every transaction that commits before the WAL end of a keepalive
    /// was sent before that keepalive, so when none is in flight none is skipped. A transaction that begins while the
    /// advance is being saved is held back until the save has finished.
    /// </remarks>
    public ValueTask<bool> TryIdleAdvanceAsync(CancellationToken cancellationToken = default) => _driver.TryIdleAdvanceAsync(cancellationToken);

    /// <summary>Stops acknowledging and unregisters the metrics. Does not close the connection.</summary>
    /// <returns>A task that completes when the acknowledger is stopped.</returns>
    public ValueTask DisposeAsync()
    {
        _driver.Dispose();
        PostgresMetrics.Unregister(this);
        return ValueTask.CompletedTask;
    }
}
