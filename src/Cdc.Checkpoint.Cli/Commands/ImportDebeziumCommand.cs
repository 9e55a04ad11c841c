using System.CommandLine;
using Cdc.Checkpoint.Cli.Debezium;
using Cdc.Checkpoint.Cli.Output;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Cli.Commands;

/// <summary>
/// <c>import-debezium (DIR | --postgres/--mysql … --name N) --offset FILE</c>: seed a typed checkpoint equivalent to a
/// Debezium connector's stored offset, audited, refusing whatever cannot be mapped exactly.
/// </summary>
internal static class ImportDebeziumCommand
{
    /// <summary>The largest offset document read (Debezium offsets are a few hundred bytes).</summary>
    private const int MaxOffsetBytes = 1024 * 1024;

    public static Command Create(Terminal terminal)
    {
        var directory = new Argument<string?>("DIR") { Description = "The checkpoint directory to seed (or address a table row with --postgres/--mysql and --name).", Arity = ArgumentArity.ZeroOrOne };
        var table = new TableOptions();
        var offset = new Option<string>("--offset")
        {
            Description = "The Debezium offset: a file holding the offset value (JSON object) or the offsets topic's [key, value] pair; '-' reads standard input.",
            HelpName = "FILE",
            Required = true,
        };
        var source = new Option<string?>("--source") { Description = "postgres, mysql or mariadb (default: told from the offset's fields).", HelpName = "postgres|mysql|mariadb" };
        source.AcceptOnlyFromAmong("postgres", "mysql", "mariadb");
        var slot = new Option<string?>("--slot") { Description = "PostgreSQL: the connector's replication slot (its slot.name; Debezium's default is 'debezium').", HelpName = "NAME" };
        var database = new Option<string?>("--database") { Description = "PostgreSQL: the database the slot decodes (the connector's database.dbname), recorded with the offset.", HelpName = "NAME" };
        var connector = new Option<string?>("--connector") { Description = "Refuse an offset whose [key, value] key names another connector.", HelpName = "NAME" };
        var ignore = new Option<string[]>("--ignore-field") { Description = "A field of the offset this tool does not know and that you have checked does not move the position (repeatable).", HelpName = "FIELD", AllowMultipleArgumentsPerToken = false };
        var count = NumberOption.Plain<ulong>("--count", "The committed event count to record (default 0: Debezium keeps none).");
        var createDirectory = new Option<bool>("--create-directory") { Description = "Create DIR (mode 0700) when it does not exist; its parent must exist." };
        var dryRun = new Option<bool>("--dry-run") { Description = "Show the mapping and write nothing." };
        var json = CommonOptions.Json();
        var command = new Command(
            "import-debezium",
            "Seed a checkpoint (directory or table row) equivalent to a Debezium connector's stored offset (PostgreSQL lsn/lsn_commit/lsn_proc…, MySQL/MariaDB file/pos/gtids/event/row…), audited. "
            + "Refuses, naming the field, an offset it cannot map exactly: a snapshot in progress, a PostgreSQL offset inside a transaction, several MariaDB GTIDs of one domain, an unknown field. "
            + "Refuses to overwrite an existing different checkpoint (use rewind). Stop the connector first; see docs/migrating-from-debezium.md.")
        {
            directory, offset, source, slot, database, connector, ignore, count, createDirectory, dryRun, json,
        };
        table.AddTo(command);
        table.RequireDirectoryOrTable(command, directory);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var origin = parseResult.GetRequiredValue(offset);
            var text = await ReadOffsetAsync(origin, cancellationToken).ConfigureAwait(false);
            var settings = new DebeziumImportSettings(
                parseResult.GetValue(source),
                parseResult.GetValue(slot),
                parseResult.GetValue(database),
                parseResult.GetValue(connector),
                (parseResult.GetValue(ignore) ?? []).ToHashSet(StringComparer.Ordinal));
            var mapped = DebeziumOffset.Map(text, origin == "-" ? "from standard input" : $"'{origin}'", settings);
            var reason = $"import-debezium from {(origin == "-" ? "standard input" : Path.GetFullPath(origin))}{(mapped.ConnectorName is null ? string.Empty : $" (connector {mapped.ConnectorName})")}";
            var target = parseResult.GetValue(directory) is { } dir
                ? await ImportToDirectoryAsync(dir, mapped.Offset, parseResult.GetValue(count), reason, parseResult.GetValue(createDirectory), parseResult.GetValue(dryRun), cancellationToken).ConfigureAwait(false)
                : await ImportToTableAsync(table, parseResult, mapped.Offset, parseResult.GetValue(count), reason, parseResult.GetValue(dryRun), cancellationToken).ConfigureAwait(false);
            var report = new ImportReport
            {
                Target = target.Where,
                SourceType = mapped.Offset.SourceType,
                Offset = mapped.Offset.ToString(),
                OffsetJson = mapped.Offset.ToJsonElement(),
                CommittedEventCount = parseResult.GetValue(count),
                Connector = mapped.ConnectorName,
                Server = mapped.ServerName,
                Facts = mapped.Facts,
                Written = target.Written,
                Note = target.Note,
            };
            if (parseResult.GetValue(json))
            {
                CommonOptions.WriteJson(terminal, report, CliJsonContext.Default.ImportReport);
            }
            else
            {
                terminal.Line($"{(report.Written ? "Imported" : "Would import")} {report.Offset} (count {report.CommittedEventCount}) into {report.Target}");
                foreach (var fact in report.Facts)
                {
                    terminal.Line($"  {fact}");
                }

                if (report.Note is not null)
                {
                    terminal.Line(report.Note);
                }
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static async Task<string> ReadOffsetAsync(string origin, CancellationToken cancellationToken)
    {
        if (origin == "-")
        {
            var buffer = new char[MaxOffsetBytes + 1];
            var read = await Console.In.ReadBlockAsync(buffer.AsMemory(), cancellationToken).ConfigureAwait(false);
            return read > MaxOffsetBytes
                ? throw new CheckpointException(CheckpointErrorCode.RecordTooLarge, $"The Debezium offset on standard input is larger than {MaxOffsetBytes} bytes; it is not an offset. Nothing was written.")
                : new string(buffer, 0, read);
        }

        var info = new FileInfo(origin);
        if (!info.Exists)
        {
            throw new CheckpointException(CheckpointErrorCode.DirectoryNotFound, $"Debezium offset file '{info.FullName}' does not exist. Export the connector's offset into a file first (docs/migrating-from-debezium.md). Nothing was written.") { Path = info.FullName };
        }

        if (info.Length > MaxOffsetBytes)
        {
            throw new CheckpointException(CheckpointErrorCode.RecordTooLarge, $"Debezium offset file '{info.FullName}' is {info.Length} bytes; an offset is a few hundred. Nothing was written.") { Path = info.FullName };
        }

        return await File.ReadAllTextAsync(info.FullName, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<(string Where, bool Written, string? Note)> ImportToDirectoryAsync(
        string directory, CheckpointOffset offset, ulong count, string reason, bool createDirectory, bool dryRun, CancellationToken cancellationToken)
    {
        var full = Path.GetFullPath(directory);
        var path = Path.Combine(full, CheckpointFileNames.ForRecord(offset.SourceType));
        if (!(createDirectory && !Directory.Exists(full) && !File.Exists(full)))
        {
            var scan = Reading.CheckpointDirectoryScan.Read(full);
            MutationGuard.EnsureWritable(scan, "import");
            MutationGuard.EnsureFamily(scan, offset, "import");
            var existing = scan.ReadableRecords.FirstOrDefault(r => r.SourceType == offset.SourceType);
            if (existing is not null)
            {
                if (existing.Offset.Equals(offset) && existing.CommittedEventCount == count)
                {
                    return (path, false, "The record already holds this offset; nothing was written.");
                }

                throw Existing(path, existing, offset);
            }
        }
        else if (Path.GetDirectoryName(full) is not { } parent || !Directory.Exists(parent))
        {
            throw new CheckpointException(CheckpointErrorCode.DirectoryNotFound, $"Cannot create '{full}': its parent directory does not exist. Nothing was written.") { Path = full };
        }

        if (dryRun)
        {
            return (path, false, "Dry run: nothing was written.");
        }

        var checkpoint = new FileCheckpoint(full, new FileCheckpointOptions { Codecs = Reading.CheckpointDirectoryScan.Codecs, CreateDirectory = createDirectory });
        await using (checkpoint.ConfigureAwait(false))
        {
            // RewindAsync rather than SaveAsync: it appends the audit line (who, when, "(none)" → the imported offset, why).
            await checkpoint.RewindAsync(offset, count, reason, cancellationToken).ConfigureAwait(false);
        }

        return (path, true, $"Audited in {Path.Combine(full, FileCheckpoint.AuditLogFileName)}. Next: cdc-checkpoint validate '{full}' --server-… (docs/migrating-from-debezium.md).");
    }

    private static async Task<(string Where, bool Written, string? Note)> ImportToTableAsync(
        TableOptions options, ParseResult parseResult, CheckpointOffset offset, ulong count, string reason, bool dryRun, CancellationToken cancellationToken)
    {
        var table = options.Open(parseResult, TableStore.AllCodecs);
        await using (table.ConfigureAwait(false))
        {
            var existing = await table.Store.LoadAsync(offset.SourceType, cancellationToken).ConfigureAwait(false);
            if (existing is not null)
            {
                if (existing.Offset.Equals(offset) && existing.CommittedEventCount == count)
                {
                    return (table.Describe(), false, "The row already holds this offset; nothing was written.");
                }

                throw Existing(table.Describe(), existing, offset);
            }

            if (dryRun)
            {
                return (table.Describe(), false, "Dry run: nothing was written.");
            }

            // RewindAsync writes the audit row in the same transaction; it takes the name's fencing epoch, so a consumer
            // still running on it is fenced off (it should not be: stop it before importing).
            await table.Store.RewindAsync(offset, count, reason, cancellationToken).ConfigureAwait(false);
            return (table.Describe(), true, $"Audited in the store's audit table. Next: cdc-checkpoint validate --{(table.Connection.Provider == Provider.Postgres ? "postgres" : "mysql")} … --name {table.Name} --server-… (docs/migrating-from-debezium.md).");
        }
    }

    private static CheckpointException Existing(string where, CheckpointRecord existing, CheckpointOffset offset) =>
        MutationGuard.Refusal(
            CheckpointErrorCode.ConflictingOffset,
            null,
            $"Refusing to import into {where}: it already holds {existing.Offset} (count {existing.CommittedEventCount}), not {offset}. An import never overwrites a checkpoint; if replacing it is intended, use `cdc-checkpoint rewind … --reason`.");
}
