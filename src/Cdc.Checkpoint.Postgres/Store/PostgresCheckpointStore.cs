using System.Data.Common;
using System.Globalization;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres.Diagnostics;
using Cdc.Checkpoint.Tables;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;

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
/// Create the tables once with <see cref="TableCheckpointStore.CreateSchemaAsync"/> (or the SQL in <c>docs/postgres.md</c>); the store never
/// creates them implicitly.
/// </para>
/// <para>
/// Fencing: <see cref="TableCheckpointStore.AcquireAsync"/> increments the name's epoch in <c>{table}_fence</c> and makes this instance its
/// owner (the first save acquires when it has not been called). Every save locks the fence row
/// (<c>SELECT … FOR UPDATE</c>) and fails with <see cref="CheckpointErrorCode.StaleEpoch"/> when a newer owner has
/// acquired the name since, so a paused former owner on another host cannot overwrite progress. The same lock makes
/// the progress guards (<see cref="ProgressGuard"/>: no lower count, no conflicting offset at an equal count, no
/// typed regression or divergence) atomic with the write.
/// </para>
/// <para>
/// Loads do not need an epoch. <see cref="TableCheckpointStore.RewindAsync"/> skips the progress guards (never the fence) and writes an audit
/// row to <c>{table}_audit</c> in the same transaction.
/// </para>
/// <para>
/// The protocol (fence, guards, one-statement save, audit, metrics, logs, error wording) is
/// <see cref="TableCheckpointStore"/>'s, shared with the MySQL store; this class contributes the PostgreSQL dialect: the
/// SQL, the type mapping (<c>jsonb</c>, <c>numeric(20,0)</c>, a sequence for the write order) and the error
/// classification (SQLSTATE 42P01 missing table, 42501 refused privilege, Npgsql's transient errors plus 40001
/// serialization failure, 40P01 deadlock and 55P03 lock timeout).
/// </para>
/// <para>Thread-safe. Errors of the server or the network during a save surface as
/// <see cref="CheckpointErrorCode.WriteFailed"/> (the previous row is unchanged, the transaction rolled back;
/// <see cref="CheckpointException.IsTransient"/> for a transient cause); a missing table or a refused privilege as
/// <see cref="CheckpointErrorCode.Misconfigured"/> naming the fix; other errors during a load as
/// <see cref="NpgsqlException"/>.</para>
/// </remarks>
public sealed class PostgresCheckpointStore : TableCheckpointStore
{
    /// <summary>The format version of the rows this release writes (the <c>format_version</c> column).</summary>
    public const int CurrentFormatVersion = 1;

    /// <summary>The longest checkpoint name, in characters.</summary>
    public const int MaxNameLength = 200;

    private readonly PostgresCheckpointStoreOptions _options;
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
        : this(options ?? new PostgresCheckpointStoreOptions(), dataSource, ValidName(name), loggerFactory, timeProvider)
    {
    }

    private PostgresCheckpointStore(
        PostgresCheckpointStoreOptions options, NpgsqlDataSource dataSource, string name, ILoggerFactory? loggerFactory, TimeProvider? timeProvider)
        : base(
            dataSource,
            name,
            new TableStoreSetup($"{options.Schema}.{options.TableName}", "postgres_table", PostgresEventId.StoreSchemaCreated, "docs/postgres.md", options.Codecs, options.Owner, KnowsLoadedRows: true),
            (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<PostgresCheckpointStore>(),
            timeProvider)
    {
        _options = options;
        _table = $"\"{_options.Schema}\".\"{_options.TableName}\"";
        _fence = $"\"{_options.Schema}\".\"{_options.TableName}_fence\"";
        _audit = $"\"{_options.Schema}\".\"{_options.TableName}_audit\"";
        _sequence = $"\"{_options.Schema}\".\"{_options.TableName}_seq\"";

        // Built once: a save sends these on every call.
        _lockFenceSql = $"SELECT epoch FROM {_fence} WHERE name = $1 FOR UPDATE";
        const string Columns = "source_type, \"offset\"::text, committed_event_count::text, epoch, sequence, format_version, updated_at";
        _readRowSql = $"SELECT {Columns} FROM {_table} WHERE name = $1 AND source_type = $2";
        _lockRowSql = _readRowSql + " FOR UPDATE";

        _upsertSql = $"""
            INSERT INTO {_table} (name, source_type, "offset", committed_event_count, epoch, sequence, format_version, updated_at)
            VALUES ($1, $2, $3::jsonb, $4, $5, nextval('{_sequence}'), $6, $7)
            ON CONFLICT (name, source_type) DO UPDATE SET
                "offset" = EXCLUDED."offset", committed_event_count = EXCLUDED.committed_event_count, epoch = EXCLUDED.epoch,
                sequence = EXCLUDED.sequence, format_version = EXCLUDED.format_version, updated_at = EXCLUDED.updated_at
            """;
        // The one-statement save: writes only when the row still holds exactly the offset and count the guards were judged
        // against, and only while the fence row holds this owner's epoch, share-locked until the statement commits so
        // that an acquisition cannot slip in between.
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
    /// <exception cref="ArgumentException">The transaction has completed.</exception>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.StaleEpoch"/>, a progress-guard code, or <see cref="CheckpointErrorCode.WriteFailed"/>.
    /// After a <see cref="CheckpointException"/> the caller's transaction must be rolled back.
    /// </exception>
    public ValueTask SaveAsync(NpgsqlTransaction transaction, CheckpointOffset offset, ulong committedEventCount, CancellationToken cancellationToken = default) =>
        SaveInTransactionAsync(transaction, offset, committedEventCount, cancellationToken);

    /// <inheritdoc />
    protected override async Task CreateTablesAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var npgsql = (NpgsqlConnection)connection;
        var transaction = await npgsql.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            // Concurrent CREATE … IF NOT EXISTS can still collide on the catalog; one creator at a time.
            await ExecuteAsync(npgsql, transaction, "SELECT pg_advisory_xact_lock(hashtext($1))", [TableName], cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(npgsql, transaction, SchemaSql, [], cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    protected override async Task<long> IncrementEpochAsync(DbConnection connection, string owner, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var sql = $"""
            INSERT INTO {_fence} (name, epoch, owner, acquired_at) VALUES ($1, 1, $2, $3)
            ON CONFLICT (name) DO UPDATE SET epoch = {_fence}.epoch + 1, owner = EXCLUDED.owner, acquired_at = EXCLUDED.acquired_at
            RETURNING epoch
            """;
        var command = CreateCommand((NpgsqlConnection)connection, null, sql, [Name, owner, now]);
        await using (command.ConfigureAwait(false))
        {
            return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }
    }

    // Statements, each with its own snapshot (READ COMMITTED), in one round trip:
    //   1. lock the fence row: orders this write after any newer owner's acquisition and serialises it with every other
    //      write of the name until the transaction ends;
    //   2. lock and read the checkpoint row: its snapshot is taken after 1 holds the lock, so it sees every save that
    //      committed while this one waited (one statement doing both would miss a row first inserted meanwhile);
    //   3. with writeAhead, the upsert (the store's own transaction, rolled back on a refusal or a repeat).
    // (Making the upsert itself conditional on the epoch would add a join that costs the server about as much as one of
    // the other statements, and guard nothing more.)
    /// <inheritdoc />
    protected override async Task<TableLock> LockAsync(
        DbConnection connection, DbTransaction transaction, string sourceType, TableRowWrite? writeAhead, CancellationToken cancellationToken)
    {
        var batch = new NpgsqlBatch((NpgsqlConnection)connection, (NpgsqlTransaction)transaction);
        await using (batch.ConfigureAwait(false))
        {
            batch.BatchCommands.Add(CreateBatchCommand(_lockFenceSql, [Name]));
            batch.BatchCommands.Add(CreateBatchCommand(_lockRowSql, [Name, sourceType]));
            if (writeAhead is not null)
            {
                batch.BatchCommands.Add(CreateBatchCommand(_upsertSql, UpsertParameters(writeAhead)));
            }

            var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                long? epoch = await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? reader.GetInt64(0) : null;
                await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
                var row = await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadRow(reader) : null;

                // Consume the upsert's result here, so that its errors surface before the guards judge.
                while (await reader.NextResultAsync(cancellationToken).ConfigureAwait(false))
                {
                }

                return new TableLock(epoch, row, WroteAhead: writeAhead is not null, LastSequence: 0);
            }
        }
    }

    /// <inheritdoc />
    protected override async Task<ulong?> WriteRowAsync(
        DbConnection connection, DbTransaction transaction, TableRowWrite write, TableLock locked, TableAuditWrite? audit, CancellationToken cancellationToken)
    {
        var batch = new NpgsqlBatch((NpgsqlConnection)connection, (NpgsqlTransaction)transaction);
        await using (batch.ConfigureAwait(false))
        {
            if (audit is not null)
            {
                batch.BatchCommands.Add(CreateBatchCommand(
                    _auditSql,
                    [Name, write.SourceType, audit.OldOffsetJson, audit.OldCount is { } old ? (decimal)old : null, write.OffsetJson,
                        (decimal)write.CommittedEventCount, write.Epoch, audit.Reason, write.UpdatedAt]));
            }

            batch.BatchCommands.Add(CreateBatchCommand(_upsertSql, UpsertParameters(write)));
            await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return null;
    }

    /// <inheritdoc />
    protected override async Task<(bool Written, ulong? Sequence)> TryUpdateKnownRowAsync(
        DbConnection connection, TableRowWrite write, string knownOffsetJson, ulong knownCount, CancellationToken cancellationToken)
    {
        var command = CreateCommand(
            (NpgsqlConnection)connection,
            null,
            _fastUpdateSql,
            [.. UpsertParameters(write), knownOffsetJson, (decimal)knownCount]);
        await using (command.ConfigureAwait(false))
        {
            return (await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1, null);
        }
    }

    /// <inheritdoc />
    protected override async Task<IReadOnlyList<TableRow>> ReadRowsAsync(DbConnection connection, string? sourceType, CancellationToken cancellationToken)
    {
        var command = sourceType is null
            ? CreateCommand((NpgsqlConnection)connection, null, $"SELECT source_type, \"offset\"::text, committed_event_count::text, epoch, sequence, format_version, updated_at FROM {_table} WHERE name = $1 ORDER BY source_type", [Name])
            : CreateCommand((NpgsqlConnection)connection, null, _readRowSql, [Name, sourceType]);
        return await QueryAsync(command, ReadRow, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override async Task<CheckpointFence?> ReadFenceRowAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var command = CreateCommand((NpgsqlConnection)connection, null, $"SELECT epoch, owner, acquired_at FROM {_fence} WHERE name = $1", [Name]);
        var rows = await QueryAsync(command, r => new CheckpointFence(Name, r.GetInt64(0), r.GetString(1), r.GetFieldValue<DateTimeOffset>(2)), cancellationToken).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <inheritdoc />
    protected override async Task<IReadOnlyList<CheckpointAuditEntry>> ReadAuditRowsAsync(DbConnection connection, int limit, CancellationToken cancellationToken)
    {
        var command = CreateCommand(
            (NpgsqlConnection)connection,
            null,
            $"""
            SELECT id, source_type, old_offset::text, old_count::text, new_offset::text, new_count::text, epoch, reason, at
            FROM {_audit} WHERE name = $1 ORDER BY id DESC LIMIT $2
            """,
            [Name, limit]);
        return await QueryAsync(
            command,
            r => new CheckpointAuditEntry(
                r.GetInt64(0),
                r.GetString(1),
                r.IsDBNull(2) ? null : r.GetString(2),
                r.IsDBNull(3) ? null : ParseCount(r.GetString(3), "old_count"),
                r.GetString(4),
                ParseCount(r.GetString(5), "new_count"),
                r.GetInt64(6),
                r.GetString(7),
                r.GetFieldValue<DateTimeOffset>(8)),
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override bool IsMissingTable(DbException exception) => exception is PostgresException { SqlState: PostgresErrorCodes.UndefinedTable };

    /// <inheritdoc />
    protected override bool IsAccessDenied(DbException exception) => exception is PostgresException { SqlState: PostgresErrorCodes.InsufficientPrivilege };

    /// <inheritdoc />
    /// <remarks>Npgsql's transient errors (connection failures), a serialization failure (40001), a deadlock (40P01) and a lock timeout (55P03).</remarks>
    protected override bool IsTransient(DbException exception) =>
        base.IsTransient(exception)
        || exception is PostgresException { SqlState: PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.LockNotAvailable };

    /// <inheritdoc />
    protected override string GrantFix(bool createSchema) =>
        createSchema
            ? $"GRANT CREATE ON SCHEMA \"{_options.Schema}\" TO <user>; (or create them with the SQL in docs/postgres.md as an administrator)."
            : $"GRANT SELECT, INSERT, UPDATE ON {_table}, {_fence}, {_audit} TO <user>; GRANT USAGE ON SEQUENCE {_sequence} TO <user>;";

    private static string ValidName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0 || name.Length > MaxNameLength || name.Any(char.IsControl) || string.IsNullOrWhiteSpace(name))
        {
            throw new ArgumentException(
                $"Checkpoint name '{name}' is not allowed: use 1-{MaxNameLength} characters without control characters.", nameof(name));
        }

        return name;
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

    // In the order of _upsertSql's parameters.
    private static object?[] UpsertParameters(TableRowWrite write) =>
        [write.Name, write.SourceType, write.OffsetJson, (decimal)write.CommittedEventCount, write.Epoch, write.FormatVersion, write.UpdatedAt];

    // Columns in the order of _readRowSql; committed_event_count is read as text, so every numeric(20,0) can be checked.
    private static TableRow ReadRow(NpgsqlDataReader reader)
    {
        var sequence = reader.GetInt64(4);
        return sequence < 0
            ? throw new FormatException($"sequence is {sequence}; expected an unsigned 64-bit integer.")
            : new TableRow(reader.GetString(0), reader.GetString(1), ParseCount(reader.GetString(2), "committed_event_count"), reader.GetInt64(3), (ulong)sequence, reader.GetInt32(5), reader.GetFieldValue<DateTimeOffset>(6));
    }

    private static ulong ParseCount(string text, string column) =>
        ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var count)
            ? count
            : throw new FormatException($"{column} is '{text}'; expected an unsigned 64-bit integer.");

    private static async Task<IReadOnlyList<T>> QueryAsync<T>(NpgsqlCommand command, Func<NpgsqlDataReader, T> read, CancellationToken cancellationToken)
    {
        await using (command.ConfigureAwait(false))
        {
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                var rows = new List<T>();
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    rows.Add(read(reader));
                }

                return rows;
            }
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, object?[] parameters, CancellationToken cancellationToken)
    {
        var command = CreateCommand(connection, transaction, sql, parameters);
        await using (command.ConfigureAwait(false))
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
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
}
