using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres.Diagnostics;
using Cdc.Checkpoint.Tables;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;
using Log = Cdc.Checkpoint.Postgres.Diagnostics.Log;

namespace Cdc.Checkpoint.Postgres.Store;

/// <summary>
/// A checkpoint store in a PostgreSQL table: one row per checkpoint name and source type, holding the typed offset
/// (<c>jsonb</c>), the committed event count, the fencing epoch of the owner that wrote it, a store-wide write sequence
/// and the update time. A sink that writes to the same database saves its rows and its offset in one transaction
/// (<see cref="SaveAsync(NpgsqlTransaction, CheckpointOffset, ulong, CancellationToken)"/>), so both commit or neither
/// does: exactly-once delivery into that sink.
/// </summary>
/// <remarks>
/// <para>
/// Create the tables once with <see cref="CreateSchemaAsync"/> (or the SQL in <c>docs/postgres.md</c>); the store never
/// creates them implicitly.
/// </para>
/// <para>
/// Fencing: <see cref="AcquireAsync"/> increments the name's epoch in <c>{table}_fence</c> and makes this instance its
/// owner (the first save acquires when it has not been called). Every save locks the fence row
/// (<c>SELECT … FOR UPDATE</c>) and fails with <see cref="CheckpointErrorCode.StaleEpoch"/> when a newer owner has
/// acquired the name since, so a paused former owner on another host cannot overwrite progress. The same lock makes
/// the progress guards (<see cref="ProgressGuard"/>: no lower count, no conflicting offset at an equal count, no
/// typed regression or divergence) atomic with the write.
/// </para>
/// <para>
/// Loads do not need an epoch. <see cref="RewindAsync"/> skips the progress guards (never the fence) and writes an audit
/// row to <c>{table}_audit</c> in the same transaction.
/// </para>
/// <para>Thread-safe. Errors of the server or the network during a save surface as
/// <see cref="CheckpointErrorCode.WriteFailed"/> (the previous row is unchanged, the transaction rolled back); during a
/// load they surface as <see cref="NpgsqlException"/>.</para>
/// </remarks>
public sealed class PostgresCheckpointStore : ICheckpointStore
{
    /// <summary>The format version of the rows this release writes (the <c>format_version</c> column).</summary>
    public const int CurrentFormatVersion = 1;

    // The offset column holds the offset JSON in the shape of the file checkpoint's current format, so the codecs read
    // it as that version: format_version is the version of the row layout, not of the offset JSON (a codec given 1
    // would read the rustcdc v1 shape, which differs for MySQL and MariaDB offsets).
    private const int OffsetJsonVersion = Files.FileCheckpoint.CurrentFormatVersion;

    /// <summary>The longest checkpoint name, in characters.</summary>
    public const int MaxNameLength = 200;

    private const string StoreTag = "postgres_table";

    private readonly NpgsqlDataSource _dataSource;
    private readonly PostgresCheckpointStoreOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly string _table;
    private readonly string _fence;
    private readonly string _audit;
    private readonly string _sequence;
    private readonly string _lockFenceSql;
    private readonly string _lockRowSql;
    private readonly string _readRowSql;
    private readonly string _upsertSql;
    private readonly string _auditSql;
    private readonly string _fastUpdateSql;
    private readonly FirstAcquisition _firstAcquisition;
    private readonly Lock _knownGate = new();
    private readonly Dictionary<string, (CheckpointOffset Offset, ulong Count, string Json)> _known = new(StringComparer.Ordinal);
    private long _epoch;

    /// <summary>Creates a store for checkpoint <paramref name="name"/>. Nothing is touched until the first operation.</summary>
    /// <param name="dataSource">Connections to the database that holds the checkpoint tables.</param>
    /// <param name="name">The checkpoint name (one consumer): 1–200 characters without control characters.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <param name="loggerFactory">Logger factory; no logging when <see langword="null"/>.</param>
    /// <param name="timeProvider">Clock for <c>updated_at</c> and <c>acquired_at</c>; the system clock when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty, too long or contains control characters.</exception>
    public PostgresCheckpointStore(
        NpgsqlDataSource dataSource,
        string name,
        PostgresCheckpointStoreOptions? options = null,
        ILoggerFactory? loggerFactory = null,
        TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0 || name.Length > MaxNameLength || name.Any(char.IsControl) || string.IsNullOrWhiteSpace(name))
        {
            throw new ArgumentException(
                $"Checkpoint name '{name}' is not allowed: use 1-{MaxNameLength} characters without control characters.", nameof(name));
        }

        _dataSource = dataSource;
        _firstAcquisition = new FirstAcquisition(AcquireAsync);
        Name = name;
        _options = options ?? new PostgresCheckpointStoreOptions();
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<PostgresCheckpointStore>();
        _timeProvider = timeProvider ?? TimeProvider.System;
        _table = $"\"{_options.Schema}\".\"{_options.TableName}\"";
        _fence = $"\"{_options.Schema}\".\"{_options.TableName}_fence\"";
        _audit = $"\"{_options.Schema}\".\"{_options.TableName}_audit\"";
        _sequence = $"\"{_options.Schema}\".\"{_options.TableName}_seq\"";

        // Built once: a save sends these on every call.
        _lockFenceSql = $"SELECT epoch FROM {_fence} WHERE name = $1 FOR UPDATE";
        const string Columns = "\"offset\"::text, committed_event_count::text, epoch, sequence, format_version, updated_at";
        _readRowSql = $"SELECT {Columns} FROM {_table} WHERE name = $1 AND source_type = $2";
        _lockRowSql = _readRowSql + " FOR UPDATE";

        _upsertSql = $"""
            INSERT INTO {_table} (name, source_type, "offset", committed_event_count, epoch, sequence, format_version, updated_at)
            VALUES ($1, $2, $3::jsonb, $4, $5, nextval('{_sequence}'), $6, $7)
            ON CONFLICT (name, source_type) DO UPDATE SET
                "offset" = EXCLUDED."offset", committed_event_count = EXCLUDED.committed_event_count, epoch = EXCLUDED.epoch,
                sequence = EXCLUDED.sequence, format_version = EXCLUDED.format_version, updated_at = EXCLUDED.updated_at
            """;
        // The one-statement save (see TrySaveKnownAsync): writes only when the row still holds exactly the offset and
        // count the guards were judged against, and only while the fence row holds this owner's epoch, share-locked
        // until the statement commits so that an acquisition cannot slip in between.
        _fastUpdateSql = $"""
            UPDATE {_table} SET
                "offset" = $3::jsonb, committed_event_count = $4, epoch = $5, sequence = nextval('{_sequence}'),
                format_version = $6, updated_at = $7
            WHERE name = $1 AND source_type = $2 AND "offset" = $8::jsonb AND committed_event_count = $9
                AND format_version = $6
                AND (SELECT f.epoch FROM {_fence} f WHERE f.name = $1 FOR SHARE) = $5
            """;
        _auditSql = $"""
            INSERT INTO {_audit} (name, source_type, old_offset, old_count, new_offset, new_count, epoch, reason, at)
            VALUES ($1, $2, $3::jsonb, $4::numeric, $5::jsonb, $6, $7, $8, $9)
            """;
    }

    /// <summary>The checkpoint name.</summary>
    public string Name { get; }

    /// <summary>The fencing epoch this instance owns, or 0 before <see cref="AcquireAsync"/> (or the first save).</summary>
    public long Epoch => Interlocked.Read(ref _epoch);

    /// <summary>The qualified table name, as used in messages: <c>schema.table</c>.</summary>
    public string TableName => $"{_options.Schema}.{_options.TableName}";

    /// <summary>
    /// Creates the checkpoint table, the fence and audit tables and the sequence if they do not exist. Safe to call
    /// concurrently and repeatedly. Needs the <c>CREATE</c> privilege on the schema.
    /// </summary>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>A task that completes when the tables exist.</returns>
    /// <exception cref="NpgsqlException">The server refused (for example, no privilege).</exception>
    public async Task CreateSchemaAsync(CancellationToken cancellationToken = default)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                // Concurrent CREATE … IF NOT EXISTS can still collide on the catalog; one creator at a time.
                await ExecuteAsync(connection, transaction, "SELECT pg_advisory_xact_lock(hashtext($1))", [TableName], cancellationToken).ConfigureAwait(false);
                await ExecuteAsync(connection, transaction, SchemaSql, [], cancellationToken).ConfigureAwait(false);
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        Log.StoreSchemaCreated(_logger, TableName);
    }

    /// <summary>
    /// Takes ownership of the checkpoint name: increments its fencing epoch and remembers the new value. Saves of any
    /// owner that acquired earlier fail with <see cref="CheckpointErrorCode.StaleEpoch"/> from now on. Waits while another
    /// owner's save transaction holds the fence row.
    /// </summary>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>The new epoch (1 for the first owner).</returns>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.Misconfigured"/> when the tables do not exist.</exception>
    /// <exception cref="NpgsqlException">The server could not be reached.</exception>
    public async Task<long> AcquireAsync(CancellationToken cancellationToken = default)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var sql = $"""
                INSERT INTO {_fence} (name, epoch, owner, acquired_at) VALUES ($1, 1, $2, $3)
                ON CONFLICT (name) DO UPDATE SET epoch = {_fence}.epoch + 1, owner = EXCLUDED.owner, acquired_at = EXCLUDED.acquired_at
                RETURNING epoch
                """;
            long epoch;
            try
            {
                epoch = (long)(await ScalarAsync(connection, null, sql, [Name, _options.Owner, _timeProvider.GetUtcNow()], cancellationToken).ConfigureAwait(false))!;
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
            {
                throw MissingTables(ex);
            }

            Interlocked.Exchange(ref _epoch, epoch);
            Log.StoreEpochAcquired(_logger, Name, TableName, epoch);
            return epoch;
        }
    }

    /// <inheritdoc />
    /// <remarks>Runs in a transaction of its own. Acquires the name first if this instance has no epoch yet.</remarks>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.StaleEpoch"/> when another owner acquired the name; a progress-guard code; or
    /// <see cref="CheckpointErrorCode.WriteFailed"/> when the server failed the transaction.
    /// </exception>
    public async ValueTask SaveAsync(CheckpointOffset offset, ulong committedEventCount, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(offset);
        cancellationToken.ThrowIfCancellationRequested();
        await WriteInOwnTransactionAsync(offset, committedEventCount, reason: null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Saves the checkpoint inside the caller's transaction: it becomes visible, together with whatever else the
    /// transaction wrote, only when the caller commits, and disappears with it on rollback. The fence row stays locked
    /// until then, so keep the transaction short.
    /// </summary>
    /// <param name="transaction">An open transaction on a connection to the database holding the checkpoint tables.</param>
    /// <param name="offset">The new offset.</param>
    /// <param name="committedEventCount">The committed event count at that offset.</param>
    /// <param name="cancellationToken">Cancels before anything is written.</param>
    /// <returns>A task that completes when the row is written in the transaction (not yet committed).</returns>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.StaleEpoch"/>, a progress-guard code, or <see cref="CheckpointErrorCode.WriteFailed"/>.
    /// After a <see cref="CheckpointException"/> the caller's transaction must be rolled back.
    /// </exception>
    public async ValueTask SaveAsync(NpgsqlTransaction transaction, CheckpointOffset offset, ulong committedEventCount, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(offset);
        var connection = transaction.Connection ?? throw new ArgumentException("The transaction has completed; pass an open transaction.", nameof(transaction));
        cancellationToken.ThrowIfCancellationRequested();
        var epoch = await _firstAcquisition.EnsureAsync(Epoch, cancellationToken).ConfigureAwait(false);
        var started = Stopwatch.GetTimestamp();
        try
        {
            // Never ahead of the guards here: a refused save must leave nothing in a transaction the caller may commit.
            // Whether the caller commits is unknown here, so what the row holds is no longer known either.
            Forget(offset.SourceType);
            _ = await WriteAsync(connection, transaction, epoch, offset, committedEventCount, reason: null, writeAhead: false, cancellationToken).ConfigureAwait(false);
            CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, null);
        }
        catch (CheckpointException ex)
        {
            CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, ex.ErrorCode);
            throw;
        }
        catch (NpgsqlException ex)
        {
            CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, CheckpointErrorCode.WriteFailed);
            throw WriteFailed(offset, ex);
        }
    }

    /// <inheritdoc />
    public async ValueTask<CheckpointRecord?> LoadAsync(string sourceType, CancellationToken cancellationToken = default)
    {
        SourceTypeName.Validate(sourceType);
        cancellationToken.ThrowIfCancellationRequested();
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            try
            {
                var record = await ReadRecordAsync(connection, sourceType, cancellationToken).ConfigureAwait(false);
                if (record is not null)
                {
                    Log.StoreLoaded(_logger, Name, sourceType, record.Offset, record.CommittedEventCount, record.Epoch);
                    Remember(record.Offset, record.CommittedEventCount);
                }

                return record;
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
            {
                throw MissingTables(ex);
            }
        }
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
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.Misconfigured"/> when the tables do not exist.</exception>
    /// <exception cref="NpgsqlException">The server could not be reached or refused.</exception>
    public async Task<CheckpointFence?> ReadFenceAsync(CancellationToken cancellationToken = default)
    {
        var rows = await ReadRowsAsync($"SELECT epoch, owner, acquired_at FROM {_fence} WHERE name = $1", [Name], cancellationToken).ConfigureAwait(false);
        return rows.Count == 0 ? null : new CheckpointFence(Name, (long)rows[0][0]!, (string)rows[0][1]!, ToUtc(rows[0][2]));
    }

    /// <summary>Reads every checkpoint row stored under this name (one per source type), ordered by source type.</summary>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>The records; empty when nothing was saved under this name.</returns>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.Misconfigured"/> when the tables do not exist; <see cref="CheckpointErrorCode.Corrupt"/>
    /// or <see cref="CheckpointErrorCode.UnsupportedFormatVersion"/> when a row cannot be trusted.
    /// </exception>
    /// <exception cref="NpgsqlException">The server could not be reached or refused.</exception>
    public async Task<IReadOnlyList<CheckpointRecord>> ListAsync(CancellationToken cancellationToken = default)
    {
        var rows = await ReadRowsAsync(
            $"SELECT source_type, \"offset\"::text, committed_event_count::text, epoch, sequence, format_version, updated_at FROM {_table} WHERE name = $1 ORDER BY source_type",
            [Name],
            cancellationToken).ConfigureAwait(false);
        return [.. rows.Select(r => ParseRecord((string)r[0]!, (string)r[1]!, (string)r[2]!, (long)r[3]!, (long)r[4]!, (int)r[5]!, ToUtc(r[6])))];
    }

    /// <summary>Reads the newest audit rows (rewinds) of this name, newest first.</summary>
    /// <param name="limit">The most rows to return; at least 1.</param>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>Up to <paramref name="limit"/> entries, newest first; empty when the name was never rewound.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="limit"/> is less than 1.</exception>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.Misconfigured"/> when the tables do not exist.</exception>
    /// <exception cref="NpgsqlException">The server could not be reached or refused.</exception>
    public async Task<IReadOnlyList<CheckpointAuditEntry>> ReadAuditAsync(int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var rows = await ReadRowsAsync(
            $"""
            SELECT id, source_type, old_offset::text, old_count::text, new_offset::text, new_count::text, epoch, reason, at
            FROM {_audit} WHERE name = $1 ORDER BY id DESC LIMIT $2
            """,
            [Name, limit],
            cancellationToken).ConfigureAwait(false);
        return [.. rows.Select(r => new CheckpointAuditEntry(
            (long)r[0]!,
            (string)r[1]!,
            (string?)r[2],
            r[3] is string oldCount ? ulong.Parse(oldCount, NumberStyles.None, CultureInfo.InvariantCulture) : null,
            (string)r[4]!,
            ulong.Parse((string)r[5]!, NumberStyles.None, CultureInfo.InvariantCulture),
            (long)r[6]!,
            (string)r[7]!,
            ToUtc(r[8])))];
    }

    private string SchemaSql => $"""
        CREATE TABLE IF NOT EXISTS {_table} (
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND {MaxNameLength}),
            source_type text NOT NULL CHECK (source_type ~ '^[a-z][a-z0-9_]*$' AND length(source_type) <= 64),
            "offset" jsonb NOT NULL,
            committed_event_count numeric(20,0) NOT NULL CHECK (committed_event_count BETWEEN 0 AND 18446744073709551615),
            epoch bigint NOT NULL CHECK (epoch > 0),
            sequence bigint NOT NULL,
            format_version integer NOT NULL,
            updated_at timestamptz NOT NULL,
            PRIMARY KEY (name, source_type));
        CREATE TABLE IF NOT EXISTS {_fence} (
            name text PRIMARY KEY,
            epoch bigint NOT NULL CHECK (epoch > 0),
            owner text NOT NULL,
            acquired_at timestamptz NOT NULL);
        CREATE TABLE IF NOT EXISTS {_audit} (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name text NOT NULL,
            source_type text NOT NULL,
            old_offset jsonb,
            old_count numeric(20,0),
            new_offset jsonb NOT NULL,
            new_count numeric(20,0) NOT NULL,
            epoch bigint NOT NULL,
            reason text NOT NULL,
            at timestamptz NOT NULL);
        CREATE SEQUENCE IF NOT EXISTS {_sequence};
        """;

    private async Task WriteInOwnTransactionAsync(CheckpointOffset offset, ulong committedEventCount, string? reason, CancellationToken cancellationToken)
    {
        var epoch = await _firstAcquisition.EnsureAsync(Epoch, cancellationToken).ConfigureAwait(false);
        var started = Stopwatch.GetTimestamp();
        try
        {
            if (reason is null && await TrySaveKnownAsync(epoch, offset, committedEventCount, cancellationToken).ConfigureAwait(false))
            {
                CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, null);
                return;
            }

            var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await using (transaction.ConfigureAwait(false))
                {
                    // A save writes ahead of its guards (two round trips, as a bare UPSERT in a transaction needs); the
                    // transaction is ours, so a refusal or a repeat rolls the write back (an exception disposes the
                    // transaction uncommitted). A rewind has no guards but an audit row, which needs the old row first.
                    Forget(offset.SourceType);
                    if (await WriteAsync(connection, transaction, epoch, offset, committedEventCount, reason, writeAhead: reason is null, cancellationToken).ConfigureAwait(false))
                    {
                        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                    }

                    // Committed (or a repeat of what is stored): the row now holds exactly this offset and count.
                    Remember(offset, committedEventCount);
                }
            }

            CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, null);
        }
        catch (CheckpointException ex)
        {
            CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, ex.ErrorCode);
            throw;
        }
        catch (NpgsqlException ex)
        {
            CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, CheckpointErrorCode.WriteFailed);
            throw WriteFailed(offset, ex);
        }
    }

    // The one-statement save. When this instance knows what the row holds (it wrote or loaded it) and the progress guards
    // accept the new offset against that, a single autocommitted UPDATE writes it, conditional on the row still holding
    // exactly that offset and count (so the guards' judgement stands, whoever wrote the row) and on the fence holding
    // this owner's epoch (share-locked until the statement commits: an acquisition waits for it, and a write after an
    // acquisition matches nothing). It reports false, having written nothing, when it does not apply: no row known, a
    // guard refusal or a repeat (the full path then judges the row as stored and words the error), or no row matched
    // (changed by someone else, or a newer owner); the full path then decides.
    private async Task<bool> TrySaveKnownAsync(long epoch, CheckpointOffset offset, ulong committedEventCount, CancellationToken cancellationToken)
    {
        (CheckpointOffset Offset, ulong Count, string Json) known;
        lock (_knownGate)
        {
            if (!_known.TryGetValue(offset.SourceType, out known))
            {
                return false;
            }
        }

        var where = $"{TableName}/{Name}";
        var stored = new CheckpointRecord(offset.SourceType, known.Count, known.Offset);
        ProgressGuard.Verdict verdict;
        try
        {
            verdict = ProgressGuard.Check(where, stored, offset, committedEventCount);
        }
        catch (CheckpointException)
        {
            return false;
        }

        if (verdict != ProgressGuard.Verdict.Advance)
        {
            return false;
        }

        var offsetJson = offset.ToJsonString();
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var command = CreateCommand(
                connection,
                transaction: null,
                _fastUpdateSql,
                [Name, offset.SourceType, offsetJson, (decimal)committedEventCount, epoch, CurrentFormatVersion, _timeProvider.GetUtcNow(), known.Json, (decimal)known.Count]);
            int updated;
            await using (command.ConfigureAwait(false))
            {
                try
                {
                    updated = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
                {
                    throw MissingTables(ex);
                }
            }

            if (updated != 1)
            {
                Forget(offset.SourceType);
                return false;
            }
        }

        Remember(offset, committedEventCount, offsetJson);
        Log.StoreSaved(_logger, Name, offset.SourceType, offset, committedEventCount, epoch);
        return true;
    }

    private void Remember(CheckpointOffset offset, ulong committedEventCount, string? offsetJson = null)
    {
        lock (_knownGate)
        {
            _known[offset.SourceType] = (offset, committedEventCount, offsetJson ?? offset.ToJsonString());
        }
    }

    private void Forget(string sourceType)
    {
        lock (_knownGate)
        {
            _known.Remove(sourceType);
        }
    }

    // Writes the checkpoint row in the transaction after the fence check and (unless rewinding) the progress guards.
    // Returns false for an idempotent repeat: nothing is to be written, and with writeAhead the row already written by
    // the batch must be rolled back by the caller, as must everything after an exception.
    //
    // Statements, each with its own snapshot (READ COMMITTED), in one round trip:
    //   1. lock the fence row: orders this write after any newer owner's acquisition and serialises it with every other
    //      write of the name until the transaction ends;
    //   2. lock and read the checkpoint row: its snapshot is taken after 1 holds the lock, so it sees every save that
    //      committed while this one waited (one statement doing both would miss a row first inserted meanwhile);
    //   3. with writeAhead, the upsert.
    // The fence check and the guards then judge what 1 and 2 read, before anything can commit: without writeAhead
    // nothing has been written yet and the upsert follows as a second round trip; with writeAhead the transaction is
    // the store's own and commits only when this returns true. (Making the upsert itself conditional on the epoch
    // would add a join that costs the server about as much as one of the other statements, and guard nothing more.)
    private async Task<bool> WriteAsync(
        NpgsqlConnection connection,
        NpgsqlTransaction transaction,
        long epoch,
        CheckpointOffset offset,
        ulong committedEventCount,
        string? reason,
        bool writeAhead,
        CancellationToken cancellationToken)
    {
        SourceTypeName.Validate(offset.SourceType);
        var where = $"{TableName}/{Name}";
        var offsetJson = offset.ToJsonString();
        var now = _timeProvider.GetUtcNow();
        long? current;
        StoredRow? row;
        try
        {
            var batch = new NpgsqlBatch(connection, transaction);
            await using (batch.ConfigureAwait(false))
            {
                batch.BatchCommands.Add(CreateBatchCommand(_lockFenceSql, [Name]));
                batch.BatchCommands.Add(CreateBatchCommand(_lockRowSql, [Name, offset.SourceType]));
                if (writeAhead)
                {
                    batch.BatchCommands.Add(CreateBatchCommand(_upsertSql, UpsertParameters(offset, offsetJson, committedEventCount, epoch, now)));
                }

                var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    current = await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? reader.GetInt64(0) : null;
                    await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
                    row = await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? StoredRow.Read(reader) : null;

                    // Consume the upsert's result here, so that its errors surface inside this try.
                    while (await reader.NextResultAsync(cancellationToken).ConfigureAwait(false))
                    {
                    }
                }
            }
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            throw MissingTables(ex);
        }

        if (current != epoch)
        {
            var newer = current ?? 0;
            Log.StoreStaleEpoch(_logger, Name, epoch, newer);
            throw new CheckpointException(
                CheckpointErrorCode.StaleEpoch,
                string.Create(CultureInfo.InvariantCulture, $"Refusing to save checkpoint {where}: this owner holds fencing epoch {epoch}, but the name is now at epoch {newer} — another owner has taken over. Stop this consumer; the new owner continues from the stored checkpoint."));
        }

        var existing = row is { } stored
            ? ParseRecord(offset.SourceType, stored.OffsetJson, stored.CountText, stored.Epoch, stored.Sequence, stored.FormatVersion, stored.UpdatedAt)
            : null;
        if (reason is null)
        {
            ProgressGuard.Verdict verdict;
            try
            {
                verdict = ProgressGuard.Check(where, existing, offset, committedEventCount);
            }
            catch (CheckpointException ex)
            {
                Log.StoreSaveRefused(_logger, Name, offset.SourceType, ex.Message);
                throw;
            }

            if (verdict == ProgressGuard.Verdict.Repeat)
            {
                return false;
            }

            if (!writeAhead)
            {
                await ExecuteAsync(connection, transaction, _upsertSql, UpsertParameters(offset, offsetJson, committedEventCount, epoch, now), cancellationToken).ConfigureAwait(false);
            }

            Log.StoreSaved(_logger, Name, offset.SourceType, offset, committedEventCount, epoch);
            return true;
        }

        var rewind = new NpgsqlBatch(connection, transaction)
        {
            BatchCommands =
            {
                CreateBatchCommand(
                    _auditSql,
                    [Name, offset.SourceType, existing?.Offset.ToJsonString(), existing is null ? null : (decimal)existing.CommittedEventCount,
                        offsetJson, (decimal)committedEventCount, epoch, reason, now]),
                CreateBatchCommand(_upsertSql, UpsertParameters(offset, offsetJson, committedEventCount, epoch, now)),
            },
        };
        await using (rewind.ConfigureAwait(false))
        {
            await rewind.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        Log.StoreRewound(_logger, Name, offset.SourceType, existing?.Offset, existing?.CommittedEventCount, offset, committedEventCount, reason);
        return true;
    }

    // In the order of _upsertSql's parameters.
    private object?[] UpsertParameters(CheckpointOffset offset, string offsetJson, ulong committedEventCount, long epoch, DateTimeOffset now) =>
        [Name, offset.SourceType, offsetJson, (decimal)committedEventCount, epoch, CurrentFormatVersion, now];

    private async Task<CheckpointRecord?> ReadRecordAsync(NpgsqlConnection connection, string sourceType, CancellationToken cancellationToken)
    {
        var command = CreateCommand(connection, null, _readRowSql, [Name, sourceType]);
        await using (command.ConfigureAwait(false))
        {
            StoredRow row;
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    return null;
                }

                row = StoredRow.Read(reader);
            }

            return ParseRecord(sourceType, row.OffsetJson, row.CountText, row.Epoch, row.Sequence, row.FormatVersion, row.UpdatedAt);
        }
    }

    private CheckpointRecord ParseRecord(string sourceType, string offsetJson, string countText, long epoch, long sequence, int formatVersion, DateTimeOffset updatedAt)
    {
        var where = $"{TableName} row (name '{Name}', source_type '{sourceType}')";
        if (formatVersion != CurrentFormatVersion)
        {
            throw new CheckpointException(
                CheckpointErrorCode.UnsupportedFormatVersion,
                $"Checkpoint {where} has format_version {formatVersion}; this release reads version {CurrentFormatVersion}. Upgrade Cdc.Checkpoint.Postgres.");
        }

        if (!ulong.TryParse(countText, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || sequence < 0)
        {
            throw new CheckpointException(CheckpointErrorCode.Corrupt, $"Checkpoint {where} has committed_event_count '{countText}' and sequence {sequence}; expected unsigned 64-bit integers. Repair or rewind the row.");
        }

        CheckpointOffset offset;
        try
        {
            using var document = OffsetJsonText.Parse(offsetJson);
            offset = _options.Codecs.Read(sourceType, document.RootElement, OffsetJsonVersion);
        }
        catch (Exception ex) when (ex is FormatException or JsonException or ArgumentException)
        {
            throw new CheckpointException(CheckpointErrorCode.Corrupt, $"Checkpoint {where} holds an offset that cannot be read: {ex.Message} Repair or rewind the row.", ex);
        }

        if (!string.Equals(offset.SourceType, sourceType, StringComparison.Ordinal))
        {
            throw new CheckpointException(CheckpointErrorCode.Corrupt, $"Checkpoint {where} was read as an offset of source type '{offset.SourceType}'.");
        }

        return new CheckpointRecord(sourceType, count, offset)
        {
            FormatVersion = formatVersion,
            Sequence = (ulong)sequence,
            SavedAt = updatedAt,
            Epoch = epoch,
        };
    }

    private CheckpointException MissingTables(PostgresException ex) =>
        new(
            CheckpointErrorCode.Misconfigured,
            $"The checkpoint tables {TableName}, {TableName}_fence and {TableName}_audit do not exist ({ex.MessageText}). Create them once with PostgresCheckpointStore.CreateSchemaAsync or the SQL in docs/postgres.md.",
            ex);

    private CheckpointException WriteFailed(CheckpointOffset offset, Exception ex) =>
        new(
            CheckpointErrorCode.WriteFailed,
            $"Saving checkpoint {TableName}/{Name} at {offset} failed: {ex.Message}. The transaction was not committed and the stored row is unchanged; retry when the server is reachable.",
            ex);

    // Reads every row of a query's result as raw values (SQL NULL as null), for the read-only inspection methods.
    private async Task<List<object?[]>> ReadRowsAsync(string sql, object?[] parameters, CancellationToken cancellationToken)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var command = CreateCommand(connection, null, sql, parameters);
            await using (command.ConfigureAwait(false))
            {
                try
                {
                    var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                    await using (reader.ConfigureAwait(false))
                    {
                        var rows = new List<object?[]>();
                        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                        {
                            var row = new object?[reader.FieldCount];
                            for (var i = 0; i < row.Length; i++)
                            {
                                row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
                            }

                            rows.Add(row);
                        }

                        return rows;
                    }
                }
                catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
                {
                    throw MissingTables(ex);
                }
            }
        }
    }

    private static DateTimeOffset ToUtc(object? value) => value switch
    {
        DateTimeOffset dto => dto.ToUniversalTime(),
        DateTime dt => new DateTimeOffset(DateTime.SpecifyKind(dt, DateTimeKind.Utc)),
        _ => throw new InvalidCastException($"Expected a timestamptz, got {value?.GetType().Name ?? "NULL"}."),
    };

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, object?[] parameters, CancellationToken cancellationToken)
    {
        var command = CreateCommand(connection, transaction, sql, parameters);
        await using (command.ConfigureAwait(false))
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, object?[] parameters, CancellationToken cancellationToken)
    {
        var command = CreateCommand(connection, transaction, sql, parameters);
        await using (command.ConfigureAwait(false))
        {
            return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static NpgsqlCommand CreateCommand(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, object?[] parameters)
    {
        var command = new NpgsqlCommand(sql, connection, transaction);
        AddParameters(command.Parameters, parameters);
        return command;
    }

    private static NpgsqlBatchCommand CreateBatchCommand(string sql, object?[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        AddParameters(command.Parameters, parameters);
        return command;
    }

    private static void AddParameters(NpgsqlParameterCollection target, object?[] parameters)
    {
        foreach (var value in parameters)
        {
            target.Add(value switch
            {
                null => new NpgsqlParameter { Value = DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text },
                _ => new NpgsqlParameter { Value = value },
            });
        }
    }

    /// <summary>A checkpoint row as read, before it is validated (<see cref="ParseRecord"/>).</summary>
    private readonly record struct StoredRow(string OffsetJson, string CountText, long Epoch, long Sequence, int FormatVersion, DateTimeOffset UpdatedAt)
    {
        // Columns in the order of _readRowSql.
        public static StoredRow Read(NpgsqlDataReader reader) =>
            new(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt32(4), reader.GetFieldValue<DateTimeOffset>(5));
    }
}
