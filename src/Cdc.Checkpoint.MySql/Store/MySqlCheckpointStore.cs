using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.MySql.Internal;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Tables;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MySqlConnector;
using Log = Cdc.Checkpoint.MySql.Diagnostics.Log;

namespace Cdc.Checkpoint.MySql.Store;

/// <summary>
/// A checkpoint store in a MySQL or MariaDB table (InnoDB): one row per checkpoint name and source type, holding the
/// typed offset (JSON text), the committed event count, the fencing epoch of the owner that wrote it, the write
/// sequence and the update time. A sink that writes to the same database saves its rows and its offset in one
/// transaction (<see cref="SaveAsync(MySqlTransaction, CheckpointOffset, ulong, CancellationToken)"/>), so both commit or
/// neither does: exactly-once delivery into that sink.
/// </summary>
/// <remarks>
/// <para>
/// Reaches the server through MySqlConnector's <see cref="MySqlDataSource"/>. Create the tables once with
/// <see cref="CreateSchemaAsync"/> (or the SQL in <c>docs/mysql.md</c>); the store never creates them implicitly.
/// </para>
/// <para>
/// Fencing: <see cref="AcquireAsync"/> increments the name's epoch in <c>{table}_fence</c> and makes this instance its
/// owner (the first save acquires when it has not been called). Every save locks the fence row
/// (<c>SELECT … FOR UPDATE</c>) and fails with <see cref="CheckpointErrorCode.StaleEpoch"/> when a newer owner has
/// acquired the name since, so a paused former owner on another host cannot overwrite progress. The same lock makes the
/// progress guards (<see cref="ProgressGuard"/>: no lower count, no conflicting offset at an equal count, no typed
/// regression or divergence, such as a GTID set that is not a superset or an earlier binlog position) atomic with the
/// write, and orders the write sequence (per name: above the fence row's <c>last_sequence</c> and every row's
/// <c>sequence</c> of the name).
/// </para>
/// <para>
/// When this instance knows what its row holds (it wrote it), a save is one autocommitted <c>UPDATE</c> of the row,
/// conditional on the row holding exactly the offset and count the guards judged and on the fence row holding this
/// owner's epoch (read with a shared lock, so an acquisition waits for the statement or makes it match nothing); when
/// nothing matches (someone else wrote, a newer owner acquired) the save takes the full path above and decides there.
/// </para>
/// <para>
/// Loads do not need an epoch. <see cref="RewindAsync"/> skips the progress guards (never the fence) and writes an audit
/// row to <c>{table}_audit</c> in the same transaction.
/// </para>
/// <para>Thread-safe. Errors of the server or the network during a save surface as
/// <see cref="CheckpointErrorCode.WriteFailed"/> (the transaction is not committed and the stored row is unchanged),
/// <see cref="CheckpointException.IsTransient"/> for a deadlock, a lock-wait timeout or a lost connection; a missing
/// privilege surfaces as <see cref="CheckpointErrorCode.Misconfigured"/> naming the <c>GRANT</c> that fixes it; other
/// errors during a load or an acquisition surface as <see cref="MySqlException"/>.</para>
/// </remarks>
public sealed class MySqlCheckpointStore : ICheckpointStore
{
    /// <summary>The format version of the rows this release writes (the <c>format_version</c> column).</summary>
    public const int CurrentFormatVersion = 1;

    /// <summary>The longest checkpoint name, in characters.</summary>
    public const int MaxNameLength = 200;

    private const string StoreTag = "mysql_table";

    // The offset column holds the offset JSON in the shape the file checkpoint's current format uses, so the codecs
    // read it as that version (format_version is the version of the row layout, not of the offset JSON).
    private const int OffsetJsonVersion = Files.FileCheckpoint.CurrentFormatVersion;

    private readonly MySqlDataSource _dataSource;
    private readonly MySqlCheckpointStoreOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly string _table;
    private readonly string _fence;
    private readonly string _audit;
    private readonly string _fastUpdateSql;
    private readonly string _grantOn;
    private readonly FirstAcquisition _firstAcquisition;
    private readonly Lock _knownGate = new();
    private readonly Dictionary<string, KnownRow> _known = new(StringComparer.Ordinal);
    private ulong _lastSequence;
    private long _epoch;

    /// <summary>Creates a store for checkpoint <paramref name="name"/>. Nothing is touched until the first operation.</summary>
    /// <param name="dataSource">Connections to the database that holds the checkpoint tables.</param>
    /// <param name="name">The checkpoint name (one consumer): 1–200 characters without control characters or surrounding whitespace.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <param name="loggerFactory">Logger factory; no logging when <see langword="null"/>.</param>
    /// <param name="timeProvider">Clock for <c>updated_at</c> and <c>acquired_at</c>; the system clock when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty, too long, contains control characters or has surrounding whitespace.</exception>
    public MySqlCheckpointStore(
        MySqlDataSource dataSource,
        string name,
        MySqlCheckpointStoreOptions? options = null,
        ILoggerFactory? loggerFactory = null,
        TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(name);
        // No surrounding whitespace: the utf8mb4_bin key collation pads with spaces, so 'a' and 'a ' would be one row.
        if (name.Length == 0 || name.Length > MaxNameLength || name.Any(char.IsControl) || char.IsWhiteSpace(name[0]) || char.IsWhiteSpace(name[^1]))
        {
            throw new ArgumentException(
                $"Checkpoint name '{name}' is not allowed: use 1-{MaxNameLength} characters without control characters or surrounding whitespace.", nameof(name));
        }

        _dataSource = dataSource;
        _firstAcquisition = new FirstAcquisition(AcquireAsync);
        Name = name;
        _options = options ?? new MySqlCheckpointStoreOptions();
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<MySqlCheckpointStore>();
        _timeProvider = timeProvider ?? TimeProvider.System;
        var prefix = _options.Database is { } database ? $"`{database}`." : string.Empty;
        _table = $"{prefix}`{_options.TableName}`";
        _fence = $"{prefix}`{_options.TableName}_fence`";
        _audit = $"{prefix}`{_options.TableName}_audit`";
        var grantDatabase = _options.Database ?? new MySqlConnectionStringBuilder(dataSource.ConnectionString).Database;
        _grantOn = string.IsNullOrEmpty(grantDatabase) ? "<database>.*" : $"`{grantDatabase}`.*";

        // The one-statement save (see TrySaveKnownAsync): writes the row only when it still holds exactly the offset and
        // count the guards were judged against and the fence holds this owner's epoch, share-locked until the statement
        // commits so that an acquisition cannot slip in between. (A multi-table UPDATE that also moved the fence's
        // last_sequence cost twice as much on MariaDB 10.11; the full path reads the rows' sequences instead.)
        _fastUpdateSql = $"""
            UPDATE {_table}
            SET `offset` = @offset, `committed_event_count` = @count, `epoch` = @epoch, `sequence` = @sequence, `updated_at` = @now
            WHERE `name` = @name AND `source_type` = @source_type
                AND `offset` = @known_offset AND `committed_event_count` = @known_count AND `format_version` = @format_version
                AND (SELECT f.`epoch` FROM {_fence} AS f WHERE f.`name` = @name LOCK IN SHARE MODE) = @epoch
            """;
    }

    /// <summary>The checkpoint name.</summary>
    public string Name { get; }

    /// <summary>The fencing epoch this instance owns, or 0 before <see cref="AcquireAsync"/> (or the first save).</summary>
    public long Epoch => Interlocked.Read(ref _epoch);

    /// <summary>The table name as used in messages: <c>database.table</c>, or <c>table</c> for the connection's database.</summary>
    public string TableName => _options.Database is { } database ? $"{database}.{_options.TableName}" : _options.TableName;

    /// <summary>
    /// Creates the checkpoint, fence and audit tables if they do not exist (InnoDB, utf8mb4). Safe to call repeatedly and
    /// concurrently. Each statement is DDL, which commits implicitly in MySQL: never call it inside a transaction. Needs
    /// the <c>CREATE</c> privilege on the database.
    /// </summary>
    /// <param name="cancellationToken">Cancels the commands.</param>
    /// <returns>A task that completes when the tables exist.</returns>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.Misconfigured"/> when the user lacks the <c>CREATE</c> privilege.</exception>
    /// <exception cref="MySqlException">The server could not be reached or refused otherwise.</exception>
    public async Task CreateSchemaAsync(CancellationToken cancellationToken = default)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            try
            {
                foreach (var statement in SchemaStatements)
                {
                    await SqlCommands.ExecuteAsync(connection, null, statement, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (MySqlException ex) when (MySqlErrors.IsAccessDenied(ex))
            {
                throw MySqlErrors.AccessDenied(ex, $"create the checkpoint tables {TableName}, {TableName}_fence and {TableName}_audit", $"GRANT CREATE ON {_grantOn} TO <user>; (or create them with the SQL in docs/mysql.md as an administrator).");
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
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.Misconfigured"/> when the tables do not exist or the user lacks a privilege on them.</exception>
    /// <exception cref="MySqlException">The server could not be reached.</exception>
    public async Task<long> AcquireAsync(CancellationToken cancellationToken = default)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            long epoch;
            try
            {
                var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await using (transaction.ConfigureAwait(false))
                {
                    var now = _timeProvider.GetUtcNow().UtcDateTime;
                    await SqlCommands.ExecuteAsync(
                        connection,
                        transaction,
                        $"""
                        INSERT INTO {_fence} (`name`, `epoch`, `last_sequence`, `owner`, `acquired_at`) VALUES (@name, 1, 0, @owner, @now)
                        ON DUPLICATE KEY UPDATE `epoch` = `epoch` + 1, `owner` = @owner, `acquired_at` = @now
                        """,
                        cancellationToken,
                        ("@name", Name),
                        ("@owner", _options.Owner),
                        ("@now", now)).ConfigureAwait(false);
                    var rows = await SqlCommands.RowsAsync(connection, transaction, $"SELECT `epoch` FROM {_fence} WHERE `name` = @name", cancellationToken, ("@name", Name)).ConfigureAwait(false);
                    epoch = rows.Count == 1 ? ReadColumn(rows[0][0], "fence epoch", DbValues.ToInt64) : throw Corrupt("the fence row vanished inside its own transaction");
                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (MySqlException ex) when (MySqlErrors.IsNoSuchTable(ex) || MySqlErrors.IsAccessDenied(ex))
            {
                throw Misconfigured(ex);
            }

            Interlocked.Exchange(ref _epoch, epoch);

            // Whatever this instance knew was under the old epoch; another owner may have written since.
            lock (_knownGate)
            {
                _known.Clear();
            }

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
    /// <exception cref="ArgumentException">The transaction has completed.</exception>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.StaleEpoch"/>, a progress-guard code, or <see cref="CheckpointErrorCode.WriteFailed"/>.
    /// After a <see cref="CheckpointException"/> the caller must roll the transaction back.
    /// </exception>
    public async ValueTask SaveAsync(MySqlTransaction transaction, CheckpointOffset offset, ulong committedEventCount, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(offset);
        var connection = transaction.Connection ?? throw new ArgumentException("The transaction has completed; pass an open transaction.", nameof(transaction));
        cancellationToken.ThrowIfCancellationRequested();
        var epoch = await _firstAcquisition.EnsureAsync(Epoch, cancellationToken).ConfigureAwait(false);
        var started = Stopwatch.GetTimestamp();
        try
        {
            // Whether the caller commits is unknown here, so what the row holds is no longer known either.
            Forget(offset.SourceType);
            await WriteAsync(connection, transaction, epoch, offset, committedEventCount, reason: null, cancellationToken).ConfigureAwait(false);
            CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, null);
        }
        catch (CheckpointException ex)
        {
            CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, ex.ErrorCode);
            throw;
        }
        catch (MySqlException ex)
        {
            var failure = SaveFailed(offset, ex);
            CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, failure.ErrorCode);
            throw failure;
        }
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
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            try
            {
                var record = await ReadRecordAsync(connection, null, sourceType, forUpdate: false, cancellationToken).ConfigureAwait(false);
                if (record is not null)
                {
                    Log.StoreLoaded(_logger, Name, sourceType, record.Offset, record.CommittedEventCount, record.Epoch);
                }

                return record;
            }
            catch (MySqlException ex) when (MySqlErrors.IsNoSuchTable(ex) || MySqlErrors.IsAccessDenied(ex))
            {
                throw Misconfigured(ex);
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
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.Misconfigured"/> when the tables do not exist or the user may not read them;
    /// <see cref="CheckpointErrorCode.Corrupt"/> when the fence row cannot be read.
    /// </exception>
    /// <exception cref="MySqlException">The server could not be reached or refused otherwise.</exception>
    public async Task<CheckpointFence?> ReadFenceAsync(CancellationToken cancellationToken = default)
    {
        var rows = await ReadRowsAsync($"SELECT `epoch`, `owner`, `acquired_at` FROM {_fence} WHERE `name` = @name", cancellationToken, ("@name", Name)).ConfigureAwait(false);
        return rows.Count == 0
            ? null
            : new CheckpointFence(
                Name,
                ReadColumn(rows[0][0], "fence epoch", DbValues.ToInt64),
                DbValues.ToText(rows[0][1]) ?? string.Empty,
                ReadColumn(rows[0][2], "fence acquired_at", DbValues.ToUtc));
    }

    /// <summary>Reads every checkpoint row stored under this name (one per source type), ordered by source type.</summary>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>The records; empty when nothing was saved under this name.</returns>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.Misconfigured"/> when the tables do not exist or the user may not read them;
    /// <see cref="CheckpointErrorCode.Corrupt"/> or <see cref="CheckpointErrorCode.UnsupportedFormatVersion"/> when a row
    /// cannot be trusted.
    /// </exception>
    /// <exception cref="MySqlException">The server could not be reached or refused otherwise.</exception>
    public async Task<IReadOnlyList<CheckpointRecord>> ListAsync(CancellationToken cancellationToken = default)
    {
        var rows = await ReadRowsAsync(
            $"""
            SELECT `offset`, `committed_event_count`, `epoch`, `sequence`, `format_version`, `updated_at`, `source_type`
            FROM {_table} WHERE `name` = @name ORDER BY `source_type`
            """,
            cancellationToken,
            ("@name", Name)).ConfigureAwait(false);
        return [.. rows.Select(r => ParseRecord(DbValues.ToText(r[6]) ?? string.Empty, r))];
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
    /// <exception cref="MySqlException">The server could not be reached or refused otherwise.</exception>
    public async Task<IReadOnlyList<CheckpointAuditEntry>> ReadAuditAsync(int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var rows = await ReadRowsAsync(
            $"""
            SELECT `id`, `source_type`, `old_offset`, `old_count`, `new_offset`, `new_count`, `epoch`, `reason`, `rewound_at`
            FROM {_audit} WHERE `name` = @name ORDER BY `id` DESC LIMIT @limit
            """,
            cancellationToken,
            ("@name", Name),
            ("@limit", limit)).ConfigureAwait(false);
        return [.. rows.Select(r => new CheckpointAuditEntry(
            ReadColumn(r[0], "audit id", DbValues.ToInt64),
            DbValues.ToText(r[1]) ?? string.Empty,
            DbValues.ToText(r[2]),
            r[3] is null ? null : ReadColumn(r[3], "audit old_count", DbValues.ToUInt64),
            DbValues.ToText(r[4]) ?? string.Empty,
            ReadColumn(r[5], "audit new_count", DbValues.ToUInt64),
            ReadColumn(r[6], "audit epoch", DbValues.ToInt64),
            DbValues.ToText(r[7]) ?? string.Empty,
            ReadColumn(r[8], "audit rewound_at", DbValues.ToUtc)))];
    }

    // Reads every row of a query for the read-only inspection methods; a missing table or privilege is Misconfigured.
    private async Task<List<object?[]>> ReadRowsAsync(string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            try
            {
                return await SqlCommands.RowsAsync(connection, null, sql, cancellationToken, parameters).ConfigureAwait(false);
            }
            catch (MySqlException ex) when (MySqlErrors.IsNoSuchTable(ex) || MySqlErrors.IsAccessDenied(ex))
            {
                throw Misconfigured(ex);
            }
        }
    }

    private IEnumerable<string> SchemaStatements =>
    [
        $"""
        CREATE TABLE IF NOT EXISTS {_table} (
            `name` VARCHAR({MaxNameLength}) NOT NULL,
            `source_type` VARCHAR({SourceTypeName.MaxLength}) NOT NULL,
            `offset` LONGTEXT NOT NULL,
            `committed_event_count` BIGINT UNSIGNED NOT NULL,
            `epoch` BIGINT NOT NULL,
            `sequence` BIGINT UNSIGNED NOT NULL,
            `format_version` INT NOT NULL,
            `updated_at` DATETIME(6) NOT NULL,
            PRIMARY KEY (`name`, `source_type`)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
        """,
        $"""
        CREATE TABLE IF NOT EXISTS {_fence} (
            `name` VARCHAR({MaxNameLength}) NOT NULL PRIMARY KEY,
            `epoch` BIGINT NOT NULL,
            `last_sequence` BIGINT UNSIGNED NOT NULL,
            `owner` VARCHAR(255) NOT NULL,
            `acquired_at` DATETIME(6) NOT NULL
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
        """,
        $"""
        CREATE TABLE IF NOT EXISTS {_audit} (
            `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            `name` VARCHAR({MaxNameLength}) NOT NULL,
            `source_type` VARCHAR({SourceTypeName.MaxLength}) NOT NULL,
            `old_offset` LONGTEXT NULL,
            `old_count` BIGINT UNSIGNED NULL,
            `new_offset` LONGTEXT NOT NULL,
            `new_count` BIGINT UNSIGNED NOT NULL,
            `epoch` BIGINT NOT NULL,
            `reason` TEXT NOT NULL,
            `rewound_at` DATETIME(6) NOT NULL
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
        """,
    ];

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

            Forget(offset.SourceType);
            var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await using (transaction.ConfigureAwait(false))
                {
                    await WriteAsync(connection, transaction, epoch, offset, committedEventCount, reason, cancellationToken).ConfigureAwait(false);
                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);

                    // Committed (or a repeat of what is stored): the row now holds exactly this offset and count.
                    Remember(offset.SourceType, new KnownRow(offset, committedEventCount, offset.ToJsonString()));
                }
            }

            CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, null);
        }
        catch (CheckpointException ex)
        {
            CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, ex.ErrorCode);
            throw;
        }
        catch (MySqlException ex)
        {
            var failure = SaveFailed(offset, ex);
            CheckpointMetrics.RecordSave(StoreTag, offset.SourceType, started, failure.ErrorCode);
            throw failure;
        }
    }

    // The one-statement save. When this instance knows what the row holds (it wrote it) and the progress guards accept
    // the new offset against that, a single autocommitted UPDATE writes it (see _fastUpdateSql for its conditions). It
    // reports false, having written nothing, when it does not apply: no row known, a guard refusal or a repeat (the full
    // path then judges the row as stored and words the error), or nothing matched (the row or the fence changed behind
    // this instance's back); the full path then decides.
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

        SourceTypeName.Validate(offset.SourceType);
        var stored = new CheckpointRecord(offset.SourceType, known.Count, known.Offset);
        ProgressGuard.Verdict verdict;
        try
        {
            verdict = ProgressGuard.Check($"{TableName}/{Name}", stored, offset, committedEventCount);
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
        ulong sequence;
        lock (_knownGate)
        {
            // Within this owner's epoch only this instance writes the name, so its counter is the name's sequence.
            sequence = ++_lastSequence;
        }

        int matched;
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            try
            {
                matched = await SqlCommands.ExecuteAsync(
                    connection,
                    null,
                    _fastUpdateSql,
                    cancellationToken,
                    ("@offset", offsetJson),
                    ("@count", committedEventCount),
                    ("@epoch", epoch),
                    ("@sequence", sequence),
                    ("@now", _timeProvider.GetUtcNow().UtcDateTime),
                    ("@name", Name),
                    ("@source_type", offset.SourceType),
                    ("@known_offset", known.Json),
                    ("@known_count", known.Count),
                    ("@format_version", CurrentFormatVersion)).ConfigureAwait(false);
            }
            catch (MySqlException ex) when (MySqlErrors.IsNoSuchTable(ex))
            {
                throw Misconfigured(ex);
            }
        }

        // Found rows (MySqlConnector's default) or changed rows (UseAffectedRows=true): the sequence always changes.
        if (matched == 0)
        {
            Forget(offset.SourceType);
            return false;
        }

        Remember(offset.SourceType, new KnownRow(offset, committedEventCount, offsetJson));
        Log.StoreSaved(_logger, Name, offset.SourceType, offset, committedEventCount, epoch, sequence);
        return true;
    }

    private void Remember(string sourceType, KnownRow row)
    {
        lock (_knownGate)
        {
            _known[sourceType] = row;
        }
    }

    private void Forget(string sourceType)
    {
        lock (_knownGate)
        {
            _known.Remove(sourceType);
        }
    }

    // Writes the row after the fence check and (unless rewinding) the progress guards; writes nothing for an idempotent
    // repeat.
    private async Task WriteAsync(
        MySqlConnection connection,
        MySqlTransaction transaction,
        long epoch,
        CheckpointOffset offset,
        ulong committedEventCount,
        string? reason,
        CancellationToken cancellationToken)
    {
        SourceTypeName.Validate(offset.SourceType);
        var where = $"{TableName}/{Name}";
        CheckpointRecord? existing;
        ulong lastSequence;
        try
        {
            // The fence row lock orders this save after any newer owner's acquisition, and serialises the guard below
            // (and the write sequence) with every other save of the name until the transaction ends. The name's last
            // sequence is the highest of the fence's and the rows' (one-statement saves move only their row's).
            var fence = await SqlCommands.RowsAsync(
                connection,
                transaction,
                $"""
                SELECT f.`epoch`, GREATEST(f.`last_sequence`, COALESCE((SELECT MAX(t.`sequence`) FROM {_table} AS t WHERE t.`name` = f.`name`), 0))
                FROM {_fence} AS f WHERE f.`name` = @name FOR UPDATE
                """,
                cancellationToken,
                ("@name", Name)).ConfigureAwait(false);
            var current = fence.Count == 1 ? ReadColumn(fence[0][0], "fence epoch", DbValues.ToInt64) : 0;
            if (current != epoch)
            {
                Log.StoreStaleEpoch(_logger, Name, epoch, current);
                throw new CheckpointException(
                    CheckpointErrorCode.StaleEpoch,
                    string.Create(CultureInfo.InvariantCulture, $"Refusing to save checkpoint {where}: this owner holds fencing epoch {epoch}, but the name is now at epoch {current} — another owner has taken over. Stop this consumer; the new owner continues from the stored checkpoint."));
            }

            lastSequence = ReadColumn(fence[0][1], "fence last_sequence", DbValues.ToUInt64);
            existing = await ReadRecordAsync(connection, transaction, offset.SourceType, forUpdate: true, cancellationToken).ConfigureAwait(false);
        }
        catch (MySqlException ex) when (MySqlErrors.IsNoSuchTable(ex) || MySqlErrors.IsAccessDenied(ex))
        {
            throw Misconfigured(ex);
        }

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
                return;
            }
        }

        var now = _timeProvider.GetUtcNow().UtcDateTime;
        ulong sequence;
        lock (_knownGate)
        {
            // Above the counter too: a one-statement save of this instance may not have committed yet.
            sequence = Math.Max(lastSequence, _lastSequence) + 1;
            _lastSequence = sequence;
        }

        if (reason is not null)
        {
            await SqlCommands.ExecuteAsync(
                connection,
                transaction,
                $"""
                INSERT INTO {_audit} (`name`, `source_type`, `old_offset`, `old_count`, `new_offset`, `new_count`, `epoch`, `reason`, `rewound_at`)
                VALUES (@name, @source_type, @old_offset, @old_count, @new_offset, @new_count, @epoch, @reason, @now)
                """,
                cancellationToken,
                ("@name", Name),
                ("@source_type", offset.SourceType),
                ("@old_offset", existing?.Offset.ToJsonString()),
                ("@old_count", existing?.CommittedEventCount),
                ("@new_offset", offset.ToJsonString()),
                ("@new_count", committedEventCount),
                ("@epoch", epoch),
                ("@reason", reason),
                ("@now", now)).ConfigureAwait(false);
        }

        await SqlCommands.ExecuteAsync(
            connection, transaction, $"UPDATE {_fence} SET `last_sequence` = @sequence WHERE `name` = @name", cancellationToken, ("@sequence", sequence), ("@name", Name)).ConfigureAwait(false);
        await SqlCommands.ExecuteAsync(
            connection,
            transaction,
            $"""
            INSERT INTO {_table} (`name`, `source_type`, `offset`, `committed_event_count`, `epoch`, `sequence`, `format_version`, `updated_at`)
            VALUES (@name, @source_type, @offset, @count, @epoch, @sequence, @format_version, @now)
            ON DUPLICATE KEY UPDATE `offset` = @offset, `committed_event_count` = @count, `epoch` = @epoch, `sequence` = @sequence,
                `format_version` = @format_version, `updated_at` = @now
            """,
            cancellationToken,
            ("@name", Name),
            ("@source_type", offset.SourceType),
            ("@offset", offset.ToJsonString()),
            ("@count", committedEventCount),
            ("@epoch", epoch),
            ("@sequence", sequence),
            ("@format_version", CurrentFormatVersion),
            ("@now", now)).ConfigureAwait(false);

        if (reason is null)
        {
            Log.StoreSaved(_logger, Name, offset.SourceType, offset, committedEventCount, epoch, sequence);
        }
        else
        {
            Log.StoreRewound(_logger, Name, offset.SourceType, existing?.Offset, existing?.CommittedEventCount, offset, committedEventCount, reason);
        }
    }

    private async Task<CheckpointRecord?> ReadRecordAsync(
        MySqlConnection connection, MySqlTransaction? transaction, string sourceType, bool forUpdate, CancellationToken cancellationToken)
    {
        var rows = await SqlCommands.RowsAsync(
            connection,
            transaction,
            $"""
            SELECT `offset`, `committed_event_count`, `epoch`, `sequence`, `format_version`, `updated_at`
            FROM {_table} WHERE `name` = @name AND `source_type` = @source_type{(forUpdate ? " FOR UPDATE" : string.Empty)}
            """,
            cancellationToken,
            ("@name", Name),
            ("@source_type", sourceType)).ConfigureAwait(false);
        return rows.Count == 0 ? null : ParseRecord(sourceType, rows[0]);
    }

    private CheckpointRecord ParseRecord(string sourceType, object?[] row)
    {
        var where = $"{TableName} row (name '{Name}', source_type '{sourceType}')";
        int formatVersion;
        ulong count;
        long epoch;
        ulong sequence;
        DateTimeOffset updatedAt;
        string offsetJson;
        try
        {
            offsetJson = DbValues.ToText(row[0]) ?? throw new FormatException("offset is NULL");
            count = DbValues.ToUInt64(row[1], "committed_event_count");
            epoch = DbValues.ToInt64(row[2], "epoch");
            sequence = DbValues.ToUInt64(row[3], "sequence");
            formatVersion = checked((int)DbValues.ToUInt32(row[4], "format_version"));
            updatedAt = DbValues.ToUtc(row[5], "updated_at");
        }
        catch (Exception ex) when (ex is FormatException or OverflowException)
        {
            throw new CheckpointException(CheckpointErrorCode.Corrupt, $"Checkpoint {where} cannot be read: {ex.Message} Repair or rewind the row.", ex);
        }

        if (formatVersion != CurrentFormatVersion)
        {
            throw new CheckpointException(
                CheckpointErrorCode.UnsupportedFormatVersion,
                $"Checkpoint {where} has format_version {formatVersion}; this release reads version {CurrentFormatVersion}. Upgrade Cdc.Checkpoint.MySql.");
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
            throw new CheckpointException(CheckpointErrorCode.Corrupt, $"Checkpoint {where} was read as an offset of source type '{offset.SourceType}'. Repair or rewind the row.");
        }

        return new CheckpointRecord(sourceType, count, offset)
        {
            FormatVersion = formatVersion,
            Sequence = sequence,
            SavedAt = updatedAt,
            Epoch = epoch,
        };
    }

    private T ReadColumn<T>(object? value, string what, Func<object?, string, T> read)
    {
        try
        {
            return read(value, what);
        }
        catch (FormatException ex)
        {
            throw Corrupt(ex.Message);
        }
    }

    private CheckpointException Corrupt(string problem) =>
        new(CheckpointErrorCode.Corrupt, $"A row of checkpoint {TableName}/{Name} cannot be read: {problem}. Repair the row (a fence row in {TableName}_fence may also be deleted; the name is then acquired again).");

    // A missing table or a refused privilege: both are fixed by an operator, not by a retry.
    private CheckpointException Misconfigured(MySqlException ex) =>
        MySqlErrors.IsAccessDenied(ex)
            ? MySqlErrors.AccessDenied(ex, $"use the checkpoint tables {TableName}, {TableName}_fence and {TableName}_audit", $"GRANT SELECT, INSERT, UPDATE ON {_grantOn} TO <user>;")
            : new(
                CheckpointErrorCode.Misconfigured,
                $"The checkpoint tables {TableName}, {TableName}_fence and {TableName}_audit do not exist ({ex.Message}). Create them once with MySqlCheckpointStore.CreateSchemaAsync or the SQL in docs/mysql.md.",
                ex);

    private CheckpointException SaveFailed(CheckpointOffset offset, MySqlException ex) =>
        MySqlErrors.IsAccessDenied(ex) || MySqlErrors.IsNoSuchTable(ex)
            ? Misconfigured(ex)
            : new(
                CheckpointErrorCode.WriteFailed,
                $"Saving checkpoint {TableName}/{Name} at {offset} failed: {ex.Message} (MySQL error {ex.Number}). The transaction was not committed and the stored row is unchanged; " +
                (MySqlErrors.IsTransient(ex) ? "the failure is transient (deadlock, lock-wait timeout or connection): retry the save." : "retry when the server is reachable."),
                ex)
            {
                TransientCause = MySqlErrors.IsTransient(ex),
            };

    /// <summary>What this instance last wrote to (or found in) its row.</summary>
    private sealed record KnownRow(CheckpointOffset Offset, ulong Count, string Json);
}
