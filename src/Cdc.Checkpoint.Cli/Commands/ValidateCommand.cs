using System.CommandLine;
using Cdc.Checkpoint.Cli.Output;
using Cdc.Checkpoint.Cli.Reading;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.MySql.Validation;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using Cdc.Checkpoint.Postgres.Validation;
using MySqlConnector;
using Npgsql;
using Npgsql.Replication;

namespace Cdc.Checkpoint.Cli.Commands;

/// <summary>
/// <c>validate (DIR | table row) --server-postgres|--server-mysql CONNSTR</c>: would resuming from this checkpoint be safe
/// on that server? Read-only: it runs the library's resume validators, which only read (IDENTIFY_SYSTEM,
/// TIMELINE_HISTORY, pg_replication_slots; SHOW BINARY LOGS, gtid variables, BINLOG_GTID_POS) and never create, advance
/// or drop a slot.
/// </summary>
internal static class ValidateCommand
{
    // The operator's action for each verdict, as docs/postgres.md and docs/mysql.md tabulate them.
    private static readonly Dictionary<PostgresResumeVerdict, string> PostgresActions = new()
    {
        [PostgresResumeVerdict.Resume] = "none: start the consumer; it resumes at the checkpoint.",
        [PostgresResumeVerdict.ResumeOnNewTimeline] = "none (check the failover was intended): the consumer resumes and re-records the checkpoint on the new timeline.",
        [PostgresResumeVerdict.FreshStart] = "snapshot the published tables up to the slot's consistent point if you need existing rows.",
        [PostgresResumeVerdict.SlotWithoutCheckpoint] = "restore the checkpoint; or drop the slot to start fresh; adopt the slot only when it is yours and nothing was ever checkpointed.",
        [PostgresResumeVerdict.SlotMissing] = "re-snapshot the published tables and reset the checkpoint (a slot is never created when a checkpoint exists).",
        [PostgresResumeVerdict.SlotAhead] = "find who moved the slot (another consumer, pg_replication_slot_advance, a re-created slot, an older checkpoint restored); re-snapshot and reset the checkpoint.",
        [PostgresResumeVerdict.CheckpointAhead] = "point the consumer at the right server; or re-snapshot and reset.",
        [PostgresResumeVerdict.SystemMismatch] = "point the consumer at the original cluster; or re-snapshot and reset.",
        [PostgresResumeVerdict.TimelineDiverged] = "reconcile the sink with the new primary, re-snapshot and reset.",
        [PostgresResumeVerdict.SlotInvalidated] = "drop the slot, re-snapshot, reset; raise max_slot_wal_keep_size.",
        [PostgresResumeVerdict.SlotInUse] = "stop the other consumer (pg_terminate_backend(pid) for a leftover session) and retry.",
        [PostgresResumeVerdict.WrongPlugin] = "use another slot name, or re-create the slot with pgoutput and re-snapshot.",
        [PostgresResumeVerdict.WrongDatabase] = "fix the connection string's Database, or use another slot.",
    };

    private static readonly Dictionary<MySqlResumeVerdict, string> MySqlActions = new()
    {
        [MySqlResumeVerdict.Resume] = "none: start the consumer; it resumes at the checkpoint.",
        [MySqlResumeVerdict.FreshStart] = "start from a snapshot, or from the current position.",
        [MySqlResumeVerdict.PositionPurged] = "re-snapshot the captured tables and delete the checkpoint (or accept the gap knowingly with AcceptPurgedTransactions); raise binlog_expire_logs_seconds (expire_logs_days).",
        [MySqlResumeVerdict.ServerMismatch] = "point the consumer at the server (or topology) the checkpoint came from; for a MariaDB domain deliberately removed with FLUSH BINARY LOGS DELETE_DOMAIN_ID, opt in with IgnoreMissingDomains.",
        [MySqlResumeVerdict.CheckpointAhead] = "resume against the server the checkpoint came from, or wait until this one caught up; never resume as is.",
        [MySqlResumeVerdict.HistoryDiverged] = "repair the topology (errant transactions, wrong failover target) or re-snapshot.",
        [MySqlResumeVerdict.BinlogReset] = "re-snapshot and delete the checkpoint.",
        [MySqlResumeVerdict.Misconfigured] = "fix the server configuration (log_bin, gtid_mode, gtid_strict_mode), or relax the policy knowingly.",
    };

    public static Command Create(Terminal terminal)
    {
        var directory = new Argument<string?>("DIR") { Description = "The checkpoint directory (or address a table row with --postgres/--mysql and --name).", Arity = ArgumentArity.ZeroOrOne };
        var table = new TableOptions();
        var server = new ConnectionOptions("--server-postgres", "--server-mysql", "--server-env", "The server the consumer would resume on");
        var sourceType = new Option<string?>("--source-type") { Description = "The record to validate when there are several (default: the streaming record of the server's family: postgres, mysql or mariadb).", HelpName = "TYPE" };
        var json = CommonOptions.Json();
        var command = new Command(
            "validate",
            "Check, read-only, whether resuming from a checkpoint (directory or table row) would be safe on a PostgreSQL or MySQL/MariaDB server: prints the verdict, the facts behind it and the operator's action. "
            + "Never creates, advances or drops a slot. Exit 0 when resuming is safe, 1 otherwise.")
        {
            directory, sourceType, json,
        };
        table.AddTo(command);
        server.AddTo(command);
        table.RequireDirectoryOrTable(command, directory);
        command.Validators.Add(result =>
        {
            if (!server.IsGiven(result))
            {
                result.AddError("Give the server to validate against: --server-postgres CONNSTR or --server-mysql CONNSTR (or --server-env VAR with one of them).");
            }
        });
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var connection = server.Read(parseResult)!;
            var wanted = parseResult.GetValue(sourceType);
            var (record, where) = parseResult.GetValue(directory) is { } dir
                ? ReadFromDirectory(dir, connection.Provider, wanted)
                : await ReadFromTableAsync(table, parseResult, connection.Provider, wanted, cancellationToken).ConfigureAwait(false);
            var report = connection.Provider == Provider.Postgres
                ? await ValidatePostgresAsync(connection, record, where, cancellationToken).ConfigureAwait(false)
                : await ValidateMySqlAsync(connection, record, where, cancellationToken).ConfigureAwait(false);
            if (parseResult.GetValue(json))
            {
                CommonOptions.WriteJson(terminal, report, CliJsonContext.Default.ValidateReport);
            }
            else
            {
                terminal.Line($"Checkpoint: {report.Checkpoint} (count {report.CommittedEventCount}) from {report.Where}");
                terminal.Line($"Server:     {report.Server}");
                terminal.Line($"Verdict:    {report.Verdict} - {(report.Safe ? "resuming is safe" : "resuming is NOT safe")}");
                terminal.Line($"Why:        {report.Message}");
                foreach (var fact in report.Facts)
                {
                    terminal.Line($"  {fact}");
                }

                terminal.Line($"Action:     {report.Action}");
            }

            return report.Safe ? ExitCodes.Success : ExitCodes.RefusedOrInvalid;
        });
        return command;
    }

    private static string[] Families(Provider provider) =>
        provider == Provider.Postgres ? [PostgresOffset.StreamingSourceType] : [MySqlOffset.DefaultSourceType, MariaDbOffset.DefaultSourceType];

    private static (CheckpointRecord Record, string Where) ReadFromDirectory(string directory, Provider provider, string? wanted)
    {
        var scan = CheckpointDirectoryScan.Read(directory);
        if (scan.BadRecords.FirstOrDefault() is { } bad)
        {
            throw new CheckpointException(bad.Problem!.ErrorCode, $"Cannot validate: {bad.Problem.Message}") { Path = bad.Path };
        }

        var record = Pick(scan.ReadableRecords.ToList(), provider, wanted, $"directory '{scan.DirectoryPath}'");
        return (record, Path.Combine(scan.DirectoryPath, CheckpointFileNames.ForRecord(record.SourceType)));
    }

    private static async Task<(CheckpointRecord Record, string Where)> ReadFromTableAsync(TableOptions options, ParseResult parseResult, Provider provider, string? wanted, CancellationToken cancellationToken)
    {
        var table = options.Open(parseResult, TableStore.AllCodecs);
        await using (table.ConfigureAwait(false))
        {
            var records = new List<CheckpointRecord>();
            foreach (var type in wanted is null ? Families(provider) : [wanted])
            {
                if (await table.Store.LoadAsync(type, cancellationToken).ConfigureAwait(false) is { } record)
                {
                    records.Add(record);
                }
            }

            return (Pick(records, provider, wanted, table.Describe()), table.Describe());
        }
    }

    private static CheckpointRecord Pick(List<CheckpointRecord> records, Provider provider, string? wanted, string where)
    {
        var types = wanted is null ? Families(provider) : [wanted];
        var matching = records.Where(r => types.Contains(r.SourceType, StringComparer.Ordinal)).ToList();
        return matching.Count switch
        {
            1 => matching[0],
            0 => throw new CheckpointException(
                CheckpointErrorCode.Misconfigured,
                $"There is no {string.Join(" or ", types)} checkpoint in {where}{(records.Count > 0 ? $" (it holds {string.Join(", ", records.Select(r => r.SourceType))}: validate against a server of that family, or pass --source-type)" : string.Empty)}; nothing to validate. A consumer without a checkpoint starts afresh."),
            _ => throw new ArgumentException($"{where} holds several records ({string.Join(", ", matching.Select(r => r.SourceType))}); pass --source-type to say which to validate."),
        };
    }

    private static async Task<ValidateReport> ValidatePostgresAsync(Connection connection, CheckpointRecord record, string where, CancellationToken cancellationToken)
    {
        if (record.Offset is not PostgresOffset offset)
        {
            throw new CheckpointException(CheckpointErrorCode.MixedSourceFamilies, $"The checkpoint in {where} is a {record.SourceType} offset, not a PostgreSQL one: validate it against a MySQL/MariaDB server (--server-mysql).");
        }

        var dataSource = NpgsqlDataSource.Create(connection.ConnectionString);
        await using (dataSource.ConfigureAwait(false))
        {
            // IDENTIFY_SYSTEM and TIMELINE_HISTORY need a replication connection; neither touches a slot.
            var replication = new LogicalReplicationConnection(connection.ConnectionString);
            await using (replication.ConfigureAwait(false))
            {
                await replication.Open(cancellationToken).ConfigureAwait(false);
                var result = await new PostgresResumeValidator(dataSource).ValidateAsync(replication, offset.SlotName, offset, cancellationToken).ConfigureAwait(false);
                var facts = result.Facts;
                var lines = new List<string>
                {
                    $"server system_identifier {facts.ServerSystemIdentifier}, timeline {facts.ServerTimeline}, WAL flushed to {PostgresOffset.FormatLsn(facts.ServerWalPosition)}, database {facts.ServerDatabase}",
                    facts.Slot is { } slot ? $"slot {slot}" : $"slot {facts.SlotName}: does not exist",
                    $"checkpoint {offset}",
                };
                if (facts.TimelineSwitchPoint is { } switchPoint)
                {
                    lines.Add($"the checkpoint's timeline ended at {PostgresOffset.FormatLsn(switchPoint)}");
                }

                if (facts.TimelineHistoryProblem is { } problem)
                {
                    lines.Add($"timeline history: {problem}");
                }

                return Report(where, record, connection, result.Verdict.ToString(), !result.IsRefused && !result.GapAccepted, result.ErrorCode, result.Message, lines,
                    PostgresActions.TryGetValue(result.Verdict, out var action) ? action : "see docs/postgres.md");
            }
        }
    }

    private static async Task<ValidateReport> ValidateMySqlAsync(Connection connection, CheckpointRecord record, string where, CancellationToken cancellationToken)
    {
        if (record.Offset.SourceFamily is not (MySqlOffset.DefaultSourceType or MariaDbOffset.DefaultSourceType))
        {
            throw new CheckpointException(CheckpointErrorCode.MixedSourceFamilies, $"The checkpoint in {where} is a {record.SourceType} offset, not a MySQL/MariaDB one: validate it against a PostgreSQL server (--server-postgres).");
        }

        var dataSource = new MySqlDataSource(connection.ConnectionString);
        await using (dataSource.ConfigureAwait(false))
        {
            var result = await new MySqlResumeValidator(dataSource).ValidateAsync(record.Offset, cancellationToken).ConfigureAwait(false);
            var lines = new List<string> { $"server {result.Server.Describe()}", $"checkpoint {record.Offset}" };
            if (result.PurgedGtids is { } purged)
            {
                lines.Add($"purged GTIDs still needed: {purged}");
            }

            if (result.UnknownGtids is { } unknown)
            {
                lines.Add($"GTIDs the server never executed: {unknown}");
            }

            return Report(where, record, connection, result.Verdict.ToString(), !result.IsRefused && !result.GapAccepted, result.ErrorCode, result.Message, lines,
                MySqlActions.TryGetValue(result.Verdict, out var action) ? action : "see docs/mysql.md");
        }
    }

    // Safe only when the default (fail-closed) policy lets the consumer resume without a gap.
    private static ValidateReport Report(
        string where, CheckpointRecord record, Connection connection, string verdict, bool safe, CheckpointErrorCode? errorCode, string message, List<string> facts, string action) => new()
    {
        Where = where,
        Checkpoint = record.Offset.ToString(),
        CommittedEventCount = record.CommittedEventCount,
        Server = connection.Describe(),
        Verdict = verdict,
        Safe = safe,
        ErrorCode = errorCode?.ToString(),
        Message = message,
        Facts = facts,
        Action = action,
    };
}
