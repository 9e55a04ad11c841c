using System.CommandLine;
using System.Globalization;
using Cdc.Checkpoint.Cli.Output;
using Cdc.Checkpoint.Cli.Reading;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.Offsets;
using Spectre.Console;

namespace Cdc.Checkpoint.Cli.Commands;

/// <summary><c>inspect DIR [--json]</c>: every record of a checkpoint directory, read-only.</summary>
internal static class InspectCommand
{
    public static Command Create(Terminal terminal) => CommonOptions.DirectoryOrTableCommand(
        "inspect",
        "Show every record of a checkpoint directory: source type, format version, committed count, typed offset, file mode, sequence, save time and checksum (verified), and the lease holder. "
            + "Read-only: takes no lease and changes nothing. A record that cannot be used is shown with its problem; the exit code is then 1.",
        (directory, json) => Run(terminal, directory, json),
        (table, parseResult, json, cancellationToken) => TableCommands.InspectAsync(terminal, table, parseResult, json, cancellationToken));

    private static int Run(Terminal terminal, string directory, bool json)
    {
        if (CheckpointLogCli.TryRun(terminal, directory, json, verify: false) is { } logExit)
        {
            return logExit;
        }

        var scan = CheckpointDirectoryScan.Read(directory);
        var report = BuildReport(scan);
        if (json)
        {
            CommonOptions.WriteJson(terminal, report, CliJsonContext.Default.InspectReport);
        }
        else
        {
            Render(terminal, report, scan.Lease);
        }

        // A lease file that cannot be probed (a FIFO, a link, another user's file) stops every consumer, like a bad record.
        return report.Problems.Count == 0 && scan.LeaseError is null && report.Records.All(r => r.Error is null) ? ExitCodes.Success : ExitCodes.RefusedOrInvalid;
    }

    internal static InspectReport BuildReport(CheckpointDirectoryScan scan)
    {
        var records = scan.Records.Select(file => file.Record is { } record
            ? new RecordReport
            {
                File = file.FileName,
                Path = file.Path,
                SourceType = record.SourceType,
                SourceFamily = SourceTypeName.FamilyOf(record.SourceType),
                FormatVersion = record.FormatVersion,
                CommittedEventCount = record.CommittedEventCount,
                Sequence = record.FormatVersion >= 2 ? record.Sequence : null,
                SavedAt = record.SavedAt,
                Crc32C = file.Checksum,
                Mode = file.Mode is { } mode ? FileModes.Format(mode) : null,
                Offset = record.Offset.ToString(),
                OffsetJson = record.Offset.ToJsonElement(),
                Warning = LegacyValues.Describe(record),
            }
            : new RecordReport
            {
                File = file.FileName,
                Path = file.Path,
                SourceType = file.SourceType,
                Mode = file.Mode is { } badMode ? FileModes.Format(badMode) : null,
                LinkTarget = file.LinkTarget,
                Error = new ErrorReport { Code = file.Problem!.ErrorCode.ToString(), Message = file.Problem.Message },
            }).ToList();

        var problems = new List<string>();
        if (scan.MixedFamiliesError is { } mixed)
        {
            problems.Add(mixed.Message);
        }

        return new InspectReport
        {
            Directory = scan.DirectoryPath,
            DirectoryMode = FileModes.Format(scan.DirectoryMode),
            Lease = LeaseCommand.BuildReport(scan.Lease, scan.LeaseError),
            Records = records,
            Problems = problems,
        };
    }

    private static void Render(Terminal terminal, InspectReport report, LeaseStatus? lease)
    {
        terminal.Line($"Checkpoint directory {report.Directory} (mode {report.DirectoryMode})");
        terminal.Line($"Lease: {report.Lease.Summary}");
        if (report.Lease.Note is { } note)
        {
            terminal.Line($"       {note}");
        }

        if (lease is not null && LeaseText.DescribeRustcdcOwner(lease) is { } rustcdc)
        {
            terminal.Line($"       {rustcdc}");
        }

        if (report.Records.Count == 0)
        {
            terminal.Line("No checkpoint records (checkpoint_*.json): a consumer would start this source afresh.");
        }
        else
        {
            var table = new Table().Border(TableBorder.Rounded);
            foreach (var header in new[] { "file", "source", "version", "count", "sequence", "saved at", "crc32c", "mode", "offset" })
            {
                table.AddColumn(new TableColumn(Terminal.Cell(header)));
            }

            foreach (var record in report.Records)
            {
                table.AddRow(
                    Terminal.Cell(record.File),
                    Terminal.Cell(record.SourceType),
                    Terminal.Cell(record.FormatVersion?.ToString(CultureInfo.InvariantCulture) is { } v ? (v == "1" ? "1 (rustcdc)" : v) : "?"),
                    Terminal.Cell(record.CommittedEventCount?.ToString(CultureInfo.InvariantCulture) ?? "?"),
                    Terminal.Cell(record.Sequence?.ToString(CultureInfo.InvariantCulture) ?? "-"),
                    Terminal.Cell(record.SavedAt?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) ?? "-"),
                    Terminal.Cell(record.Crc32C is { } crc ? $"{crc} ok" : record.Error is null ? "none" : "?"),
                    Terminal.Cell(record.LinkTarget is { } target ? $"link -> {target}" : record.Mode ?? "?"),
                    Terminal.Cell(record.Offset ?? $"UNUSABLE ({record.Error!.Code})"));
            }

            terminal.Write(table);
        }

        foreach (var record in report.Records.Where(r => r.Warning is not null))
        {
            terminal.Line($"Warning: {record.File}: {record.Warning}");
        }

        var unusable = report.Records.Where(r => r.Error is not null).ToList();
        if (unusable.Count > 0 || report.Problems.Count > 0)
        {
            terminal.Line("Problems:");
            foreach (var record in unusable)
            {
                terminal.Line($"  {record.File}: {record.Error!.Message}");
            }

            foreach (var problem in report.Problems)
            {
                terminal.Line($"  {problem}");
            }
        }
    }
}
