using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Offsets;
using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Tables;

/// <summary>
/// The protocol every table checkpoint store follows, over any ADO.NET <see cref="DbDataSource"/>: one row per checkpoint
/// name and source type, a fence row per name (the owner's epoch), an audit row per rewind, the progress guards under the
/// fence lock, the one-statement save when the row is known, metrics and logs. A provider package derives a sealed store
/// from it and contributes only its dialect (the protected members: SQL, type mapping, error classification); use
/// <c>PostgresCheckpointStore</c> or <c>MySqlCheckpointStore</c>.
/// </summary>
/// <remarks>
/// <para>
/// Fencing: <see cref="AcquireAsync"/> increments the name's epoch and makes this instance its owner (the first save
/// acquires when it has not been called). Every save of the full path locks the fence row and fails with
/// <see cref="CheckpointErrorCode.StaleEpoch"/> when a newer owner has acquired the name since; the same lock makes the
/// progress guards (no lower count, no conflicting offset at an equal count, no typed regression or divergence) atomic
/// with the write. When this instance knows what its row holds, a save in its own transaction is one conditional
/// statement (<see cref="TryUpdateKnownRowAsync"/>); when that matches nothing, the full path decides.
/// </para>
/// <para>
/// Errors: a missing table or a refused privilege is <see cref="CheckpointErrorCode.Misconfigured"/> naming the fix; other
/// server or network errors during a save are <see cref="CheckpointErrorCode.WriteFailed"/> (transient for a deadlock, a
/// serialization failure, a lock-wait timeout or a lost connection), during a read the provider's
/// <see cref="DbException"/>. Thread-safe.
/// </para>
/// </remarks>
public abstract class TableCheckpointStore : ICheckpointStore
{
    // The row layout this release writes (the format_version column).
    private const int RowFormatVersion = 1;

    // The offset column holds the offset JSON in the shape of the file checkpoint's current format, so the codecs read it
    // as that version: format_version is the version of the row layout, not of the offset JSON (a codec given 1 would read
    // the rustcdc v1 shape, which differs for MySQL and MariaDB offsets).
    private const int OffsetJsonVersion = Files.FileCheckpoint.CurrentFormatVersion;

    private readonly DbDataSource _dataSource;
    private readonly TableStoreSetup _setup;
    private readonly TableStoreLog _log;
    private readonly TimeProvider _timeProvider;
    private readonly FirstAcquisition _firstAcquisition;
    private readonly Lock _knownGate = new();
    private readonly Dictionary<string, KnownRow> _known = new(StringComparer.Ordinal);
    private long _epoch;

    /// <summary>Creates the store for checkpoint <paramref name="name"/>; nothing is touched until the first operation.</summary>
    /// <param name="dataSource">Connections to the database holding the checkpoint tables.</param>
    /// <param name="name">The checkpoint name, already validated by the provider.</param>
    /// <param name="setup">What the provider contributes besides its SQL.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="timeProvider">Clock for the rows' times; the system clock when <see langword="null"/>.</param>
    protected TableCheckpointStore(DbDataSource dataSource, string name, TableStoreSetup setup, ILogger logger, TimeProvider? timeProvider)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(setup);
        ArgumentNullException.ThrowIfNull(logger);
        _dataSource = dataSource;
        _setup = setup;
        _log = TableStoreLog.For(setup.EventIdBase, logger);
        _timeProvider = timeProvider ?? TimeProvider.System;
        _firstAcquisition = new FirstAcquisition(AcquireAsync);
        Name = name;
    }

    /// <summary>The checkpoint name.</summary>
    public string Name { get; }

    /// <summary>The fencing epoch this instance owns, or 0 before <see cref="AcquireAsync"/> (or the first save).</summary>
    public long Epoch => Interlocked.Read(ref _epoch);

    /// <summary>The table name as used in messages (<c>schema.table</c> or <c>database.table</c>).</summary>
    public string TableName => _setup.TableName;

    /// <summary>
    /// Creates the checkpoint, fence and audit tables if they do not exist. Safe to call repeatedly and concurrently.
    /// Needs the privilege to create tables.
    /// </summary>
    /// <param name="cancellationToken">Cancels the commands.</param>
    /// <returns>A task that completes when the tables exist.</returns>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.Misconfigured"/> when the user may not create them, naming the GRANT.</exception>
    /// <exception cref="DbException">The server could not be reached or refused otherwise.</exception>
    public async Task CreateSchemaAsync(CancellationToken cancellationToken = default)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            try
            {
                await CreateTablesAsync(connection, cancellationToken).ConfigureAwait(false);
            }
            catch (DbException ex) when (IsAccessDenied(ex))
            {
                throw AccessDenied(ex, $"create the checkpoint tables {TablesText}", GrantFix(createSchema: true));
            }
        }

        _log.SchemaCreated(TableName);
    }

    /// <summary>
    /// Takes ownership of the checkpoint name: increments its fencing epoch and remembers the new value. Saves of any owner
    /// that acquired earlier fail with <see cref="CheckpointErrorCode.StaleEpoch"/> from now on. Waits while another
    /// owner's save transaction holds the fence row.
    /// </summary>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>The new epoch (1 for the first owner).</returns>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.Misconfigured"/> when the tables do not exist or the user lacks a privilege on them.</exception>
    /// <exception cref="DbException">The server could not be reached.</exception>
    public async Task<long> AcquireAsync(CancellationToken cancellationToken = default)
    {
        long epoch;
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            try
            {
                epoch = await IncrementEpochAsync(connection, _setup.Owner, _timeProvider.GetUtcNow(), cancellationToken).ConfigureAwait(false);
            }
            catch (DbException ex) when (IsMissingTable(ex) || IsAccessDenied(ex))
            {
                throw Misconfigured(ex);
            }
            catch (FormatException ex)
            {
                throw CorruptFence(ex.Message);
            }
        }

        if (Interlocked.Exchange(ref _epoch, epoch) != 0)
        {
            // Whatever this instance knew was under its old epoch; another owner may have written since.
            lock (_knownGate)
            {
                _known.Clear();
            }
        }

        _log.EpochAcquired(Name, TableName, epoch);
        return epoch;
    }

    /// <inheritdoc />
    /// <remarks>Runs in a transaction of its own. Acquires the name first if this instance has no epoch yet.</remarks>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.StaleEpoch"/> when another owner acquired the name; a progress-guard code;
    /// <see cref="CheckpointErrorCode.Misconfigured"/>; or <see cref="CheckpointErrorCode.WriteFailed"/> when the server
    /// failed the transaction.
    /// </exception>
    public async ValueTask SaveAsync(CheckpointOffset offset, ulong committedEventCount, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(offset);
        cancellationToken.ThrowIfCancellationRequested();
        await WriteInOwnTransactionAsync(offset, committedEventCount, reason: null, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.Misconfigured"/> when the tables do not exist or the user may not read them;
    /// <see cref="CheckpointErrorCode.Corrupt"/> or <see cref="CheckpointErrorCode.UnsupportedFormatVersion"/> when the row
    /// cannot be trusted.
    /// </exception>
    public async ValueTask<CheckpointRecord?> LoadAsync(string sourceType, CancellationToken cancellationToken = default)
    {
        SourceTypeName.Validate(sourceType);
        cancellationToken.ThrowIfCancellationRequested();
        var rows = await ReadAsync(static (store, connection, type, ct) => store.ReadRowsAsync(connection, type, ct), sourceType, cancellationToken).ConfigureAwait(false);
        if (rows.Count == 0)
        {
            return null;
        }

        var record = ParseRecord(rows[0]);
        _log.Loaded(Name, sourceType, record.Offset, record.CommittedEventCount, record.Epoch);
        if (_setup.KnowsLoadedRows)
        {
            Remember(record.Offset, record.CommittedEventCount, rows[0].OffsetJson);
        }

        return record;
    }

    /// <inheritdoc />
    /// <remarks>Checks the fence, skips the progress guards, and writes an audit row in the same transaction.</remarks>
    public async ValueTask RewindAsync(CheckpointOffset offset, ulong committedEventCount, string reason, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(offset);
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        cancellationToken.ThrowIfCancellationRequested();
        await WriteInOwnTransactionAsync(offset, committedEventCount, reason, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads the fence row of this checkpoint name without locking or writing it (never acquires): the current epoch and
    /// the last owner.
    /// </summary>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>The fence, or <see langword="null"/> when the name was never acquired.</returns>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.Misconfigured"/> when the tables do not exist or the user may not read them;
    /// <see cref="CheckpointErrorCode.Corrupt"/> when the fence row cannot be read.
    /// </exception>
    /// <exception cref="DbException">The server could not be reached or refused otherwise.</exception>
    public async Task<CheckpointFence?> ReadFenceAsync(CancellationToken cancellationToken = default) =>
        await ReadAsync(static (store, connection, _, ct) => store.ReadFenceRowAsync(connection, ct), string.Empty, cancellationToken).ConfigureAwait(false);

    /// <summary>Reads every checkpoint row stored under this name (one per source type), ordered by source type.</summary>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>The records; empty when nothing was saved under this name.</returns>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.Misconfigured"/> when the tables do not exist or the user may not read them;
    /// <see cref="CheckpointErrorCode.Corrupt"/> or <see cref="CheckpointErrorCode.UnsupportedFormatVersion"/> when a row
    /// cannot be trusted.
    /// </exception>
    /// <exception cref="DbException">The server could not be reached or refused otherwise.</exception>
    public async Task<IReadOnlyList<CheckpointRecord>> ListAsync(CancellationToken cancellationToken = default)
    {
        var rows = await ReadAsync(static (store, connection, type, ct) => store.ReadRowsAsync(connection, type, ct), null, cancellationToken).ConfigureAwait(false);
        return [.. rows.Select(ParseRecord)];
    }

    /// <summary>Reads the newest audit rows (rewinds) of this name, newest first.</summary>
    /// <param name="limit">The most rows to return; at least 1.</param>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>Up to <paramref name="limit"/> entries, newest first; empty when the name was never rewound.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="limit"/> is less than 1.</exception>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.Misconfigured"/> when the tables do not exist or the user may not read them;
    /// <see cref="CheckpointErrorCode.Corrupt"/> when an audit row cannot be read.
    /// </exception>
    /// <exception cref="DbException">The server could not be reached or refused otherwise.</exception>
    public async Task<IReadOnlyList<CheckpointAuditEntry>> ReadAuditAsync(int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return await ReadAsync((store, connection, _, ct) => store.ReadAuditRowsAsync(connection, limit, ct), string.Empty, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Saves the checkpoint inside the caller's transaction (the provider's public <c>SaveAsync</c> overload taking its
    /// transaction type): visible only when the caller commits. The fence row stays locked until then.
    /// </summary>
    /// <param name="transaction">An open transaction on a connection to the database holding the checkpoint tables.</param>
    /// <param name="offset">The new offset.</param>
    /// <param name="committedEventCount">The committed event count at that offset.</param>
    /// <param name="cancellationToken">Cancels before anything is written.</param>
    /// <returns>A task that completes when the row is written in the transaction (not yet committed).</returns>
    /// <exception cref="ArgumentException">The transaction has completed.</exception>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.StaleEpoch"/>, a progress-guard code, <see cref="CheckpointErrorCode.Misconfigured"/>
    /// or <see cref="CheckpointErrorCode.WriteFailed"/>. After it the caller must roll the transaction back.
    /// </exception>
    protected async ValueTask SaveInTransactionAsync(DbTransaction transaction, CheckpointOffset offset, ulong committedEventCount, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(offset);
        var connection = transaction.Connection ?? throw new ArgumentException("The transaction has completed; pass an open transaction.", nameof(transaction));
        cancellationToken.ThrowIfCancellationRequested();
        var epoch = await _firstAcquisition.EnsureAsync(Epoch, cancellationToken).ConfigureAwait(false);
        await MeasureAsync(
            offset,
            async () =>
            {
                // Never ahead of the guards here: a refused save must leave nothing in a transaction the caller may
                // commit. Whether the caller commits is unknown, so what the row holds is no longer known either.
                Forget(offset.SourceType);
                _ = await WriteAsync(connection, transaction, epoch, offset, committedEventCount, reason: null, writeAhead: false, cancellationToken).ConfigureAwait(false);
            }).ConfigureAwait(false);
    }

    /// <summary>Creates the three tables (and whatever else the dialect needs) if they do not exist.</summary>
    /// <param name="connection">An open connection.</param>
    /// <param name="cancellationToken">Cancels the commands.</param>
    /// <returns>A task that completes when they exist.</returns>
    protected abstract Task CreateTablesAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>Inserts the fence row with epoch 1, or increments its epoch, recording the owner; returns the new epoch.</summary>
    /// <param name="connection">An open connection, outside any transaction.</param>
    /// <param name="owner">The owner text.</param>
    /// <param name="now">The acquisition time.</param>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>The epoch after the increment. A value that cannot be read throws <see cref="FormatException"/>.</returns>
    protected abstract Task<long> IncrementEpochAsync(DbConnection connection, string owner, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// The first step of the full path: locks the name's fence row, then locks and reads the checkpoint row of
    /// <paramref name="sourceType"/> with a snapshot taken after the fence lock is held. With <paramref name="writeAhead"/>
    /// the dialect may also send the upsert in the same round trip (the store rolls it back when the guards refuse).
    /// </summary>
    /// <param name="connection">The transaction's connection.</param>
    /// <param name="transaction">The transaction.</param>
    /// <param name="sourceType">The source type of the row.</param>
    /// <param name="writeAhead">The row to upsert in the same round trip, or <see langword="null"/> to write nothing yet.</param>
    /// <param name="cancellationToken">Cancels the commands.</param>
    /// <returns>What was read, and whether the upsert was sent.</returns>
    protected abstract Task<TableLock> LockAsync(
        DbConnection connection, DbTransaction transaction, string sourceType, TableRowWrite? writeAhead, CancellationToken cancellationToken);

    /// <summary>The second step of the full path: upserts the row (and, for a rewind, inserts the audit row first).</summary>
    /// <param name="connection">The transaction's connection.</param>
    /// <param name="transaction">The transaction.</param>
    /// <param name="write">The row to write.</param>
    /// <param name="locked">What <see cref="LockAsync"/> returned.</param>
    /// <param name="audit">The audit row of a rewind, or <see langword="null"/> for a save.</param>
    /// <param name="cancellationToken">Cancels the commands.</param>
    /// <returns>The write sequence given to the row when the dialect assigns it; <see langword="null"/> when the server does.</returns>
    protected abstract Task<ulong?> WriteRowAsync(
        DbConnection connection, DbTransaction transaction, TableRowWrite write, TableLock locked, TableAuditWrite? audit, CancellationToken cancellationToken);

    /// <summary>
    /// The one-statement save: one autocommitted statement that writes <paramref name="write"/> only when the row still
    /// holds exactly <paramref name="knownOffsetJson"/> and <paramref name="knownCount"/> (and the row format) and only
    /// while the fence row holds <see cref="TableRowWrite.Epoch"/>, read with a shared lock until the statement commits.
    /// </summary>
    /// <param name="connection">An open connection, outside any transaction.</param>
    /// <param name="write">The row to write.</param>
    /// <param name="knownOffsetJson">The offset JSON this instance knows the row holds.</param>
    /// <param name="knownCount">The count this instance knows the row holds.</param>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>Whether the row matched and was written, and the write sequence when the dialect assigns it.</returns>
    protected abstract Task<(bool Written, ulong? Sequence)> TryUpdateKnownRowAsync(
        DbConnection connection, TableRowWrite write, string knownOffsetJson, ulong knownCount, CancellationToken cancellationToken);

    /// <summary>Reads the name's checkpoint rows without locking: the one of <paramref name="sourceType"/>, or all by source type when <see langword="null"/>.</summary>
    /// <param name="connection">An open connection.</param>
    /// <param name="sourceType">The source type, or <see langword="null"/> for every row of the name.</param>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>The rows. A value that cannot be read throws <see cref="FormatException"/>.</returns>
    protected abstract Task<IReadOnlyList<TableRow>> ReadRowsAsync(DbConnection connection, string? sourceType, CancellationToken cancellationToken);

    /// <summary>Reads the name's fence row without locking it.</summary>
    /// <param name="connection">An open connection.</param>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>The fence, or <see langword="null"/>. A value that cannot be read throws <see cref="FormatException"/>.</returns>
    protected abstract Task<CheckpointFence?> ReadFenceRowAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>Reads the name's newest audit rows, newest first.</summary>
    /// <param name="connection">An open connection.</param>
    /// <param name="limit">The most rows to return.</param>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>The entries. A value that cannot be read throws <see cref="FormatException"/>.</returns>
    protected abstract Task<IReadOnlyList<CheckpointAuditEntry>> ReadAuditRowsAsync(DbConnection connection, int limit, CancellationToken cancellationToken);

    /// <summary>Whether the server said that a checkpoint table does not exist.</summary>
    /// <param name="exception">The provider's exception.</param>
    /// <returns><see langword="true"/> for a missing table.</returns>
    protected abstract bool IsMissingTable(DbException exception);

    /// <summary>Whether the server refused for lack of a privilege.</summary>
    /// <param name="exception">The provider's exception.</param>
    /// <returns><see langword="true"/> for a refused privilege.</returns>
    protected abstract bool IsAccessDenied(DbException exception);

    /// <summary>
    /// Whether retrying the same save may succeed: a deadlock, a serialization failure, a lock-wait timeout or a lost
    /// connection. By default the provider's <see cref="DbException.IsTransient"/>.
    /// </summary>
    /// <param name="exception">The provider's exception.</param>
    /// <returns><see langword="true"/> when a retry may succeed.</returns>
    protected virtual bool IsTransient(DbException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception.IsTransient;
    }

    /// <summary>The server's code for an error in the form messages quote it, for example <c>SQLSTATE 42501</c>.</summary>
    /// <param name="exception">The provider's exception.</param>
    /// <returns>The code text.</returns>
    protected virtual string DescribeError(DbException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return $"SQLSTATE {exception.SqlState ?? "unknown"}";
    }

    /// <summary>The GRANT statements that let the store's user work, with <c>&lt;user&gt;</c> for the account.</summary>
    /// <param name="createSchema">For <see cref="CreateSchemaAsync"/> (the privilege to create tables) rather than for reads and saves.</param>
    /// <returns>The statements.</returns>
    protected abstract string GrantFix(bool createSchema);

    private string TablesText => $"{TableName}, {TableName}_fence and {TableName}_audit";

    private string Where => $"{TableName}/{Name}";

    private async Task WriteInOwnTransactionAsync(CheckpointOffset offset, ulong committedEventCount, string? reason, CancellationToken cancellationToken)
    {
        SourceTypeName.Validate(offset.SourceType, nameof(offset));
        var epoch = await _firstAcquisition.EnsureAsync(Epoch, cancellationToken).ConfigureAwait(false);
        await MeasureAsync(
            offset,
            async () =>
            {
                if (reason is null && await TrySaveKnownAsync(epoch, offset, committedEventCount, cancellationToken).ConfigureAwait(false))
                {
                    return;
                }

                Forget(offset.SourceType);
                var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
                await using (connection.ConfigureAwait(false))
                {
                    var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                    await using (transaction.ConfigureAwait(false))
                    {
                        // A save may write ahead of its guards (the dialect decides); the transaction is ours, so a refusal
                        // or a repeat rolls the write back (an exception disposes the transaction uncommitted). A rewind has
                        // no guards but an audit row, which needs the old row first.
                        if (await WriteAsync(connection, transaction, epoch, offset, committedEventCount, reason, writeAhead: reason is null, cancellationToken).ConfigureAwait(false))
                        {
                            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                        }
                        else
                        {
                            await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                        }

                        // Committed (or a repeat of what is stored): the row now holds exactly this offset and count.
                        Remember(offset, committedEventCount, offset.ToJsonString());
                    }
                }
            }).ConfigureAwait(false);
    }

    // Metrics of every save and rewind, recorded here only; a provider's error becomes a typed CheckpointException.
    private async Task MeasureAsync(CheckpointOffset offset, Func<Task> save)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await save().ConfigureAwait(false);
            CheckpointMetrics.RecordSave(_setup.StoreTag, offset.SourceType, started, null);
        }
        catch (CheckpointException ex)
        {
            CheckpointMetrics.RecordSave(_setup.StoreTag, offset.SourceType, started, ex.ErrorCode);
            throw;
        }
        catch (DbException ex)
        {
            var failure = SaveFailed(offset, ex);
            CheckpointMetrics.RecordSave(_setup.StoreTag, offset.SourceType, started, failure.ErrorCode);
            throw failure;
        }
    }

    // The one-statement save. When this instance knows what the row holds and the progress guards accept the new offset
    // against that, a single autocommitted statement writes it (see TryUpdateKnownRowAsync for its conditions). It reports
    // false, having written nothing, when it does not apply: no row known, a guard refusal or a repeat (the full path then
    // judges the row as stored and words the error), or nothing matched (the row or the fence changed behind this
    // instance's back); the full path then decides.
    private async Task<bool> TrySaveKnownAsync(long epoch, CheckpointOffset offset, ulong committedEventCount, CancellationToken cancellationToken)
    {
        KnownRow? known;
        lock (_knownGate)
        {
            if (!_known.TryGetValue(offset.SourceType, out known))
            {
                return false;
            }
        }

        ProgressGuard.Verdict verdict;
        try
        {
            verdict = ProgressGuard.Check(Where, new CheckpointRecord(offset.SourceType, known.Count, known.Offset), offset, committedEventCount);
        }
        catch (CheckpointException)
        {
            return false;
        }

        if (verdict != ProgressGuard.Verdict.Advance)
        {
            return false;
        }

        var write = NewWrite(offset, committedEventCount, epoch);
        (bool Written, ulong? Sequence) result;
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            result = await TryUpdateKnownRowAsync(connection, write, known.Json, known.Count, cancellationToken).ConfigureAwait(false);
        }

        if (!result.Written)
        {
            Forget(offset.SourceType);
            return false;
        }

        Remember(offset, committedEventCount, write.OffsetJson);
        _log.Saved(Name, offset.SourceType, offset, committedEventCount, epoch, result.Sequence);
        return true;
    }

    // Writes the row after the fence check and (unless rewinding) the progress guards. Returns false for an idempotent
    // repeat: nothing is to be written, and a row the dialect wrote ahead must be rolled back by the caller, as must
    // everything after an exception.
    private async Task<bool> WriteAsync(
        DbConnection connection,
        DbTransaction transaction,
        long epoch,
        CheckpointOffset offset,
        ulong committedEventCount,
        string? reason,
        bool writeAhead,
        CancellationToken cancellationToken)
    {
        SourceTypeName.Validate(offset.SourceType, nameof(offset));
        var write = NewWrite(offset, committedEventCount, epoch);
        TableLock locked;
        try
        {
            locked = await LockAsync(connection, transaction, offset.SourceType, writeAhead ? write : null, cancellationToken).ConfigureAwait(false);
        }
        catch (FormatException ex)
        {
            throw CorruptFence(ex.Message);
        }

        if (locked.Epoch != epoch)
        {
            var current = locked.Epoch ?? 0;
            _log.StaleEpoch(Name, epoch, current);
            throw new CheckpointException(
                CheckpointErrorCode.StaleEpoch,
                string.Create(CultureInfo.InvariantCulture, $"Refusing to save checkpoint {Where}: this owner holds fencing epoch {epoch}, but the name is now at epoch {current} — another owner has taken over. Stop this consumer; the new owner continues from the stored checkpoint."));
        }

        var existing = locked.Row is { } row ? ParseRecord(row) : null;
        if (reason is not null)
        {
            var audit = new TableAuditWrite(existing?.Offset.ToJsonString(), existing?.CommittedEventCount, reason);
            _ = await WriteRowAsync(connection, transaction, write, locked, audit, cancellationToken).ConfigureAwait(false);
            _log.Rewound(Name, offset.SourceType, existing?.Offset, existing?.CommittedEventCount, offset, committedEventCount, reason);
            return true;
        }

        ProgressGuard.Verdict verdict;
        try
        {
            verdict = ProgressGuard.Check(Where, existing, offset, committedEventCount);
        }
        catch (CheckpointException ex)
        {
            _log.SaveRefused(Name, offset.SourceType, ex.Message);
            throw;
        }

        if (verdict == ProgressGuard.Verdict.Repeat)
        {
            return false;
        }

        var sequence = locked.WroteAhead ? null : await WriteRowAsync(connection, transaction, write, locked, null, cancellationToken).ConfigureAwait(false);
        _log.Saved(Name, offset.SourceType, offset, committedEventCount, epoch, sequence);
        return true;
    }

    private TableRowWrite NewWrite(CheckpointOffset offset, ulong committedEventCount, long epoch) =>
        new(Name, offset.SourceType, offset.ToJsonString(), committedEventCount, epoch, RowFormatVersion, _timeProvider.GetUtcNow());

    // Runs a read-only dialect read on a connection of its own; a missing table or privilege is Misconfigured, a value that
    // cannot be read is Corrupt.
    private async Task<T> ReadAsync<T>(Func<TableCheckpointStore, DbConnection, string?, CancellationToken, Task<T>> read, string? sourceType, CancellationToken cancellationToken)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            try
            {
                return await read(this, connection, sourceType, cancellationToken).ConfigureAwait(false);
            }
            catch (DbException ex) when (IsMissingTable(ex) || IsAccessDenied(ex))
            {
                throw Misconfigured(ex);
            }
            catch (FormatException ex)
            {
                throw new CheckpointException(CheckpointErrorCode.Corrupt, $"A row of checkpoint {Where} cannot be read: {ex.Message} Repair or rewind the row.", ex);
            }
        }
    }

    private CheckpointRecord ParseRecord(TableRow row)
    {
        var where = $"{TableName} row (name '{Name}', source_type '{row.SourceType}')";
        if (row.FormatVersion != RowFormatVersion)
        {
            throw new CheckpointException(
                CheckpointErrorCode.UnsupportedFormatVersion,
                $"Checkpoint {where} has format_version {row.FormatVersion}; this release reads version {RowFormatVersion}. Upgrade {GetType().Assembly.GetName().Name}.");
        }

        CheckpointOffset offset;
        try
        {
            using var document = OffsetJsonText.Parse(row.OffsetJson);
            offset = _setup.Codecs.Read(row.SourceType, document.RootElement, OffsetJsonVersion);
        }
        catch (Exception ex) when (ex is FormatException or JsonException or ArgumentException)
        {
            throw new CheckpointException(CheckpointErrorCode.Corrupt, $"Checkpoint {where} holds an offset that cannot be read: {ex.Message} Repair or rewind the row.", ex);
        }

        if (!string.Equals(offset.SourceType, row.SourceType, StringComparison.Ordinal))
        {
            throw new CheckpointException(CheckpointErrorCode.Corrupt, $"Checkpoint {where} was read as an offset of source type '{offset.SourceType}'. Repair or rewind the row.");
        }

        return new CheckpointRecord(row.SourceType, row.CommittedEventCount, offset)
        {
            FormatVersion = row.FormatVersion,
            Sequence = row.Sequence,
            SavedAt = row.UpdatedAt,
            Epoch = row.Epoch,
        };
    }

    private void Remember(CheckpointOffset offset, ulong committedEventCount, string offsetJson)
    {
        lock (_knownGate)
        {
            _known[offset.SourceType] = new KnownRow(offset, committedEventCount, offsetJson);
        }
    }

    private void Forget(string sourceType)
    {
        lock (_knownGate)
        {
            _known.Remove(sourceType);
        }
    }

    private CheckpointException CorruptFence(string problem) =>
        new(CheckpointErrorCode.Corrupt, $"The fence row of checkpoint {Where} in {TableName}_fence cannot be read: {problem}. Repair the row, or delete it and acquire the name again.");

    // A missing table or a refused privilege: both are fixed by an operator, not by a retry.
    private CheckpointException Misconfigured(DbException ex) =>
        IsAccessDenied(ex)
            ? AccessDenied(ex, $"use the checkpoint tables {TablesText}", GrantFix(createSchema: false))
            : new(
                CheckpointErrorCode.Misconfigured,
                $"The checkpoint tables {TablesText} do not exist ({ex.Message}). Create them once with {GetType().Name}.CreateSchemaAsync or the SQL in {_setup.DocsPage}.",
                ex);

    private CheckpointException AccessDenied(DbException ex, string operation, string grants) =>
        new(
            CheckpointErrorCode.Misconfigured,
            $"The database user may not {operation}: {ex.Message} ({DescribeError(ex)}). Fix: {grants} (<user> is the account named in the server's message).",
            ex);

    private CheckpointException SaveFailed(CheckpointOffset offset, DbException ex)
    {
        if (IsAccessDenied(ex) || IsMissingTable(ex))
        {
            return Misconfigured(ex);
        }

        var transient = IsTransient(ex);
        return new(
            CheckpointErrorCode.WriteFailed,
            $"Saving checkpoint {Where} at {offset} failed: {ex.Message} ({DescribeError(ex)}). The transaction was not committed and the stored row is unchanged; " +
            (transient ? "the failure is transient (deadlock, serialization failure, lock-wait timeout or connection): retry the save." : "retry when the server is reachable."),
            ex)
        {
            TransientCause = transient,
        };
    }

    /// <summary>What this instance last wrote to (or found in) its row.</summary>
    private sealed record KnownRow(CheckpointOffset Offset, ulong Count, string Json);
}
