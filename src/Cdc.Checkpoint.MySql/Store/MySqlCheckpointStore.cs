using System.Data.Common;
using Cdc.Checkpoint.MySql.Diagnostics;
using Cdc.Checkpoint.MySql.Internal;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Tables;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MySqlConnector;

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
/// <see cref="TableCheckpointStore.CreateSchemaAsync"/> (or the SQL in <c>docs/mysql.md</c>); the store never creates them implicitly.
/// </para>
/// <para>
/// Fencing: <see cref="TableCheckpointStore.AcquireAsync"/> increments the name's epoch in <c>{table}_fence</c> and makes this instance its
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
/// Loads do not need an epoch. <see cref="TableCheckpointStore.RewindAsync"/> skips the progress guards (never the fence) and writes an audit
/// row to <c>{table}_audit</c> in the same transaction.
/// </para>
/// <para>
/// The protocol (fence, guards, one-statement save, audit, metrics, logs, error wording) is
/// <see cref="TableCheckpointStore"/>'s, shared with the PostgreSQL store; this class contributes the MySQL dialect: the
/// SQL, the type mapping (JSON text, <c>BIGINT UNSIGNED</c>, a write sequence it assigns itself) and MySqlConnector's
/// error classification.
/// </para>
/// <para>Thread-safe. Errors of the server or the network during a save surface as
/// <see cref="CheckpointErrorCode.WriteFailed"/> (the transaction is not committed and the stored row is unchanged),
/// <see cref="CheckpointException.IsTransient"/> for a deadlock, a lock-wait timeout or a lost connection; a missing
/// privilege surfaces as <see cref="CheckpointErrorCode.Misconfigured"/> naming the <c>GRANT</c> that fixes it; other
/// errors during a load or an acquisition surface as <see cref="MySqlException"/>.</para>
/// </remarks>
public sealed class MySqlCheckpointStore : TableCheckpointStore
{
    /// <summary>The format version of the rows this release writes (the <c>format_version</c> column).</summary>
    public const int CurrentFormatVersion = 1;

    /// <summary>The longest checkpoint name, in characters.</summary>
    public const int MaxNameLength = 200;

    private readonly Lock _sequenceGate = new();
    private readonly string _grantOn;
    private readonly string _fastUpdateSql;
    private readonly MySqlCheckpointStoreOptions _options;
    private readonly string _table;
    private readonly string _fence;
    private readonly string _audit;
    private ulong _lastSequence;

    /// <summary>Creates a store for checkpoint <paramref name="name"/>. Nothing is touched until the first operation.</summary>
    /// <param name="dataSource">Connections to the database that holds the checkpoint tables.</param>
    /// <param name="name">The checkpoint name (one consumer): 1–200 characters without control characters or surrounding whitespace.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <param name="loggerFactory">Logger factory; no logging when <see langword="null"/>.</param>
    /// <param name="timeProvider">Clock for <c>updated_at</c> and <c>acquired_at</c>; the system clock when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty, too long, contains control characters or has surrounding whitespace.</exception>
    public MySqlCheckpointStore(MySqlDataSource dataSource, string name, MySqlCheckpointStoreOptions? options = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
        : this(options ?? new MySqlCheckpointStoreOptions(), dataSource, ValidName(name), loggerFactory, timeProvider)
    {
    }

    private MySqlCheckpointStore(MySqlCheckpointStoreOptions options, MySqlDataSource dataSource, string name, ILoggerFactory? loggerFactory, TimeProvider? timeProvider)
        : base(dataSource, name, Setup(options), (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<MySqlCheckpointStore>(), timeProvider)
    {
        _options = options;
        var prefix = _options.Database is { } db ? $"`{db}`." : string.Empty;
        _table = $"{prefix}`{_options.TableName}`";
        _fence = $"{prefix}`{_options.TableName}_fence`";
        _audit = $"{prefix}`{_options.TableName}_audit`";
        var grantDatabase = _options.Database ?? new MySqlConnectionStringBuilder(dataSource.ConnectionString).Database;
        _grantOn = string.IsNullOrEmpty(grantDatabase) ? "<database>.*" : $"`{grantDatabase}`.*";

        // The one-statement save: writes the row only when it still holds exactly the offset and count the guards were
        // judged against and the fence holds this owner's epoch, share-locked until the statement commits so that an
        // acquisition cannot slip in between. (A multi-table UPDATE that also moved the fence's last_sequence cost twice
        // as much on MariaDB 10.11; the full path reads the rows' sequences instead.)
        _fastUpdateSql = $"""
            UPDATE {_table}
            SET `offset` = @offset, `committed_event_count` = @count, `epoch` = @epoch, `sequence` = @sequence, `updated_at` = @now
            WHERE `name` = @name AND `source_type` = @source_type
                AND `offset` = @known_offset AND `committed_event_count` = @known_count AND `format_version` = @format_version
                AND (SELECT f.`epoch` FROM {_fence} AS f WHERE f.`name` = @name LOCK IN SHARE MODE) = @epoch
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
    /// After a <see cref="CheckpointException"/> the caller must roll the transaction back.
    /// </exception>
    public ValueTask SaveAsync(MySqlTransaction transaction, CheckpointOffset offset, ulong committedEventCount, CancellationToken cancellationToken = default) =>
        SaveInTransactionAsync(transaction, offset, committedEventCount, cancellationToken);

    /// <inheritdoc />
    /// <remarks>Each statement is DDL, which commits implicitly in MySQL: never call it inside a transaction.</remarks>
    protected override async Task CreateTablesAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        foreach (var statement in SchemaStatements)
        {
            await SqlCommands.ExecuteAsync((MySqlConnection)connection, null, statement, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    protected override async Task<long> IncrementEpochAsync(DbConnection connection, string owner, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var mysql = (MySqlConnection)connection;
        var transaction = await mysql.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            await SqlCommands.ExecuteAsync(
                mysql,
                transaction,
                $"""
                INSERT INTO {_fence} (`name`, `epoch`, `last_sequence`, `owner`, `acquired_at`) VALUES (@name, 1, 0, @owner, @now)
                ON DUPLICATE KEY UPDATE `epoch` = `epoch` + 1, `owner` = @owner, `acquired_at` = @now
                """,
                cancellationToken,
                ("@name", Name),
                ("@owner", owner),
                ("@now", now.UtcDateTime)).ConfigureAwait(false);
            var rows = await SqlCommands.RowsAsync(mysql, transaction, $"SELECT `epoch` FROM {_fence} WHERE `name` = @name", cancellationToken, ("@name", Name)).ConfigureAwait(false);
            var epoch = rows.Count == 1 ? DbValues.ToInt64(rows[0][0], "fence epoch") : throw new FormatException("the fence row vanished inside its own transaction");
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return epoch;
        }
    }

    // The fence row lock orders this save after any newer owner's acquisition, and serialises the guard (and the write
    // sequence) with every other save of the name until the transaction ends. The name's last sequence is the highest of
    // the fence's and the rows' (one-statement saves move only their row's). MySQL sends no batch here: the statements
    // go one by one, and nothing is written ahead of the guards.
    /// <inheritdoc />
    protected override async Task<TableLock> LockAsync(
        DbConnection connection, DbTransaction transaction, string sourceType, TableRowWrite? writeAhead, CancellationToken cancellationToken)
    {
        var mysql = (MySqlConnection)connection;
        var fence = await SqlCommands.RowsAsync(
            mysql,
            (MySqlTransaction)transaction,
            $"""
            SELECT f.`epoch`, GREATEST(f.`last_sequence`, COALESCE((SELECT MAX(t.`sequence`) FROM {_table} AS t WHERE t.`name` = f.`name`), 0))
            FROM {_fence} AS f WHERE f.`name` = @name FOR UPDATE
            """,
            cancellationToken,
            ("@name", Name)).ConfigureAwait(false);
        if (fence.Count != 1)
        {
            return new TableLock(null, null, WroteAhead: false, LastSequence: 0);
        }

        var rows = await SqlCommands.RowsAsync(
            mysql,
            (MySqlTransaction)transaction,
            $"{SelectRows} AND `source_type` = @source_type FOR UPDATE",
            cancellationToken,
            ("@name", Name),
            ("@source_type", sourceType)).ConfigureAwait(false);
        return new TableLock(
            DbValues.ToInt64(fence[0][0], "fence epoch"),
            rows.Count == 0 ? null : ReadRow(rows[0]),
            WroteAhead: false,
            DbValues.ToUInt64(fence[0][1], "fence last_sequence"));
    }

    /// <inheritdoc />
    protected override async Task<ulong?> WriteRowAsync(
        DbConnection connection, DbTransaction transaction, TableRowWrite write, TableLock locked, TableAuditWrite? audit, CancellationToken cancellationToken)
    {
        var mysql = (MySqlConnection)connection;
        var mysqlTransaction = (MySqlTransaction)transaction;
        ulong sequence;
        lock (_sequenceGate)
        {
            // Above the counter too: a one-statement save of this instance may not have committed yet.
            sequence = Math.Max(locked.LastSequence, _lastSequence) + 1;
            _lastSequence = sequence;
        }

        var now = write.UpdatedAt.UtcDateTime;
        if (audit is not null)
        {
            await SqlCommands.ExecuteAsync(
                mysql,
                mysqlTransaction,
                $"""
                INSERT INTO {_audit} (`name`, `source_type`, `old_offset`, `old_count`, `new_offset`, `new_count`, `epoch`, `reason`, `rewound_at`)
                VALUES (@name, @source_type, @old_offset, @old_count, @new_offset, @new_count, @epoch, @reason, @now)
                """,
                cancellationToken,
                ("@name", Name),
                ("@source_type", write.SourceType),
                ("@old_offset", audit.OldOffsetJson),
                ("@old_count", audit.OldCount),
                ("@new_offset", write.OffsetJson),
                ("@new_count", write.CommittedEventCount),
                ("@epoch", write.Epoch),
                ("@reason", audit.Reason),
                ("@now", now)).ConfigureAwait(false);
        }

        await SqlCommands.ExecuteAsync(
            mysql, mysqlTransaction, $"UPDATE {_fence} SET `last_sequence` = @sequence WHERE `name` = @name", cancellationToken, ("@sequence", sequence), ("@name", Name)).ConfigureAwait(false);
        await SqlCommands.ExecuteAsync(
            mysql,
            mysqlTransaction,
            $"""
            INSERT INTO {_table} (`name`, `source_type`, `offset`, `committed_event_count`, `epoch`, `sequence`, `format_version`, `updated_at`)
            VALUES (@name, @source_type, @offset, @count, @epoch, @sequence, @format_version, @now)
            ON DUPLICATE KEY UPDATE `offset` = @offset, `committed_event_count` = @count, `epoch` = @epoch, `sequence` = @sequence,
                `format_version` = @format_version, `updated_at` = @now
            """,
            cancellationToken,
            ("@name", Name),
            ("@source_type", write.SourceType),
            ("@offset", write.OffsetJson),
            ("@count", write.CommittedEventCount),
            ("@epoch", write.Epoch),
            ("@sequence", sequence),
            ("@format_version", write.FormatVersion),
            ("@now", now)).ConfigureAwait(false);
        return sequence;
    }

    /// <inheritdoc />
    protected override async Task<(bool Written, ulong? Sequence)> TryUpdateKnownRowAsync(
        DbConnection connection, TableRowWrite write, string knownOffsetJson, ulong knownCount, CancellationToken cancellationToken)
    {
        ulong sequence;
        lock (_sequenceGate)
        {
            // Within this owner's epoch only this instance writes the name, so its counter is the name's sequence.
            sequence = ++_lastSequence;
        }

        var matched = await SqlCommands.ExecuteAsync(
            (MySqlConnection)connection,
            null,
            _fastUpdateSql,
            cancellationToken,
            ("@offset", write.OffsetJson),
            ("@count", write.CommittedEventCount),
            ("@epoch", write.Epoch),
            ("@sequence", sequence),
            ("@now", write.UpdatedAt.UtcDateTime),
            ("@name", Name),
            ("@source_type", write.SourceType),
            ("@known_offset", knownOffsetJson),
            ("@known_count", knownCount),
            ("@format_version", write.FormatVersion)).ConfigureAwait(false);

        // Found rows (MySqlConnector's default) or changed rows (UseAffectedRows=true): the sequence always changes.
        return (matched != 0, sequence);
    }

    /// <inheritdoc />
    protected override async Task<IReadOnlyList<TableRow>> ReadRowsAsync(DbConnection connection, string? sourceType, CancellationToken cancellationToken)
    {
        var rows = sourceType is null
            ? await SqlCommands.RowsAsync((MySqlConnection)connection, null, $"{SelectRows} ORDER BY `source_type`", cancellationToken, ("@name", Name)).ConfigureAwait(false)
            : await SqlCommands.RowsAsync((MySqlConnection)connection, null, $"{SelectRows} AND `source_type` = @source_type", cancellationToken, ("@name", Name), ("@source_type", sourceType)).ConfigureAwait(false);
        return [.. rows.Select(ReadRow)];
    }

    /// <inheritdoc />
    protected override async Task<CheckpointFence?> ReadFenceRowAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var rows = await SqlCommands.RowsAsync(
            (MySqlConnection)connection, null, $"SELECT `epoch`, `owner`, `acquired_at` FROM {_fence} WHERE `name` = @name", cancellationToken, ("@name", Name)).ConfigureAwait(false);
        return rows.Count == 0
            ? null
            : new CheckpointFence(Name, DbValues.ToInt64(rows[0][0], "fence epoch"), DbValues.ToText(rows[0][1]) ?? string.Empty, DbValues.ToUtc(rows[0][2], "fence acquired_at"));
    }

    /// <inheritdoc />
    protected override async Task<IReadOnlyList<CheckpointAuditEntry>> ReadAuditRowsAsync(DbConnection connection, int limit, CancellationToken cancellationToken)
    {
        var rows = await SqlCommands.RowsAsync(
            (MySqlConnection)connection,
            null,
            $"""
            SELECT `id`, `source_type`, `old_offset`, `old_count`, `new_offset`, `new_count`, `epoch`, `reason`, `rewound_at`
            FROM {_audit} WHERE `name` = @name ORDER BY `id` DESC LIMIT @limit
            """,
            cancellationToken,
            ("@name", Name),
            ("@limit", limit)).ConfigureAwait(false);
        return [.. rows.Select(r => new CheckpointAuditEntry(
            DbValues.ToInt64(r[0], "audit id"),
            DbValues.ToText(r[1]) ?? string.Empty,
            DbValues.ToText(r[2]),
            r[3] is null ? null : DbValues.ToUInt64(r[3], "audit old_count"),
            DbValues.ToText(r[4]) ?? string.Empty,
            DbValues.ToUInt64(r[5], "audit new_count"),
            DbValues.ToInt64(r[6], "audit epoch"),
            DbValues.ToText(r[7]) ?? string.Empty,
            DbValues.ToUtc(r[8], "audit rewound_at")))];
    }

    /// <inheritdoc />
    protected override bool IsMissingTable(DbException exception) => exception is MySqlException mysql && MySqlErrors.IsNoSuchTable(mysql);

    /// <inheritdoc />
    protected override bool IsAccessDenied(DbException exception) => exception is MySqlException mysql && MySqlErrors.IsAccessDenied(mysql);

    /// <inheritdoc />
    /// <remarks>A deadlock (1213), a lock-wait timeout (1205) or a connection failure (MySqlConnector's <c>IsTransient</c>).</remarks>
    protected override bool IsTransient(DbException exception) => exception is MySqlException mysql && MySqlErrors.IsTransient(mysql);

    /// <inheritdoc />
    protected override string DescribeError(DbException exception) =>
        exception is MySqlException mysql ? $"MySQL error {mysql.Number}" : base.DescribeError(exception);

    /// <inheritdoc />
    protected override string GrantFix(bool createSchema) =>
        createSchema
            ? $"GRANT CREATE ON {_grantOn} TO <user>; (or create them with the SQL in docs/mysql.md as an administrator)."
            : $"GRANT SELECT, INSERT, UPDATE ON {_grantOn} TO <user>;";

    private static string ValidName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);

        // No surrounding whitespace: the utf8mb4_bin key collation pads with spaces, so 'a' and 'a ' would be one row.
        if (name.Length == 0 || name.Length > MaxNameLength || name.Any(char.IsControl) || char.IsWhiteSpace(name[0]) || char.IsWhiteSpace(name[^1]))
        {
            throw new ArgumentException(
                $"Checkpoint name '{name}' is not allowed: use 1-{MaxNameLength} characters without control characters or surrounding whitespace.", nameof(name));
        }

        return name;
    }

    private static TableStoreSetup Setup(MySqlCheckpointStoreOptions options) =>
        new(
            options.Database is { } database ? $"{database}.{options.TableName}" : options.TableName,
            "mysql_table",
            MySqlEventId.StoreSchemaCreated,
            "docs/mysql.md",
            options.Codecs,
            options.Owner,
            KnowsLoadedRows: false);

    private static TableRow ReadRow(object?[] row) =>
        new(
            DbValues.ToText(row[0]) ?? throw new FormatException("source_type is NULL"),
            DbValues.ToText(row[1]) ?? throw new FormatException("offset is NULL"),
            DbValues.ToUInt64(row[2], "committed_event_count"),
            DbValues.ToInt64(row[3], "epoch"),
            DbValues.ToUInt64(row[4], "sequence"),
            checked((int)DbValues.ToUInt32(row[5], "format_version")),
            DbValues.ToUtc(row[6], "updated_at"));

    private string SelectRows =>
        $"SELECT `source_type`, `offset`, `committed_event_count`, `epoch`, `sequence`, `format_version`, `updated_at` FROM {_table} WHERE `name` = @name";

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
}
