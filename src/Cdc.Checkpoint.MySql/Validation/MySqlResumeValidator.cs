using System.Collections.Immutable;
using Cdc.Checkpoint.MySql.Diagnostics;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Internal;
using Cdc.Checkpoint.MySql.Serialization;
using Cdc.Checkpoint.Offsets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MySqlConnector;

namespace Cdc.Checkpoint.MySql.Validation;

/// <summary>
/// Decides whether resuming a binlog consumer from a checkpointed <see cref="MySqlOffset"/> or
/// <see cref="MariaDbOffset"/> is safe, by comparing it with the live server: flavour and version, server identity,
/// the GTID state (<c>gtid_executed</c>/<c>gtid_purged</c> on MySQL, <c>gtid_binlog_pos</c>/<c>gtid_binlog_state</c> and
/// the oldest binlog's <c>Gtid_list</c> on MariaDB), the binlog files, and on MariaDB <c>BINLOG_GTID_POS</c> of the
/// checkpoint's binlog position.
/// </summary>
/// <remarks>
/// <para>
/// Reaches the server through MySqlConnector's <see cref="MySqlDataSource"/>. The SQL is chosen by the
/// server's flavour and version (<c>SHOW BINARY LOG STATUS</c> on MySQL 8.2 and later, <c>SHOW MASTER STATUS</c> on
/// MySQL 8.0 and MariaDB). The user needs the <c>REPLICATION CLIENT</c> privilege (MariaDB 10.5+: <c>BINLOG MONITOR</c>).
/// </para>
/// <para>
/// The decision itself is the pure function <see cref="Decide"/> over <see cref="MySqlServerFacts"/>; the default policy
/// fails closed (see <see cref="MySqlResumeValidationOptions"/> for the opt-ins), and <c>docs/mysql.md</c> lists every
/// verdict with the operator's action. A validation is a snapshot: call it right before the consumer starts reading.
/// </para>
/// <para>Thread-safe; holds no connection between calls.</para>
/// </remarks>
public sealed class MySqlResumeValidator
{
    private const int EarliestAttempts = 3;

    private readonly MySqlDataSource _dataSource;
    private readonly ILogger _logger;

    /// <summary>Creates a validator.</summary>
    /// <param name="dataSource">Connections to the server the consumer reads the binlog from.</param>
    /// <param name="options">The resume policy; fail-closed defaults when <see langword="null"/>.</param>
    /// <param name="loggerFactory">Logger factory; no logging when <see langword="null"/>.</param>
    public MySqlResumeValidator(MySqlDataSource dataSource, MySqlResumeValidationOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        _dataSource = dataSource;
        Options = options ?? MySqlResumeValidationOptions.Default;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<MySqlResumeValidator>();
    }

    /// <summary>The resume policy.</summary>
    public MySqlResumeValidationOptions Options { get; }

    /// <summary>
    /// Validates resuming from <paramref name="checkpoint"/> (a fresh start when <see langword="null"/>): reads the server
    /// facts, decides, logs the verdict and counts it in <c>cdc.checkpoint.mysql.resume.verdicts</c>.
    /// </summary>
    /// <param name="checkpoint">
    /// A <see cref="MySqlOffset"/> or <see cref="MariaDbOffset"/>, or <see langword="null"/>; or the opaque offset of a
    /// rustcdc version 1 <c>mysql</c> record whose <c>gtid</c> is not a MySQL GTID set, which is checked as the MariaDB
    /// GTID position it holds (a MySQL server refuses it as another flavour's position).
    /// </param>
    /// <param name="cancellationToken">Cancels the validation.</param>
    /// <returns>The verdict and its facts; unsafe verdicts do not throw (see <see cref="MySqlResumeValidationResult.ThrowIfRefused"/>).</returns>
    /// <exception cref="ArgumentException"><paramref name="checkpoint"/> is another kind of offset.</exception>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.Misconfigured"/> when the server's answers cannot be read (an unexpected version or variable value), or a rustcdc record's gtid is neither a MySQL GTID set nor a MariaDB GTID position.</exception>
    /// <exception cref="MySqlException">The server could not be queried.</exception>
    public async Task<MySqlResumeValidationResult> ValidateAsync(CheckpointOffset? checkpoint, CancellationToken cancellationToken = default)
    {
        checkpoint = RustCdcV1.Interpret(checkpoint);
        CheckKind(checkpoint);
        var facts = await ReadServerFactsAsync(checkpoint, cancellationToken).ConfigureAwait(false);
        var result = Decide(checkpoint, facts, Options);
        Report(result);
        return result;
    }

    /// <summary>
    /// The resume decision over facts already gathered: no I/O, no logging. <see cref="ValidateAsync"/> is this plus
    /// <see cref="ReadServerFactsAsync"/>.
    /// </summary>
    /// <param name="checkpoint">A <see cref="MySqlOffset"/> or <see cref="MariaDbOffset"/>, or <see langword="null"/> for a fresh start.</param>
    /// <param name="server">The server facts.</param>
    /// <param name="options">The policy; the fail-closed defaults when <see langword="null"/>.</param>
    /// <returns>The verdict.</returns>
    /// <exception cref="ArgumentException"><paramref name="checkpoint"/> is another kind of offset.</exception>
    public static MySqlResumeValidationResult Decide(CheckpointOffset? checkpoint, MySqlServerFacts server, MySqlResumeValidationOptions? options = null) =>
        MySqlResumeRules.Decide(RustCdcV1.Interpret(checkpoint), server, options ?? MySqlResumeValidationOptions.Default);

    /// <summary>
    /// Reads the facts a resume decision needs. With a <see cref="MariaDbOffset"/> whose binlog file still exists, also
    /// asks <c>BINLOG_GTID_POS</c> for its position (<see cref="MySqlServerFacts.CheckpointBinlogMapping"/>).
    /// </summary>
    /// <param name="checkpoint">The checkpoint to probe for, if any.</param>
    /// <param name="cancellationToken">Cancels the queries.</param>
    /// <returns>The facts.</returns>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.Misconfigured"/> when an answer cannot be read or the user lacks the privilege to
    /// read the binlog state.
    /// </exception>
    /// <exception cref="MySqlException">The server could not be queried.</exception>
    public async Task<MySqlServerFacts> ReadServerFactsAsync(CheckpointOffset? checkpoint = null, CancellationToken cancellationToken = default)
    {
        CheckKind(checkpoint);
        try
        {
            return await ReadFactsAsync(checkpoint, cancellationToken).ConfigureAwait(false);
        }
        catch (MySqlException ex) when (MySqlErrors.IsAccessDenied(ex))
        {
            throw MySqlErrors.AccessDenied(
                ex,
                "read the binlog state (SHOW BINARY LOGS, SHOW MASTER STATUS / SHOW BINARY LOG STATUS)",
                "GRANT REPLICATION CLIENT ON *.* TO <user>; on MySQL, GRANT BINLOG MONITOR ON *.* TO <user>; on MariaDB 10.5 and later.");
        }
    }

    private async Task<MySqlServerFacts> ReadFactsAsync(CheckpointOffset? checkpoint, CancellationToken cancellationToken)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var versionRow = await SingleRowAsync(connection, MySqlDialect.VersionSql, cancellationToken).ConfigureAwait(false);
            var versionText = DbValues.ToText(versionRow[0]) ?? string.Empty;
            MySqlServerFlavor flavor;
            Version version;
            try
            {
                (flavor, version) = MySqlServerFacts.ParseVersion(versionText, DbValues.ToText(versionRow.Length > 1 ? versionRow[1] : null));
            }
            catch (FormatException ex)
            {
                throw Unreadable("the server version", ex);
            }

            var facts = flavor == MySqlServerFlavor.MariaDb
                ? await ReadMariaDbAsync(connection, version, versionText, checkpoint as MariaDbOffset, cancellationToken).ConfigureAwait(false)
                : await ReadMySqlAsync(connection, version, versionText, cancellationToken).ConfigureAwait(false);
            Log.ServerFactsRead(_logger, facts);
            return facts;
        }
    }

    private static async Task<MySqlServerFacts> ReadMySqlAsync(MySqlConnection connection, Version version, string versionText, CancellationToken cancellationToken)
    {
        var row = await SingleRowAsync(connection, MySqlDialect.MySqlVariablesSql, cancellationToken).ConfigureAwait(false);
        try
        {
            var logBin = DbValues.ToBoolean(row[2], "@@log_bin");
            var uuidText = DbValues.ToText(row[1]);
            Guid? uuid = Guid.TryParse(uuidText, out var parsedUuid) && parsedUuid != Guid.Empty ? parsedUuid : null;
            var files = ImmutableArray<BinlogFileInfo>.Empty;
            BinlogPosition? current = null;
            if (logBin)
            {
                (files, current) = await ReadBinlogFilesAsync(connection, MySqlServerFlavor.MySql, version, cancellationToken).ConfigureAwait(false);
            }

            return new MySqlServerFacts
            {
                Flavor = MySqlServerFlavor.MySql,
                Version = version,
                VersionText = versionText,
                ServerId = DbValues.ToUInt32(row[0], "@@server_id"),
                ServerUuid = uuid,
                BinaryLoggingEnabled = logBin,
                GtidMode = DbValues.ToText(row[3]),
                GtidExecuted = GtidSet.Parse(DbValues.ToText(row[4]) ?? string.Empty),
                GtidPurged = GtidSet.Parse(DbValues.ToText(row[5]) ?? string.Empty),
                BinlogFiles = files,
                CurrentBinlogPosition = current,
            };
        }
        catch (FormatException ex)
        {
            throw Unreadable("the GTID and binlog variables", ex);
        }
    }

    private static async Task<MySqlServerFacts> ReadMariaDbAsync(
        MySqlConnection connection, Version version, string versionText, MariaDbOffset? checkpoint, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var row = await SingleRowAsync(connection, MySqlDialect.MariaDbVariablesSql, cancellationToken).ConfigureAwait(false);
            bool logBin;
            uint serverId;
            MariaDbGtidPosition binlogPos;
            ImmutableArray<MariaDbGtid> state;
            bool strict;
            uint domain;
            try
            {
                serverId = DbValues.ToUInt32(row[0], "@@server_id");
                logBin = DbValues.ToBoolean(row[1], "@@log_bin");
                binlogPos = MariaDbGtidPosition.Parse(DbValues.ToText(row[2]) ?? string.Empty);
                state = ParseGtidList(DbValues.ToText(row[3]) ?? string.Empty);
                strict = DbValues.ToBoolean(row[4], "@@gtid_strict_mode");
                domain = DbValues.ToUInt32(row[5], "@@gtid_domain_id");
            }
            catch (FormatException ex)
            {
                throw Unreadable("the GTID variables", ex);
            }

            var files = ImmutableArray<BinlogFileInfo>.Empty;
            BinlogPosition? current = null;
            MariaDbGtidPosition? earliest = null;
            BinlogGtidMapping? mapping = null;
            if (logBin)
            {
                (files, current) = await ReadBinlogFilesAsync(connection, MySqlServerFlavor.MariaDb, version, cancellationToken).ConfigureAwait(false);
                if (!files.IsEmpty)
                {
                    // The oldest file's Gtid_list: NULL only when the file was purged since SHOW BINARY LOGS; read again.
                    earliest = await BinlogGtidPosAsync(connection, files[0].Name, 4, cancellationToken).ConfigureAwait(false);
                    if (earliest is null)
                    {
                        if (attempt < EarliestAttempts)
                        {
                            continue;
                        }

                        throw new CheckpointException(
                            CheckpointErrorCode.Misconfigured,
                            $"BINLOG_GTID_POS('{files[0].Name}', 4) returned NULL {EarliestAttempts} times on MariaDB {version} (server_id {serverId}), so the oldest available GTID position is unknown. Check that the binlog files listed by SHOW BINARY LOGS are readable by the server, then retry.");
                    }
                }

                if (checkpoint?.BinlogPosition is { } binlog && files.Any(f => string.Equals(f.Name, binlog.FileName, StringComparison.Ordinal)))
                {
                    mapping = new BinlogGtidMapping(binlog, await BinlogGtidPosAsync(connection, binlog.FileName, binlog.Position, cancellationToken).ConfigureAwait(false));
                }
            }

            return new MySqlServerFacts
            {
                Flavor = MySqlServerFlavor.MariaDb,
                Version = version,
                VersionText = versionText,
                ServerId = serverId,
                BinaryLoggingEnabled = logBin,
                GtidBinlogPosition = binlogPos,
                GtidBinlogState = state,
                GtidStrictMode = strict,
                GtidDomainId = domain,
                BinlogFiles = files,
                CurrentBinlogPosition = current,
                EarliestGtidPosition = earliest,
                CheckpointBinlogMapping = mapping,
            };
        }
    }

    private static async Task<(ImmutableArray<BinlogFileInfo> Files, BinlogPosition? Current)> ReadBinlogFilesAsync(
        MySqlConnection connection, MySqlServerFlavor flavor, Version version, CancellationToken cancellationToken)
    {
        var rows = await SqlCommands.RowsAsync(connection, null, MySqlDialect.BinaryLogsSql, cancellationToken).ConfigureAwait(false);
        var files = ImmutableArray.CreateBuilder<BinlogFileInfo>(rows.Count);
        try
        {
            foreach (var row in rows)
            {
                var name = DbValues.ToText(row[0]) ?? throw new FormatException("SHOW BINARY LOGS returned a NULL Log_name.");
                files.Add(new BinlogFileInfo(name, DbValues.ToUInt64(row[1], $"File_size of {name}")));
            }

            var status = await SqlCommands.RowsAsync(connection, null, MySqlDialect.BinlogStatusSql(flavor, version), cancellationToken).ConfigureAwait(false);
            BinlogPosition? current = null;
            if (status.Count > 0 && DbValues.ToText(status[0][0]) is { Length: > 0 } file)
            {
                if (!BinlogPosition.IsValidFileName(file))
                {
                    throw new FormatException($"the current binlog file '{file}' is not a binlog file name");
                }

                current = new BinlogPosition(file, DbValues.ToUInt64(status[0][1], "Position"));
            }

            return (files.DrainToImmutable(), current);
        }
        catch (FormatException ex)
        {
            throw Unreadable("the binlog file list", ex);
        }
    }

    private static async Task<MariaDbGtidPosition?> BinlogGtidPosAsync(MySqlConnection connection, string file, ulong position, CancellationToken cancellationToken)
    {
        var rows = await SqlCommands.RowsAsync(connection, null, MySqlDialect.BinlogGtidPosSql, cancellationToken, ("@file", file), ("@position", position)).ConfigureAwait(false);
        var text = rows.Count == 0 ? null : DbValues.ToText(rows[0][0]);
        if (text is null)
        {
            return null;
        }

        try
        {
            return MariaDbGtidPosition.Parse(text);
        }
        catch (FormatException ex)
        {
            throw Unreadable($"BINLOG_GTID_POS('{file}', {position})", ex);
        }
    }

    /// <summary>Parses <c>gtid_binlog_state</c>: comma-separated GTIDs, one per (domain, server id) pair.</summary>
    internal static ImmutableArray<MariaDbGtid> ParseGtidList(string text)
    {
        var builder = ImmutableArray.CreateBuilder<MariaDbGtid>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            builder.Add(MariaDbGtid.Parse(part));
        }

        builder.Sort(static (a, b) => a.DomainId != b.DomainId ? a.DomainId.CompareTo(b.DomainId) : a.ServerId.CompareTo(b.ServerId));
        return builder.DrainToImmutable();
    }

    private static async Task<object?[]> SingleRowAsync(MySqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        var rows = await SqlCommands.RowsAsync(connection, null, sql, cancellationToken).ConfigureAwait(false);
        return rows.Count > 0
            ? rows[0]
            : throw new CheckpointException(CheckpointErrorCode.Misconfigured, $"'{sql}' returned no row; the server does not look like MySQL or MariaDB.");
    }

    private static CheckpointException Unreadable(string what, Exception ex) =>
        new(CheckpointErrorCode.Misconfigured,
            $"Could not read {what} from the server: {ex.Message} Is it MySQL 8.0+ or MariaDB 10.6+, reached through MySqlConnector?",
            ex);

    private static void CheckKind(CheckpointOffset? checkpoint)
    {
        if (checkpoint is not (null or MySqlOffset or MariaDbOffset))
        {
            throw new ArgumentException(
                $"Checkpoint {checkpoint} is a {checkpoint.SourceType} offset ({checkpoint.GetType().Name}); the MySQL resume validator checks MySqlOffset and MariaDbOffset only.",
                nameof(checkpoint));
        }
    }

    private void Report(MySqlResumeValidationResult result)
    {
        var server = result.Server.Describe();
        if (result.Checkpoint is { } checkpoint && IsBinlogOnlyWithoutIdentity(checkpoint))
        {
            Log.IdentityUnverified(_logger, checkpoint, server);
        }

        if (!result.IgnoredDomains.IsEmpty)
        {
            Log.DomainsIgnored(_logger, string.Join(", ", result.IgnoredDomains), server);
        }

        if (result.IsRefused)
        {
            Log.ResumeRefused(_logger, server, result.Verdict, result.Message);
        }
        else if (result.GapAccepted)
        {
            Log.GapAccepted(_logger, server, result.Verdict, result.Message);
        }
        else
        {
            Log.ResumeValidated(_logger, server, result.Verdict, result.Message);
        }

        MySqlMetrics.RecordVerdict(result);
    }

    private static bool IsBinlogOnlyWithoutIdentity(CheckpointOffset checkpoint) => checkpoint switch
    {
        MySqlOffset { GtidSet: null, ServerUuid: null, ServerId: null } => true,
        MariaDbOffset { GtidPosition: null, ServerId: null } => true,
        _ => false,
    };
}
