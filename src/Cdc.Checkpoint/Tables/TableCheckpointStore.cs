using System.Data.Common;
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
public abstract partial class TableCheckpointStore : ICheckpointStore
{
    private readonly DbDataSource _dataSource;
    private readonly TableStoreSetup _setup;
    private readonly TableStoreLog _log;
    private readonly TableStoreErrors _errors;
    private readonly TableRowParser _parser;
    private readonly KnownRows _known = new();
    private readonly TableFence _fence;
    private readonly TableStoreWriter _writer;

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
        Name = name;
        var time = timeProvider ?? TimeProvider.System;
        _log = TableStoreLog.For(setup.EventIdBase, logger);
        _errors = new TableStoreErrors(this, setup.TableName, name, GetType().Name, setup.DocsPage);
        _parser = new TableRowParser(setup.Codecs, setup.TableName, name, GetType().Assembly.GetName().Name);
        _fence = new TableFence(dataSource, this, _errors, _log, time, _known, name, setup.TableName, setup.Owner);
        _writer = new TableStoreWriter(dataSource, this, _errors, _log, time, _fence, _known, _parser, name, setup.StoreTag);
    }

    /// <summary>The checkpoint name.</summary>
    public string Name { get; }

    /// <summary>The fencing epoch this instance owns, or 0 before <see cref="AcquireAsync"/> (or the first save).</summary>
    public long Epoch => _fence.Epoch;

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
            catch (DbException ex) when (_errors.IsAccessDenied(ex))
            {
                throw _errors.AccessDenied(ex, createSchema: true);
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
    public Task<long> AcquireAsync(CancellationToken cancellationToken = default) => _fence.AcquireAsync(cancellationToken);

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
        await _writer.WriteInOwnTransactionAsync(offset, committedEventCount, reason: null, cancellationToken).ConfigureAwait(false);
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

        var record = _parser.Parse(rows[0]);
        _log.Loaded(Name, sourceType, record.Offset, record.CommittedEventCount, record.Epoch);
        if (_setup.KnowsLoadedRows)
        {
            _known.Remember(record.Offset, record.CommittedEventCount, rows[0].OffsetJson);
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
        await _writer.WriteInOwnTransactionAsync(offset, committedEventCount, reason, cancellationToken).ConfigureAwait(false);
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
        return [.. rows.Select(_parser.Parse)];
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
        await _writer.SaveInTransactionAsync(connection, transaction, offset, committedEventCount, cancellationToken).ConfigureAwait(false);
    }

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
            catch (DbException ex) when (_errors.IsMisconfiguration(ex))
            {
                throw _errors.Misconfigured(ex);
            }
            catch (FormatException ex)
            {
                throw _errors.CorruptRow(ex);
            }
        }
    }
}
