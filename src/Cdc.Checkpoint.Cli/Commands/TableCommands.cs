using System.CommandLine;
using System.Globalization;
using Cdc.Checkpoint.Cli.Output;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Tables;
using Spectre.Console;

namespace Cdc.Checkpoint.Cli.Commands;

/// <summary>
/// inspect, verify, lease, seed and rewind for a row of the PostgreSQL or MySQL/MariaDB table store. Everything goes
/// through the stores' public API: reads never lock, acquire or write; seed and rewind check the progress guards from
/// outside first (so a refusal changes neither the row nor the fence), then write through the store, which takes a new
/// fencing epoch and repeats every check under its lock.
/// </summary>
internal static class TableCommands
{
    private const int AuditRowsShown = 10;

    public static async Task<int> InspectAsync(Terminal terminal, TableOptions options, ParseResult parseResult, bool json, CancellationToken cancellationToken)
    {
        var table = options.Open(parseResult, TableStore.AllCodecs);
        await using (table.ConfigureAwait(false))
        {
            var report = await ReadAsync(table, cancellationToken).ConfigureAwait(false);
            if (json)
            {
                CommonOptions.WriteJson(terminal, report, CliJsonContext.Default.TableInspectReport);
                return ExitCodes.Success;
            }

            terminal.Line($"Checkpoint '{report.Name}' in {report.Table} on {report.Server}");
            terminal.Line($"Fence: {DescribeFence(report.Fence)}");
            if (report.Records.Count == 0)
            {
                terminal.Line("No rows: nothing was saved under this name (a consumer starts afresh).");
            }
            else
            {
                var grid = new Table().Border(TableBorder.Rounded);
                foreach (var header in new[] { "source", "version", "count", "sequence", "epoch", "saved at", "offset" })
                {
                    grid.AddColumn(new TableColumn(Terminal.Cell(header)));
                }

                foreach (var r in report.Records)
                {
                    grid.AddRow(
                        Terminal.Cell(r.SourceType),
                        Terminal.Cell(r.FormatVersion.ToString(CultureInfo.InvariantCulture)),
                        Terminal.Cell(r.CommittedEventCount.ToString(CultureInfo.InvariantCulture)),
                        Terminal.Cell(r.Sequence.ToString(CultureInfo.InvariantCulture)),
                        Terminal.Cell(r.Epoch.ToString(CultureInfo.InvariantCulture)),
                        Terminal.Cell(r.SavedAt?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) ?? "?"),
                        Terminal.Cell(r.Offset));
                }

                terminal.Write(grid);
            }

            foreach (var entry in report.Audit)
            {
                terminal.Line($"audit #{entry.Id} {entry.At.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)} {entry.SourceType} epoch {entry.Epoch}: {entry.OldOffset ?? "(none)"} (count {entry.OldCount?.ToString(CultureInfo.InvariantCulture) ?? "-"}) -> {entry.NewOffset} (count {entry.NewCount}) reason={entry.Reason}");
            }

            return ExitCodes.Success;
        }
    }

    public static async Task<int> VerifyAsync(Terminal terminal, TableOptions options, ParseResult parseResult, bool json, CancellationToken cancellationToken)
    {
        var table = options.Open(parseResult, TableStore.AllCodecs);
        await using (table.ConfigureAwait(false))
        {
            // ListAsync validates every row (format version, offset JSON through its codec) and throws for one it
            // cannot trust: that is reported as the one-line error with exit 1.
            var report = await ReadAsync(table, cancellationToken).ConfigureAwait(false);
            var problems = new List<string>();
            var notes = new List<string>();
            if (report.Records.Count == 0)
            {
                notes.Add("no rows under this name: a consumer starts afresh.");
            }
            else if (report.Fence is null)
            {
                problems.Add($"rows exist but the fence table has no row for '{report.Name}': they were not written by the store (hand-written SQL?). Save through the store, or seed with `cdc-checkpoint seed`.");
            }

            foreach (var record in report.Records)
            {
                if (report.Fence is { } fence && record.Epoch > fence.Epoch)
                {
                    problems.Add($"row {record.SourceType} was written by epoch {record.Epoch}, above the fence's epoch {fence.Epoch}: the fence row was reset or edited. Acquire again through the store before resuming.");
                }
            }

            var families = report.Records.Select(r => SourceTypeName.FamilyOf(r.SourceType)).Distinct(StringComparer.Ordinal).ToList();
            if (families.Count > 1)
            {
                problems.Add($"rows of several source families under one name ({string.Join(", ", families)}): use one checkpoint name per source.");
            }

            var verify = new TableVerifyReport { Table = report.Table, Name = report.Name, Server = report.Server, Ok = problems.Count == 0, Problems = problems, Notes = notes };
            if (json)
            {
                CommonOptions.WriteJson(terminal, verify, CliJsonContext.Default.TableVerifyReport);
            }
            else
            {
                foreach (var problem in problems)
                {
                    terminal.Line($"problem: {problem}");
                }

                foreach (var note in notes)
                {
                    terminal.Line($"note: {note}");
                }

                terminal.Line(problems.Count == 0
                    ? $"OK: checkpoint '{report.Name}' in {report.Table} ({report.Records.Count} row(s), fence {DescribeFence(report.Fence)})."
                    : $"{problems.Count} problem(s) in checkpoint '{report.Name}' in {report.Table}.");
            }

            return verify.Ok ? ExitCodes.Success : ExitCodes.RefusedOrInvalid;
        }
    }

    public static async Task<int> LeaseAsync(Terminal terminal, TableOptions options, ParseResult parseResult, bool json, CancellationToken cancellationToken)
    {
        var table = options.Open(parseResult, TableStore.AllCodecs);
        await using (table.ConfigureAwait(false))
        {
            var fence = ToReport(await table.ReadFenceAsync(cancellationToken).ConfigureAwait(false));
            if (json)
            {
                CommonOptions.WriteJson(terminal, new TableLeaseReport { Table = table.Table, Name = table.Name, Server = table.Connection.Describe(), Fence = fence }, CliJsonContext.Default.TableLeaseReport);
            }
            else
            {
                terminal.Line($"Checkpoint '{table.Name}' in {table.Table} on {table.Connection.Describe()}: {DescribeFence(fence)}");
            }

            return ExitCodes.Success;
        }
    }

    public static async Task<int> SeedAsync(Terminal terminal, TableOptions options, ParseResult parseResult, OffsetInput input, ulong count, CancellationToken cancellationToken)
    {
        var offset = OffsetOptions.Build(input);
        var table = options.Open(parseResult, TableStore.AllCodecs);
        await using (table.ConfigureAwait(false))
        {
            var existing = await PreCheckAsync(table, offset, "seed", cancellationToken).ConfigureAwait(false);
            if (ProgressGuard.Check(table.Describe(), existing, offset, count) == ProgressGuard.Verdict.Repeat)
            {
                terminal.Line($"{table.Describe()} already holds {offset} (count {count}); nothing was written.");
                return ExitCodes.Success;
            }

            await table.Store.SaveAsync(offset, count, cancellationToken).ConfigureAwait(false);
            terminal.Line($"Seeded {table.Describe()}:");
            terminal.Line($"  was {(existing is null ? "(no row)" : $"{existing.Offset} (count {existing.CommittedEventCount})")}");
            terminal.Line($"  now {offset} (count {count})");
            terminal.Line("  a new fencing epoch was taken: a consumer still writing this name is fenced off (its next save fails with StaleEpoch).");
            return ExitCodes.Success;
        }
    }

    public static async Task<int> RewindAsync(Terminal terminal, TableOptions options, ParseResult parseResult, OffsetInput input, ulong count, string reason, CancellationToken cancellationToken)
    {
        var offset = OffsetOptions.Build(input);
        var table = options.Open(parseResult, TableStore.AllCodecs);
        await using (table.ConfigureAwait(false))
        {
            var existing = await PreCheckAsync(table, offset, "rewind", cancellationToken).ConfigureAwait(false)
                ?? throw MutationGuard.Refusal(
                    CheckpointErrorCode.DirectoryNotFound,
                    null,
                    $"Refusing to rewind: {table.Describe()} has no {offset.SourceType} row, so there is nothing to move back. Use `cdc-checkpoint seed` to create one.");
            if (existing.CommittedEventCount == count && existing.Offset.Equals(offset))
            {
                terminal.Line($"{table.Describe()} already holds {offset} (count {count}); nothing was written and nothing was audited.");
                return ExitCodes.Success;
            }

            var order = offset.CompareTo(existing.Offset);
            await table.Store.RewindAsync(offset, count, reason, cancellationToken).ConfigureAwait(false);
            terminal.Line($"Rewound {table.Describe()}:");
            terminal.Line($"  was {existing.Offset} (count {existing.CommittedEventCount})");
            terminal.Line($"  now {offset} (count {count})");
            terminal.Line($"  the new offset is {RewindCommand.Describe(order)} the old one");
            terminal.Line("  audited in the store's audit table (cdc-checkpoint inspect shows it); a consumer still writing this name is fenced off.");
            return ExitCodes.Success;
        }
    }

    /// <summary>Reads the row and refuses, before anything is written, a row of another family under the same name.</summary>
    private static async Task<CheckpointRecord?> PreCheckAsync(TableStore table, CheckpointOffset offset, string verb, CancellationToken cancellationToken)
    {
        var rows = await table.ListAsync(cancellationToken).ConfigureAwait(false);
        var other = rows.FirstOrDefault(r => !string.Equals(SourceTypeName.FamilyOf(r.SourceType), offset.SourceFamily, StringComparison.Ordinal));
        if (other is not null)
        {
            throw MutationGuard.Refusal(
                CheckpointErrorCode.MixedSourceFamilies,
                null,
                $"Refusing to {verb} a {offset.SourceType} offset in {table.Describe()}: it already holds a {other.SourceType} row. Use one checkpoint name per source family.");
        }

        return rows.FirstOrDefault(r => r.SourceType == offset.SourceType);
    }

    private static async Task<TableInspectReport> ReadAsync(TableStore table, CancellationToken cancellationToken)
    {
        var fence = await table.ReadFenceAsync(cancellationToken).ConfigureAwait(false);
        var rows = await table.ListAsync(cancellationToken).ConfigureAwait(false);
        var audit = await table.ReadAuditAsync(AuditRowsShown, cancellationToken).ConfigureAwait(false);
        return new TableInspectReport
        {
            Table = table.Table,
            Name = table.Name,
            Server = table.Connection.Describe(),
            Fence = ToReport(fence),
            Records = [.. rows.Select(r => new TableRecordReport
            {
                SourceType = r.SourceType,
                FormatVersion = r.FormatVersion,
                CommittedEventCount = r.CommittedEventCount,
                Sequence = r.Sequence,
                Epoch = r.Epoch,
                SavedAt = r.SavedAt,
                Offset = r.Offset.ToString(),
                OffsetJson = r.Offset.ToJsonElement(),
            })],
            Audit = [.. audit.Select(a => new TableAuditReport
            {
                Id = a.Id,
                SourceType = a.SourceType,
                OldOffset = a.OldOffsetJson,
                OldCount = a.OldCount,
                NewOffset = a.NewOffsetJson,
                NewCount = a.NewCount,
                Epoch = a.Epoch,
                Reason = a.Reason,
                At = a.At,
            })],
        };
    }

    private static TableFenceReport? ToReport(CheckpointFence? fence) =>
        fence is null ? null : new TableFenceReport { Epoch = fence.Epoch, Owner = fence.Owner, AcquiredAt = fence.AcquiredAt };

    private static string DescribeFence(TableFenceReport? fence) =>
        fence is null
            ? "never acquired (no owner has written this name)"
            : $"epoch {fence.Epoch}, acquired by {fence.Owner} at {fence.AcquiredAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)} (a table store fences rather than leases: the next owner to acquire the name fences this one off)";
}
